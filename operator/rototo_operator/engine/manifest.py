"""The workspace manifest (`rototo-workspace.toml`) contract for schema version 1.

The sources layer follows `extends` to build the projected tree; the engine only checks
the shape, with the reference's wording, so lint, `inspect` and `load` agree.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from rototo_operator.errors import WorkspaceLoadError

MANIFEST_NAME = "rototo-workspace.toml"
SUPPORTED_SCHEMA_VERSION = 1


class Manifest(BaseModel):
    """A valid manifest. Unknown top-level keys are workspace-specific metadata."""

    model_config = ConfigDict(extra="allow", frozen=True)

    schema_version: int
    extends: tuple[str, ...] = ()


def manifest_problem(data: Any) -> str | None:
    """Why a parsed manifest is not valid, or None when it is."""
    table = data if isinstance(data, dict) else {}
    version = table.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        return "workspace manifest must declare schema_version = 1"
    if version != SUPPORTED_SCHEMA_VERSION:
        return f"unsupported workspace schema_version: {version}"
    if "extends" not in table:
        return None
    extends = table["extends"]
    if not isinstance(extends, list):
        return "workspace extends must be an array of sources"
    for source in extends:
        if not isinstance(source, str):
            return "workspace extends sources must be strings"
        if not source.strip():
            return "workspace extends source must not be blank"
        if source.strip() != source:
            return "workspace extends source must not contain surrounding whitespace"
    return None


def parse_manifest(data: Any) -> Manifest:
    """A validated manifest; raise ValueError with the reason when it is not valid."""
    problem = manifest_problem(data)
    if problem is not None:
        raise ValueError(problem)
    return Manifest.model_validate(data)


def check_workspace_manifest(root: Path) -> Manifest:
    """Read and validate `root`'s manifest as `inspect` does; WorkspaceLoadError if bad."""
    path = root / MANIFEST_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        detail = f"{error.strerror or error} (os error {error.errno})"
        raise WorkspaceLoadError(f"failed to read {path}: {detail}") from None
    except UnicodeDecodeError:
        raise WorkspaceLoadError(
            f"failed to read {path}: stream did not contain valid UTF-8"
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise WorkspaceLoadError(f"failed to parse workspace manifest {path}: {error}") from None
    try:
        return parse_manifest(data)
    except ValueError as error:
        raise WorkspaceLoadError(str(error)) from None
