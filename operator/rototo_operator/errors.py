"""The exception tree shared by every layer.

    RototoError                      anything rototo refuses or fails to do
     ├── SourceError                 a source string is invalid, or staging it failed
     ├── WorkspaceLoadError          a workspace could not be loaded (lint, compile, model)
     └── ResolutionError             a variable or qualifier could not be resolved

Applications catch `RototoError`, as with the reference SDK; the subclasses let the
operator tell a bad source from a bad workspace in status and events.
"""

from __future__ import annotations


class RototoError(Exception):
    """Raised for every rototo failure: bad sources, lint failures, resolution errors."""


class SourceError(RototoError):
    """A source string is invalid, or staging it (git, archive, local path) failed."""


class WorkspaceLoadError(RototoError):
    """A staged workspace failed lint, could not be compiled, or a compiled model is corrupt."""


class ResolutionError(RototoError):
    """A variable or qualifier could not be resolved against the given context."""
