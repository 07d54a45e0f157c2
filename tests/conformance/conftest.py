"""Shared helpers for the differential tests against the reference engine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "conformance"


def shared_workspaces() -> list[Path]:
    """Every example and fixture workspace folder under ../shared/conformance."""
    if not SHARED.is_dir():
        return []
    found = []
    for group in ("examples", "fixtures"):
        for path in sorted((SHARED / group).rglob("*")):
            if path.is_dir() and (
                (path / "rototo-workspace.toml").exists() or (path / ".gitkeep").exists()
            ):
                found.append(path)
    return found


def expected_for(workspace: Path) -> dict[str, Any]:
    """The recorded reference answer for one shared workspace (expected-oracle.json)."""
    for group in ("examples", "fixtures"):
        base = SHARED / group
        if workspace.is_relative_to(base):
            recorded: dict[str, Any] = json.loads((base / "expected-oracle.json").read_text())
            return dict(recorded[workspace.relative_to(base).as_posix()])
    raise KeyError(workspace)


def shared_workspace_params() -> list[Any]:
    """`shared_workspaces()` as parameters; one skipped parameter naming the data when absent.

    An empty list would make pytest skip with "got empty parameter set", which does not say
    what is missing.
    """
    found = shared_workspaces()
    if not found:
        reason = f"conformance data not present at {SHARED}"
        return [pytest.param(None, id="no-shared-data", marks=pytest.mark.skip(reason=reason))]
    return [pytest.param(path, id=path.name) for path in found]


def require_shared() -> None:
    if not SHARED.is_dir():
        pytest.skip(f"conformance data not present at {SHARED}")


def diagnostic_key(item: dict[str, Any]) -> tuple[str, str, str, str, str, str, str]:
    """Everything about a diagnostic that must match the reference: all but the wording."""
    location = item["location"]
    return (
        item["rule"],
        item["severity"],
        item["stage"],
        location["path"],
        json.dumps(location.get("range"), sort_keys=True),
        json.dumps(item.get("target"), sort_keys=True),
        json.dumps([r["location"] for r in item.get("related", [])], sort_keys=True),
    )
