"""`RefreshingWorkspace`: a workspace handle for long-running services that refreshes itself.

It serves the last successfully loaded workspace of a source and, for mutable sources
with a period, refreshes it in a background task: unchanged sources cost one probe, a
changed source is staged, linted and compiled before it replaces the current one, and a
failure keeps the current workspace, is counted in `status()`, and backs off (5 s doubling
to 300 s by default). A source that names a compiled-model directory (a mounted ConfigMap
published by the operator) is hot-read instead: see `compiled_dir`.

The refresh logic lives in `refresher.Refresher`; this class adds the application face
(the reference SDK's method names), the background task and its lifetime:

* `shutdown()` (or leaving `async with`) stops the task and waits for it;
* dropping the handle without shutdown cancels the task from a finalizer, so no task is
  left behind (the task itself never references the handle, only the refresher).

Limits: the background task runs on the event loop that loaded the workspace; use the
handle from that loop. After shutdown every method raises RototoError, as in the reference.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import weakref
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, Protocol

from rototo_operator.errors import RototoError
from rototo_operator.sdk import backoff, loaders, refresher, status
from rototo_operator.sdk.backoff import backoff_delay
from rototo_operator.sdk.loaders import CompiledDirLoader, SourceLoader
from rototo_operator.sdk.refresher import Loader, Refresher, RefreshOutcome
from rototo_operator.sdk.status import RefreshStatus
from rototo_operator.sdk.workspace import VariableResolution

# The refresh API in one place; the pieces live in their own modules.
__all__ = [
    "CompiledDirLoader",
    "Loader",
    "RefreshOutcome",
    "RefreshStatus",
    "Refresher",
    "RefreshingWorkspace",
    "SourceLoader",
    "backoff_delay",
]

log = logging.getLogger(__name__)

LINT_MODES = ("deny", "skip")


class ServedWorkspace(refresher.Fingerprinted, Protocol):
    """What a refreshing workspace needs from the workspaces it serves."""

    @property
    def root(self) -> str:
        """The staged root (or model location) of the workspace."""
        ...

    async def lint(self) -> dict[str, Any]:
        """The workspace's lint result, in the reference shape."""
        ...

    async def resolve_variable(
        self, id: str, context: Mapping[str, Any], *, validate_context: bool = True
    ) -> VariableResolution:
        """Resolve a variable."""
        ...

    async def resolve_qualifier(
        self, id: str, context: Mapping[str, Any], *, validate_context: bool = True
    ) -> bool:
        """Resolve a qualifier."""
        ...


class RefreshingWorkspace:
    """Refreshing rototo workspace for long-running services.

    Create it with `await RefreshingWorkspace.load(source, period_seconds=...)`, or with
    `from_loader` for a custom loader (tests, alternative credentials).
    """

    def __init__(
        self,
        core: Refresher[ServedWorkspace],
        *,
        period_seconds: float | None = None,
        sleeper: refresher.Sleeper = asyncio.sleep,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        """Wrap an already loaded refresher; prefer `load` or `from_loader`."""
        if core.current is None:
            raise RototoError("a refreshing workspace needs a successfully loaded workspace")
        backoff.validate_period(period_seconds)
        self._core = core
        self._period = period_seconds
        self._closed = False
        self._task: asyncio.Task[None] | None = None
        delay = core.next_delay(period_seconds)
        if period_seconds is not None and delay is None:
            log.warning("workspace source is immutable; periodic refresh is disabled")
        if delay is not None:
            self._task = asyncio.get_running_loop().create_task(
                _refresh_loop(core, period_seconds, sleeper),
                name="rototo-workspace-refresh",
            )
        # Runs when the handle is garbage collected or at shutdown; holds only the task and
        # the close callback, never the handle itself.
        self._finalizer = weakref.finalize(self, _abandon, self._task, on_close)

    @classmethod
    async def load(
        cls,
        source: str | os.PathLike[str],
        *,
        period_seconds: float | None = None,
        failure_backoff: tuple[float, float] = backoff.DEFAULT_FAILURE_BACKOFF,
        workspace_token: str | None = None,
        lint: str = "deny",
    ) -> RefreshingWorkspace:
        """Load `source` (any source string, or a compiled-model directory) and keep it fresh.

        Raises RototoError when the initial load fails (nothing is served then) and
        ValueError for invalid options.
        """
        if lint not in LINT_MODES:
            raise ValueError(f"lint must be one of {', '.join(LINT_MODES)}, got {lint!r}")
        backoff.validate_period(period_seconds)
        backoff.validate_failure_backoff(*failure_backoff)
        # Choosing the loader stats the path and may create the process's git cache directory:
        # file work, so not on the event loop.
        loader = await asyncio.to_thread(
            loaders.default_loader, source, workspace_token=workspace_token, lint=lint
        )
        return await cls.from_loader(
            loader,
            period_seconds=period_seconds,
            failure_backoff=failure_backoff,
            on_close=getattr(loader, "close", None),
        )

    @classmethod
    async def from_loader(
        cls,
        loader: Loader[ServedWorkspace],
        *,
        period_seconds: float | None = None,
        failure_backoff: tuple[float, float] = backoff.DEFAULT_FAILURE_BACKOFF,
        clock: refresher.Clock = status.utc_now,
        sleeper: refresher.Sleeper = asyncio.sleep,
        on_close: Callable[[], None] | None = None,
    ) -> RefreshingWorkspace:
        """Load through `loader` now and keep refreshing it every `period_seconds`.

        `on_close` runs once at shutdown (or when the handle is collected), e.g. to remove
        staged files; it also runs when the initial load fails.
        """
        backoff.validate_period(period_seconds)
        core: Refresher[ServedWorkspace] = Refresher(
            loader, failure_backoff=failure_backoff, clock=clock
        )
        try:
            await core.refresh()
        except BaseException:
            if on_close is not None:
                on_close()
            raise
        return cls(core, period_seconds=period_seconds, sleeper=sleeper, on_close=on_close)

    # -- resolution, always against the current workspace ---------------------------------

    @property
    def current(self) -> ServedWorkspace:
        """The workspace being served now (a later refresh does not change this object)."""
        self._check_open()
        current = self._core.current
        assert current is not None  # guaranteed by __init__, never reset
        return current

    @property
    def root(self) -> str:
        """The root of the current workspace."""
        return self.current.root

    async def lint(self) -> dict[str, Any]:
        """Lint result of the current workspace."""
        return await self.current.lint()

    async def resolve_variable(
        self, id: str, context: Mapping[str, Any], *, validate_context: bool = True
    ) -> VariableResolution:
        """Resolve a variable against the current successfully loaded workspace."""
        return await self.current.resolve_variable(id, context, validate_context=validate_context)

    async def resolve_qualifier(
        self, id: str, context: Mapping[str, Any], *, validate_context: bool = True
    ) -> bool:
        """Resolve a qualifier against the current successfully loaded workspace."""
        return await self.current.resolve_qualifier(id, context, validate_context=validate_context)

    # -- refresh control ---------------------------------------------------------------

    async def refresh_now(self) -> RefreshOutcome:
        """Refresh once now: "unchanged", "refreshed" or "immutable"; RototoError on failure.

        Waits for an attempt already running (one at a time), then makes its own.
        """
        self._check_open()
        return await self._core.refresh()

    async def status(self) -> RefreshStatus:
        """A snapshot of the refresh state."""
        self._check_open()
        return self._core.status()

    async def shutdown(self) -> None:
        """Stop the background refresh task and wait for it; idempotent."""
        if self._closed:
            return
        self._closed = True
        task = self._task
        self._task = None
        if task is not None and not task.done():
            task.cancel()
            # wait() does not re-raise the task's CancelledError, but a cancellation of
            # shutdown itself still propagates.
            await asyncio.wait([task])
        self._finalizer()

    async def __aenter__(self) -> RefreshingWorkspace:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.shutdown()

    def __repr__(self) -> str:
        state = (
            "shut down" if self._closed else f"serving {self._core.status().current_fingerprint}"
        )
        return f"<RefreshingWorkspace {state}>"

    def _check_open(self) -> None:
        if self._closed:
            raise RototoError("refreshing workspace has been shut down")


async def _refresh_loop(
    core: Refresher[ServedWorkspace], period_seconds: float | None, sleeper: refresher.Sleeper
) -> None:
    """Sleep until the next attempt is due, attempt, repeat; ends when nothing is due."""
    while (delay := core.next_delay(period_seconds)) is not None:
        await sleeper(delay)
        # The failure is already counted and logged by the refresher; keep serving.
        with contextlib.suppress(RototoError):
            await core.refresh()


def _abandon(task: asyncio.Task[None] | None, on_close: Callable[[], None] | None) -> None:
    """Finalizer: cancel a still-running refresh task and release the loader's resources."""
    if task is not None and not task.done():
        loop = task.get_loop()
        if not loop.is_closed():
            try:
                running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            # The handle may be collected on another thread; only the owning loop may cancel.
            with contextlib.suppress(RuntimeError):
                if running is loop:
                    task.cancel()
                else:
                    loop.call_soon_threadsafe(task.cancel)
    if on_close is not None:
        on_close()
