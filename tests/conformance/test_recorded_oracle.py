"""Our lint against what the reference recorded for rototo's own workspaces and fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from rototo_operator.engine.lint import lint_tree
from tests.conformance.conftest import (
    expected_for,
    require_shared,
    shared_workspace_params,
    shared_workspaces,
)

WORKSPACES = shared_workspaces()


@pytest.mark.parametrize("workspace", shared_workspace_params())
def test_lint_matches_recorded_rules(workspace: Path) -> None:
    require_shared()
    expected = expected_for(workspace)
    found = lint_tree(workspace)
    if "lint" not in expected:
        # The reference refuses to inspect these (manifest missing or invalid); our lint
        # reports the same problem as a manifest diagnostic instead of raising.
        assert expected["load"] == "error"
        assert [d.rule for d in found]
        assert all(d.rule.startswith("rototo/workspace-manifest-") for d in found)
        return
    # The recording keeps one row per (rule, severity, path).
    ours = {(d.rule, d.severity, d.location.path) for d in found}
    assert ours == {tuple(row) for row in expected["lint"]}


def test_shared_data_is_found() -> None:
    require_shared()
    assert len(WORKSPACES) > 50
