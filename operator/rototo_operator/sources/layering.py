"""Workspace layering: follow `extends`, order the layers, detect cycles, bound the graph.

The graph walk is independent of where layers come from: a loader stages one request into
a `Layer`, and the layer knows how to turn its own `extends` entries into requests
(relative entries resolve from the declaring workspace). Projection order is parent first,
depth first, in declaration order; the root comes last. A layer reached twice (a diamond)
is staged once and projected at each position, as the reference engine does.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

from rototo_operator.errors import SourceError
from rototo_operator.sources.tree import MANIFEST

MAX_LAYERS = 32
"""The reference engine refuses graphs over 32 layers; we count every projected layer."""

RequestT = TypeVar("RequestT")
_GRAPH_ERRORS = ("workspace extends cycle detected", "workspace extends graph exceeds")


@dataclasses.dataclass(eq=False)
class Layer(Generic[RequestT]):
    """One staged layer: its files, identity, fingerprint and declared parents."""

    source: str
    """The source string, passwords redacted: shown in errors and `StagedWorkspace.layers`."""
    key: str
    """Identity for cycle detection and de-duplication (canonical path or source)."""
    workspace: Path
    fingerprint: str
    immutable: bool
    extends: tuple[str, ...]
    resolve: Callable[[str], RequestT]
    """Turns one `extends` entry of this layer into a request; raises SourceError if unsafe."""


def read_extends(workspace: Path, *, shown: str, strict: bool) -> tuple[str, ...]:
    """The `extends` entries of a workspace's manifest.

    The root workspace is read leniently (`strict=False`): a missing or malformed manifest
    means no parents, and lint reports the manifest itself. A parent's manifest is never
    linted (it is not projected), so there a malformed manifest is an error naming it.
    """
    path = workspace / MANIFEST
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ()
    except (OSError, UnicodeDecodeError) as error:
        if not strict:
            return ()
        raise SourceError(f"cannot read workspace manifest {shown}/{MANIFEST}: {error}") from None
    try:
        manifest = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        if not strict:
            return ()
        raise SourceError(
            f"failed to parse workspace manifest {shown}/{MANIFEST}: {error}"
        ) from None
    extends = manifest.get("extends")
    if extends is None:
        return ()
    problem = _extends_problem(extends)
    if problem is None:
        return tuple(extends)
    if not strict:
        return ()
    raise SourceError(f"workspace manifest {shown}/{MANIFEST}: {problem}")


def _extends_problem(extends: object) -> str | None:
    if not isinstance(extends, list):
        return "`extends` must be an array of sources"
    for index, entry in enumerate(extends):
        if not isinstance(entry, str):
            return f"`extends[{index}]` must be a string"
        if entry.strip() == "":
            return f"`extends[{index}]` must not be blank"
        if entry.strip() != entry:
            return f"`extends[{index}]` must not contain surrounding whitespace: {entry!r}"
    return None


def collect(
    root: RequestT,
    load: Callable[[RequestT, bool], Layer[RequestT]],
    *,
    max_layers: int = MAX_LAYERS,
) -> list[Layer[RequestT]]:
    """Every layer in projection order (parents first, root last).

    `load(request, is_root)` stages one request. Raises SourceError for cycles (naming the
    chain), graphs over `max_layers`, and any parent that fails, prefixed with the chain of
    `extends` entries that led to it.
    """
    ordered: list[Layer[RequestT]] = []
    loaded: dict[str, Layer[RequestT]] = {}
    stack: list[Layer[RequestT]] = []

    def visit(request: RequestT, is_root: bool) -> None:
        if len(stack) >= max_layers:
            raise SourceError(
                f"workspace extends graph exceeds {max_layers} layers "
                f"(depth {len(stack) + 1} below {stack[-1].source})"
            )
        layer = load(request, is_root)
        known = loaded.setdefault(layer.key, layer)
        if any(entry.key == layer.key for entry in stack):
            start = next(i for i, entry in enumerate(stack) if entry.key == layer.key)
            chain = [entry.source for entry in stack[start:]] + [layer.source]
            raise SourceError(f"workspace extends cycle detected: {' -> '.join(chain)}")
        stack.append(known)
        try:
            for entry in known.extends:
                try:
                    visit(known.resolve(entry), False)
                except SourceError as error:
                    if str(error).startswith(_GRAPH_ERRORS):
                        raise
                    raise SourceError(f"{known.source} extends {entry!r}: {error}") from None
        finally:
            stack.pop()
        ordered.append(known)
        if len(ordered) > max_layers:
            raise SourceError(
                f"workspace extends graph exceeds {max_layers} layers "
                f"(reached while projecting {known.source})"
            )

    visit(root, True)
    return ordered
