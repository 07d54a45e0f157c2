"""Loaders the refresh core drives: a source through a Stager, or a compiled-model directory.

`SourceLoader(source, stager, lint)` probes with `Stager.probe` (an ls-remote for git, a
HEAD for archives) and loads by staging, linting and compiling into an SDK `Workspace`.
The caller chooses the Stager, which is how the operator supplies per-Workspace
credentials, limits and cache directory. Each loaded workspace owns its staged files:
they are removed when the workspace object is garbage collected (after a refresh
replaced it and no caller holds it), so a long refresh loop does not fill the disk.

`CompiledDirLoader(path)` hot-reads the model the operator published into a mounted
ConfigMap (see `compiled_dir`).

`default_loader(source, ...)` picks between them the way `RefreshingWorkspace.load` does.

Limits: everything blocking (git, archives, lint, compile, file reads) runs in a worker
thread so the event loop keeps serving resolutions meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import os
import weakref

from rototo_operator import sources
from rototo_operator.engine import compiled as engine_compiled
from rototo_operator.errors import RototoError, WorkspaceLoadError
from rototo_operator.sdk import compiled_dir
from rototo_operator.sdk.workspace import Workspace

log = logging.getLogger(__name__)


class SourceLoader:
    """Loads one source string through a Stager into SDK Workspaces (refresh-core loader)."""

    def __init__(
        self,
        source: str,
        stager: sources.Stager,
        lint: str = "deny",
        *,
        owns_stager: bool = False,
    ) -> None:
        self.source = source
        self.stager = stager
        self.lint = lint
        self._owns_stager = owns_stager
        # Known from the source string alone; a load refines it (a pinned child that extends
        # a branch is not immutable).
        self._immutable = sources.parse_source(source).immutable

    @property
    def immutable(self) -> bool:
        return self._immutable

    async def probe(self) -> str | None:
        try:
            return await asyncio.to_thread(self.stager.probe, self.source)
        except RototoError as error:
            # The load reports the real problem; a probe only decides whether to load.
            log.debug("probe of %s failed: %s", sources.redact(self.source), error)
            return None

    async def load(self) -> Workspace:
        return await asyncio.to_thread(self.load_blocking)

    def load_blocking(self) -> Workspace:
        """Stage, lint and compile the source now."""
        staged = self.stager.stage(self.source)
        try:
            workspace = Workspace.from_staged(staged, lint=self.lint)
        except BaseException:
            staged.cleanup()
            raise
        weakref.finalize(workspace, staged.cleanup)
        self._immutable = staged.immutable
        return workspace

    def close(self) -> None:
        """Remove staged files and caches, when this loader created its Stager."""
        if self._owns_stager:
            self.stager.cleanup()


def decode_compiled(data: bytes, origin: str) -> Workspace:
    """A Workspace from compiled-model bytes; errors name the file they came from."""
    try:
        model = engine_compiled.CompiledModel.from_bytes(data)
    except WorkspaceLoadError as error:
        raise WorkspaceLoadError(f"{origin}: {error}") from None
    return Workspace.from_compiled(model)


class CompiledDirLoader(compiled_dir.ModelFileLoader[Workspace]):
    """Hot-reads SDK Workspaces from a compiled-model directory (a mounted ConfigMap)."""

    def __init__(
        self, path: str | os.PathLike[str], *, max_bytes: int = compiled_dir.MAX_MODEL_BYTES
    ) -> None:
        super().__init__(path, decode_compiled, max_bytes=max_bytes)


def default_loader(
    source: str | os.PathLike[str],
    *,
    workspace_token: str | None = None,
    lint: str = "deny",
) -> SourceLoader | CompiledDirLoader:
    """The loader `RefreshingWorkspace.load` uses for `source`.

    A path naming a compiled-model directory or file is hot-read; anything else is a
    source string staged by a private Stager (credentials from `workspace_token`, else
    the ROTOTO_WORKSPACE_TOKEN environment variable).
    """
    if compiled_dir.find_compiled_model(source) is not None:
        return CompiledDirLoader(source)
    stager = sources.Stager(credentials=sources.Credentials.for_workspace_token(workspace_token))
    try:
        return SourceLoader(os.fspath(source), stager, lint, owns_stager=True)
    except BaseException:
        stager.cleanup()
        raise
