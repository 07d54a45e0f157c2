"""`Workspace`: the reference SDK's workspace handle, backed by our pure-Python engine.

Names, signatures and result shapes follow the reference Python SDK (`rototo==0.1.0a5`),
so `import rototo_operator as rototo` is a drop-in switch:

    workspace = await rototo.Workspace.load(source)             # stage, lint, compile
    resolution = await workspace.resolve_variable("account-limits", context)
    resolution.value, resolution.source                       # {"kind": "catalog", ...}

`load` accepts, first, a compiled model (a `workspace.json` file, any file whose JSON says
`"format": "rototo.compiled/v1"`, or a directory holding one such as a mounted ConfigMap,
read through the kubelet's `..data` link), and otherwise any source string, staged by
`sources.Stager`. `lint="deny"` (the default) refuses a workspace with lint errors;
`lint="skip"` loads without a runtime model, as the reference does, so only `lint()`
works. `inspect` stages and checks the manifest without linting.

Blocking work (staging, lint, compile, file reads) runs in a worker thread, except the
load of a small compiled model file (up to `INLINE_MODEL_BYTES`, found by `stat` alone):
that takes well under a millisecond, about what the hop to a worker thread costs, so it
runs on the caller's thread. Resolved values are fresh copies: mutating one never affects
a later resolution.
"""

from __future__ import annotations

import asyncio
import json
import os
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from rototo_operator import sources
from rototo_operator.engine import compiled as engine_compiled
from rototo_operator.engine import lint as engine_lint
from rototo_operator.engine import manifest as engine_manifest
from rototo_operator.errors import RototoError, WorkspaceLoadError
from rototo_operator.sdk import compiled_dir

LintMode = Literal["deny", "skip"]
LINT_MODES: tuple[LintMode, ...] = ("deny", "skip")
_SNIFF_BYTES = 4096
# Largest plain `workspace.json` loaded on the event loop's thread (a few milliseconds of
# work at most); larger, gzip-compressed or sniffed models load in a worker thread.
INLINE_MODEL_BYTES = 64 * 1024


@dataclass(frozen=True)
class VariableResolution:
    """Selected value for a rototo variable (the reference SDK's shape)."""

    id: str
    value: Any
    source: Any


def _lint_mode(lint: str) -> LintMode:
    if lint not in LINT_MODES:
        raise ValueError(f"lint must be 'deny' or 'skip', got {lint!r}")
    return lint


def _compiled_model_file(source: str | os.PathLike[str]) -> Path | None:
    """The compiled model a source designates, or None for an ordinary source string."""
    try:
        found = compiled_dir.find_compiled_model(source)
    except (OSError, ValueError):
        return None
    if found is not None:
        return found
    path = Path(source)
    try:
        if not path.is_file():
            return None
        with open(path, "rb") as handle:
            head = handle.read(_SNIFF_BYTES)
    except (OSError, ValueError):
        return None
    if b'"format"' in head and engine_compiled.FORMAT.encode() in head:
        return path
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    if isinstance(data, dict) and data.get("format") == engine_compiled.FORMAT:
        return path
    return None


def _small_model_file(source: str | os.PathLike[str]) -> Path | None:
    """A plain compiled model file small enough to load inline, found without reading."""
    try:
        found = compiled_dir.find_compiled_model(source)
        if found is None or found.name != compiled_dir.MODEL_KEY:
            return None
        size = os.stat(found).st_size
    except (OSError, ValueError):
        return None
    return found if size <= INLINE_MODEL_BYTES else None


def _read_compiled(model: Path) -> engine_compiled.CompiledModel:
    read = compiled_dir.read_model(model)
    try:
        return engine_compiled.CompiledModel.from_bytes(read.data)
    except WorkspaceLoadError as error:
        raise WorkspaceLoadError(f"{read.path}: {error}") from None


class Workspace:
    """A loaded rototo workspace: lint it, resolve variables and qualifiers."""

    def __init__(
        self,
        *,
        root: Path,
        compiled: engine_compiled.CompiledModel | None,
        fingerprint: str | None,
        source: str | None = None,
        immutable: bool = False,
        from_model: bool = False,
    ) -> None:
        self._root = root
        # What `root` and `lint()["root"]` report when it is not the tree read (`_root`).
        self._shown_root: str | None = None
        self._shown_lint_root: str | None = None
        self.compiled = compiled
        self.fingerprint = fingerprint
        self.source = source
        self.immutable = immutable
        self._from_model = from_model
        self._staged: sources.StagedWorkspace | None = None

    def __repr__(self) -> str:
        return f"Workspace(root={self.root!r}, fingerprint={self.fingerprint!r})"

    # -- construction ---------------------------------------------------------------
    @classmethod
    async def load(
        cls,
        source: str | os.PathLike[str],
        *,
        workspace_token: str | None = None,
        lint: str = "deny",
    ) -> Workspace:
        """Stage, lint and compile `source` (or read a compiled model)."""
        mode = _lint_mode(lint)
        small = _small_model_file(source)
        if small is not None:
            return cls._from_model_file(small)
        return await asyncio.to_thread(cls._load_blocking, source, workspace_token, mode, True)

    @classmethod
    async def inspect(
        cls,
        source: str | os.PathLike[str],
        *,
        workspace_token: str | None = None,
    ) -> Workspace:
        """Stage `source` and check its manifest, without lint or compile."""
        return await asyncio.to_thread(cls._load_blocking, source, workspace_token, "skip", False)

    @classmethod
    def _load_blocking(
        cls,
        source: str | os.PathLike[str],
        workspace_token: str | None,
        lint: LintMode,
        compiled_allowed: bool,
    ) -> Workspace:
        model = _compiled_model_file(source) if compiled_allowed else None
        if model is not None:
            return cls._from_model_file(model)
        credentials = sources.Credentials.for_workspace_token(workspace_token)
        stager = sources.Stager(credentials=credentials)
        try:
            staged = stager.stage(os.fspath(source))
            try:
                workspace = cls.from_staged(staged, lint=lint)
            except WorkspaceLoadError as error:
                if type(error) is not WorkspaceLoadError:
                    raise
                # Name the caller's source, not the temporary staging directory.
                message = str(error).replace(str(staged.root), os.fspath(source))
                raise WorkspaceLoadError(message) from None
        except BaseException:
            stager.cleanup()
            raise
        # The staged files live as long as the workspace object does.
        weakref.finalize(workspace, stager.cleanup)
        return workspace

    @classmethod
    def _from_model_file(cls, model: Path) -> Workspace:
        workspace = cls.from_compiled(_read_compiled(model))
        workspace._root = model.parent
        return workspace

    @classmethod
    def from_staged(cls, staged: sources.StagedWorkspace, *, lint: str = "deny") -> Workspace:
        """A workspace over an already staged tree (blocking: lints and compiles)."""
        mode = _lint_mode(lint)
        root = Path(staged.root)
        engine_manifest.check_workspace_manifest(root)
        compiled = None
        if mode == "deny":
            compiled = engine_compiled.compile_tree(
                root, source=staged.source, fingerprint=staged.fingerprint
            )
        workspace = cls(
            root=root,
            compiled=compiled,
            fingerprint=staged.fingerprint,
            source=staged.source,
            immutable=staged.immutable,
        )
        # The staged files are removed when `staged` is collected: keep it while we live.
        workspace._staged = staged
        if len(staged.layers) == 1:
            spec = sources.parse_source(staged.source)
            if spec.kind in ("local", "file"):
                # The reference reads a plain local directory in place and reports the
                # caller's path (as given; lint's root made absolute). Our staging copy is
                # only a consistent snapshot of it, so it is not what callers are shown.
                workspace._shown_root = spec.location
                workspace._shown_lint_root = str(Path(spec.location).resolve())
        return workspace

    @classmethod
    def from_compiled(cls, model: engine_compiled.CompiledModel) -> Workspace:
        """A workspace serving an already compiled model (no source tree behind it)."""
        return cls(
            root=Path(os.curdir),
            compiled=model,
            fingerprint=model.fingerprint,
            source=model.source,
            from_model=True,
        )

    # -- the reference SDK surface ----------------------------------------------------
    @property
    def root(self) -> str:
        return self._shown_root if self._shown_root is not None else str(self._root)

    async def lint(self) -> dict[str, Any]:
        """{"root", "diagnostics": [...]} in the reference shape.

        A workspace served from a compiled model has no files to lint; it was lint-clean
        when compiled, so its diagnostics are empty."""
        if self._from_model:
            return {"root": self.root, "diagnostics": []}
        found = await asyncio.to_thread(engine_lint.lint_tree, self._root)
        root = self._shown_lint_root if self._shown_lint_root is not None else self.root
        return {"root": root, "diagnostics": [item.to_json() for item in found]}

    def _runtime(self) -> engine_compiled.CompiledModel:
        if self.compiled is None:
            raise RototoError(
                "workspace was loaded without a runtime model; use Workspace.load with lint enabled"
            )
        return self.compiled

    async def resolve_variable(
        self,
        id: str,
        context: Any,
        *,
        validate_context: bool = True,
    ) -> VariableResolution:
        value, source = self._runtime().resolve_variable(
            id, context, validate_context=validate_context
        )
        return VariableResolution(id=id, value=value, source=source)

    async def resolve_qualifier(
        self,
        id: str,
        context: Any,
        *,
        validate_context: bool = True,
    ) -> bool:
        return self._runtime().resolve_qualifier(id, context, validate_context=validate_context)
