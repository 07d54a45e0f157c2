"""The project's own example workspaces: lint-clean, and answered like the reference does.

These do not need ../shared; only the reference engine's environment.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rototo_operator.engine.lint import lint_tree
from tests.conformance import differential
from tests.support import oracle

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
WORKSPACES = sorted(path.parent for path in EXAMPLES.glob("*/rototo-workspace.toml"))
# A layered example only lints whole once staged with its parent (the differential test).
STANDALONE = [w for w in WORKSPACES if "extends" not in (w / "rototo-workspace.toml").read_text()]


def test_examples_exist() -> None:
    assert EXAMPLES / "account-config" in WORKSPACES


@pytest.mark.parametrize("workspace", STANDALONE, ids=[path.name for path in STANDALONE])
def test_example_is_lint_clean(workspace: Path) -> None:
    assert [d.headline() for d in lint_tree(workspace)] == []


@pytest.mark.oracle
@pytest.mark.parametrize("workspace", WORKSPACES, ids=[path.name for path in WORKSPACES])
def test_example_matches_reference(workspace: Path) -> None:
    oracle.require()
    requests = differential.questions(workspace, loads=True)
    assert differential.differences(requests) == []
    answers = differential.ask_ours(requests)
    assert answers[0] == {"ok": answers[0]["ok"]}
    assert answers[0]["ok"]["diagnostics"] == []
    assert answers[1] == {"ok": True}


@pytest.mark.oracle
def test_demo_resolution() -> None:
    """The demo's question: enterprise plan limits from the account-config example."""
    oracle.require()
    request = {
        "op": "resolve_variable",
        "source": str(EXAMPLES / "account-config"),
        "id": "account-limits",
        "context": {"account": {"plan": "enterprise"}},
    }
    theirs = oracle.ask_one(request)
    ours = differential.ask_ours([request])[0]
    assert ours == theirs
    assert ours["ok"]["source"] == {
        "kind": "catalog",
        "catalog": "account-limit-profile",
        "value": "enterprise",
    }
