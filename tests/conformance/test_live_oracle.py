"""Differential tests: our engine and the reference engine answer the same questions.

For every shared workspace (rototo's examples and fixtures): lint diagnostics must agree on
rule, severity, stage, path and range; load must succeed or fail alike; and every variable
and qualifier, resolved against every stored request context sample and the empty context,
with and without context validation, must give the same value and source (or fail alike).
The reference runs once for the whole batch, in its own process.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conformance import differential
from tests.conformance.conftest import (
    expected_for,
    require_shared,
    shared_workspace_params,
    shared_workspaces,
)
from tests.support import oracle

pytestmark = pytest.mark.oracle
WORKSPACES = shared_workspaces()


@pytest.fixture(scope="module")
def answers() -> dict[str, list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]]]:
    require_shared()
    oracle.require()
    requests: list[dict[str, Any]] = []
    for workspace in WORKSPACES:
        loads = expected_for(workspace)["load"] == "ok"
        requests.extend(differential.questions(workspace, loads=loads))
    theirs = oracle.ask(requests, timeout=600)
    mine = differential.ask_ours(requests)
    grouped: dict[str, list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]]] = {}
    for request, their, my in zip(requests, theirs, mine, strict=True):
        grouped.setdefault(request["source"], []).append((request, their, my))
    return grouped


@pytest.mark.parametrize("workspace", shared_workspace_params())
def test_same_answers_as_reference(
    workspace: Path,
    answers: dict[str, list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]]],
) -> None:
    rows = answers[str(workspace)]
    mismatches = [
        (request, their, my)
        for request, their, my in rows
        if differential.comparable(request, their) != differential.comparable(request, my)
    ]
    assert not mismatches, mismatches[:3]
    # The batch really exercised resolution where there is something to resolve.
    resolvable = differential.ids(workspace, "variables", ".toml") or differential.ids(
        workspace, "qualifiers", ".toml"
    )
    if expected_for(workspace)["load"] == "ok" and resolvable:
        assert any(request["op"].startswith("resolve") for request, _, _ in rows)
