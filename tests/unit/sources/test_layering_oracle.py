"""Layering differential: our projection must behave like the reference's layered load.

The reference engine resolves a layered local workspace itself; we stage the same source,
copy our projection to a plain directory, and ask the reference about that directory. Any
difference in projection order, manifest handling or replacement shows up as a different
lint result or resolution.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rototo_operator.errors import SourceError
from rototo_operator.sources import Stager
from tests.support import oracle

pytestmark = [pytest.mark.oracle, pytest.mark.timeout(180)]

SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["mode", "timeout_ms"],
    "properties": {
        "mode": {"type": "string", "enum": ["primary", "fallback", "hold"]},
        "timeout_ms": {"type": "integer", "minimum": 500, "maximum": 10000},
    },
    "additionalProperties": False,
}
CONTEXT = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": True,
    "properties": {
        "task": {
            "type": "object",
            "additionalProperties": True,
            "properties": {"kind": {"type": "string"}},
        }
    },
}


def variable(default: str, *, rule: str | None = None) -> str:
    text = (
        'schema_version = 1\ndescription = "Routing policy"\n'
        f'type = "catalog:routing-policy"\n\n[resolve]\ndefault = "{default}"\n'
    )
    if rule:
        text += f'\n[[resolve.rule]]\nwhen = \'qualifier["trial"]\'\nvalue = "{rule}"\n'
    return text


def write(root: Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@pytest.fixture
def layered(tmp_path: Path) -> Path:
    """Product, customer and team layers, as in the reference's layering guide."""
    oracle.require()
    write(
        tmp_path / "product",
        {
            "rototo-workspace.toml": "schema_version = 1\n",
            "variables/routing-policy.toml": variable("product_default"),
            "catalogs/routing-policy.schema.json": json.dumps(SCHEMA),
            "catalogs/routing-policy-entries/product_default.toml": (
                'mode = "primary"\ntimeout_ms = 4000\n'
            ),
        },
    )
    write(
        tmp_path / "customer",
        {
            "rototo-workspace.toml": 'schema_version = 1\nextends = ["../product"]\n',
            "variables/routing-policy.toml": variable("customer_default"),
            "catalogs/routing-policy-entries/customer_default.toml": (
                'mode = "fallback"\ntimeout_ms = 5000\n'
            ),
        },
    )
    write(
        tmp_path / "team",
        {
            "rototo-workspace.toml": 'schema_version = 1\nextends = ["../customer"]\n',
            "variables/routing-policy.toml": variable("customer_default", rule="team_fast"),
            "catalogs/routing-policy-entries/team_fast.toml": (
                'mode = "primary"\ntimeout_ms = 2500\n'
            ),
            "qualifiers/trial.toml": (
                'schema_version = 1\ndescription = "Trial"\n'
                "when = 'context.task.kind == \"summarization\"'\n"
            ),
            "request-contexts/default.schema.json": json.dumps(CONTEXT),
        },
    )
    return tmp_path


@pytest.fixture
def stager() -> Iterator[Stager]:
    with Stager() as instance:
        yield instance


def projected_copy(stager: Stager, source: Path, dest: Path) -> Path:
    staged = stager.stage(str(source))
    shutil.copytree(staged.root, dest)
    return dest


def without_roots(answers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Lint results name the staged root directory, which differs by design."""
    for answer in answers:
        if isinstance(answer.get("ok"), dict):
            answer["ok"].pop("root", None)
    return answers


def questions(source: str) -> list[dict[str, object]]:
    asked: list[dict[str, object]] = [{"op": "lint", "source": source}]
    for kind in ("classification", "summarization"):
        asked.append(
            {
                "op": "resolve_variable",
                "source": source,
                "id": "routing-policy",
                "context": {"task": {"kind": kind}},
            }
        )
    return asked


@pytest.mark.parametrize("layer", ["product", "customer", "team"])
def test_projection_answers_like_the_reference_layered_load(
    layered: Path, stager: Stager, tmp_path: Path, layer: str
) -> None:
    ours = projected_copy(stager, layered / layer, tmp_path / f"projected-{layer}")
    reference_answers = without_roots(oracle.ask(questions(str(layered / layer))))
    our_answers = without_roots(oracle.ask(questions(str(ours))))
    assert our_answers == reference_answers
    assert all("ok" in answer for answer in our_answers), our_answers


def test_projection_of_a_broken_child_lints_like_the_reference(
    layered: Path, stager: Stager, tmp_path: Path
) -> None:
    # The team entry breaks the product's schema: the projected workspace must fail lint
    # in the same way, although the team layer alone has no schema.
    write(layered / "team", {"catalogs/routing-policy-entries/team_fast.toml": 'mode = "x"\n'})
    ours = projected_copy(stager, layered / "team", tmp_path / "projected-broken")
    reference = without_roots(oracle.ask([{"op": "lint", "source": str(layered / "team")}]))
    mine = without_roots(oracle.ask([{"op": "lint", "source": str(ours)}]))
    assert reference == mine
    assert reference[0]["ok"]["diagnostics"], "the broken entry is reported by both"


def test_graphs_the_reference_refuses_are_refused(
    layered: Path, stager: Stager, tmp_path: Path
) -> None:
    write(tmp_path / "a", {"rototo-workspace.toml": 'schema_version = 1\nextends = ["../b"]\n'})
    write(tmp_path / "b", {"rototo-workspace.toml": 'schema_version = 1\nextends = ["../a"]\n'})
    write(tmp_path / "c", {"rototo-workspace.toml": 'schema_version = 1\nextends = ["../nope"]\n'})
    for name, ours in (("a", "cycle detected"), ("c", "does not exist")):
        reference = oracle.ask([{"op": "load", "source": str(tmp_path / name)}])[0]
        assert "error" in reference, reference
        with pytest.raises(SourceError, match=ours):
            stager.stage(str(tmp_path / name))
    reference = oracle.ask([{"op": "load", "source": str(tmp_path / "a")}])[0]
    assert "cycle detected" in reference["error"]
