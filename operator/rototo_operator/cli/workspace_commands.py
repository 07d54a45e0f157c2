"""Workspace commands: `lint`, `compile`, `resolve`."""

from __future__ import annotations

from typing import Any


def register(commands: Any) -> None:
    """Add the workspace commands to the top-level parser."""
    del commands
