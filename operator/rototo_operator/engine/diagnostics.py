"""Lint diagnostics: the value every lint stage, the Lua rules and the CLI share.

The JSON shape is the reference SDK's `lint()` shape, so tools written against rototo read
ours unchanged. Ranges are zero-based lines and characters (LSP convention), end exclusive.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["error", "warning", "info"]
Stage = Literal["discover", "parse", "project", "register", "reference", "value", "graph", "policy"]
STAGES: tuple[Stage, ...] = (
    "discover",
    "parse",
    "project",
    "register",
    "reference",
    "value",
    "graph",
    "policy",
)


@dataclass(frozen=True, order=True)
class Position:
    line: int
    character: int

    def to_json(self) -> dict[str, int]:
        return {"line": self.line, "character": self.character}


@dataclass(frozen=True)
class Range:
    start: Position
    end: Position

    def to_json(self) -> dict[str, Any]:
        return {"start": self.start.to_json(), "end": self.end.to_json()}


@dataclass(frozen=True)
class Location:
    """A workspace-relative POSIX path, and where in the file when known."""

    path: str
    range: Range | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path}
        if self.range is not None:
            out["range"] = self.range.to_json()
        return out


@dataclass(frozen=True)
class Diagnostic:
    rule: str
    severity: Severity
    stage: Stage
    message: str
    help: str
    location: Location
    # The entity the diagnostic is about, e.g. {"entity": {"kind": "variable", "id": "x"}}.
    target: dict[str, Any] | None = None
    related: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "rule": self.rule,
            "severity": self.severity,
            "stage": self.stage,
            "message": self.message,
            "help": self.help,
            "location": self.location.to_json(),
            "related": [dict(item) for item in self.related],
        }
        if self.target is not None:
            out["target"] = self.target
        return out

    def headline(self) -> str:
        """Compiler-style one line: `path:line: severity rule message` (lines are 1-based)."""
        where = self.location.path
        if self.location.range is not None:
            where = f"{where}:{self.location.range.start.line + 1}"
        return f"{where}: {self.severity} {self.rule} {self.message}"
