"""Random contexts: resolution outcomes and error messages agree with the reference.

Contexts mix the fields the workspaces' request contexts declare with values of every JSON
type, present or absent, so validation failures, missing paths and type mismatches all
occur; each is resolved for every variable and qualifier, with and without validation.
Two generators: a seeded `random` one over rototo's examples too, and a hypothesis one
over the project's own examples (both with validation on and off for every context).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conformance import differential
from tests.conformance.conftest import SHARED
from tests.support import oracle

pytestmark = pytest.mark.oracle

REPO = Path(__file__).resolve().parents[2]
SCALARS: list[Any] = [
    "enterprise",
    "growth",
    "free",
    "premium",
    "admin",
    "de",
    "DE",
    "prod",
    "staging",
    "",
    "acct-9001",
    "eu-central-1",
    0,
    1,
    12,
    100,
    250,
    -1,
    0.5,
    249.99,
    True,
    False,
    None,
    [],
    ["beta"],
    {"nested": 1},
]
FIELDS: dict[str, list[str] | None] = {
    "account": ["id", "plan", "region", "seats", "tags"],
    "user": ["id", "tier", "role", "language", "email_domain"],
    "request": ["country"],
    "cart": ["total_usd"],
    "device": ["platform"],
    "service": ["lane"],
    "lane": None,
}


def random_context(rng: random.Random) -> dict[str, Any]:
    context: dict[str, Any] = {}
    for name, children in FIELDS.items():
        if rng.random() < 0.3:
            continue
        if children is None:
            context[name] = rng.choice(SCALARS)
        else:
            context[name] = {c: rng.choice(SCALARS) for c in children if rng.random() < 0.6}
    return context


def _optional_fields(names: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional={name: st.sampled_from(SCALARS) for name in names})


contexts = st.fixed_dictionaries(
    {},
    optional={
        name: st.sampled_from(SCALARS) if children is None else _optional_fields(children)
        for name, children in FIELDS.items()
    },
)
PROJECT_EXAMPLES = sorted(
    path.parent for path in (REPO / "examples").glob("*/rototo-workspace.toml")
)


def _requests(workspace: Path, context: Any, validate: bool) -> list[dict[str, Any]]:
    return [
        {
            "op": op,
            "source": str(workspace),
            "id": target,
            "context": context,
            "validate_context": validate,
        }
        for op, directory in (
            ("resolve_variable", "variables"),
            ("resolve_qualifier", "qualifiers"),
        )
        for target in differential.ids(workspace, directory, ".toml")
    ]


def workspaces() -> list[Path]:
    found = [REPO / "examples" / "account-config"]
    for name in ("basic", "console-runtime", "production"):
        if (SHARED / "examples" / name).is_dir():
            found.append(SHARED / "examples" / name)
    return found


@pytest.mark.parametrize("workspace", workspaces(), ids=lambda path: path.name)
def test_random_contexts_match_reference(workspace: Path) -> None:
    oracle.require()
    rng = random.Random(f"rototo:{workspace.name}")
    requests: list[dict[str, Any]] = []
    # The stored samples (which mostly resolve) and random ones (which mostly fail).
    contexts = differential.samples(workspace) + [random_context(rng) for _ in range(30)]
    for context in contexts:
        requests.extend(_requests(workspace, context, rng.random() < 0.6))
    theirs = oracle.ask(requests, timeout=600)
    ours = differential.ask_ours(requests)
    mismatches = [
        (request["id"], request["context"], their, our)
        for request, their, our in zip(requests, theirs, ours, strict=True)
        if their != our
    ]
    assert mismatches == []
    assert any("ok" in answer for answer in ours)
    assert any("error" in answer for answer in ours)


@pytest.mark.parametrize("workspace", PROJECT_EXAMPLES, ids=lambda path: path.name)
@settings(
    max_examples=3,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(batch=st.lists(contexts, min_size=40, max_size=40))
def test_hypothesis_contexts_match_reference(workspace: Path, batch: list[Any]) -> None:
    oracle.require()
    requests = [
        request
        for context in batch
        for validate in (True, False)
        for request in _requests(workspace, context, validate)
    ]
    assert requests, f"{workspace} declares no variables or qualifiers"
    theirs = oracle.ask(requests, timeout=600)
    ours = differential.ask_ours(requests)
    mismatches = [
        (request["id"], request["context"], request["validate_context"], their, our)
        for request, their, our in zip(requests, theirs, ours, strict=True)
        if their != our
    ]
    assert mismatches == []
