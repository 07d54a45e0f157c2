"""Operator commands: `run`, `refresh`, `status`."""

from __future__ import annotations

from typing import Any


def register(commands: Any) -> None:
    """Add the operator commands to the top-level parser."""
    del commands
