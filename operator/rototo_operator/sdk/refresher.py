"""`Refresher`: the last-known-good refresh core shared by pods and the operator.

One `Refresher` owns one source (through a loader) and the workspace currently served
from it. `refresh()` asks the loader for a cheap change token first (`probe()`: an
ls-remote, a HEAD request, a symlink target), loads only when that cannot prove
"unchanged", compares the loaded fingerprint with the current one, lets the caller act
before a new workspace becomes current (`before_commit`: the operator publishes its
ConfigMap there), and only then swaps it in. Any failure leaves the current workspace in
place and is counted in the status.

The core does no scheduling: `next_delay(period)` says when the next attempt is due and
the driver (`RefreshingWorkspace`'s task, the controller's requeue) decides how to wait.
Time comes from an injected clock so staleness and status are tested without real time.

Limits: one attempt runs at a time (an asyncio lock); callers that arrive during an
attempt wait for it and then run their own, which is cheap when the probe says
unchanged. Cancelling an attempt is not a failure and leaves the current workspace.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, Literal, Protocol, TypeVar

from rototo_operator.engine import diagnostics
from rototo_operator.errors import RototoError
from rototo_operator.sdk import backoff, status

log = logging.getLogger(__name__)

RefreshOutcome = Literal["unchanged", "refreshed", "immutable"]
Clock = Callable[[], datetime.datetime]
"""Returns the current time as an aware UTC datetime."""
Sleeper = Callable[[float], Awaitable[None]]
"""Waits the given number of seconds (asyncio.sleep, or a fake in tests)."""


class Fingerprinted(Protocol):
    """What the refresh core needs from a loaded workspace."""

    @property
    def fingerprint(self) -> str | None:
        """Fingerprint of the source the workspace came from; None when unknown."""
        ...


W = TypeVar("W", bound=Fingerprinted)
W_co = TypeVar("W_co", bound=Fingerprinted, covariant=True)


class Loader(Protocol[W_co]):
    """Loads one source; the refresh core calls it, the caller chooses how it loads.

    `probe()` must be cheap and must not raise for an unreachable or broken source (return
    None, the load then reports the error). Its token only has to change whenever the
    content may have changed; it need not be comparable with the workspace fingerprint.
    `load()` raises RototoError when the source cannot be staged, linted or compiled.
    """

    @property
    def immutable(self) -> bool:
        """Whether the source can never change (a commit-pinned git source)."""
        ...

    async def probe(self) -> str | None:
        """A change token for the source as it is now, or None when not cheaply knowable."""
        ...

    async def load(self) -> W_co:
        """Stage, lint and compile the source as it is now."""
        ...


BeforeCommit = Callable[[W], Awaitable[object]]


def workspace_identity(workspace: Fingerprinted) -> tuple[str | None, str | None]:
    """What "the same workspace" means: the source fingerprint and, when known, the digest.

    The digest is the workspace's own `digest` or its compiled model's (`compiled.digest`).

    The digest matters for compiled models: an operator upgrade may recompile the same
    commit into different bytes, which a pod must pick up although the fingerprint is equal.
    """
    digest = getattr(workspace, "digest", None)
    if digest is None:
        digest = getattr(getattr(workspace, "compiled", None), "digest", None)
    return workspace.fingerprint, digest if isinstance(digest, str) else None


class Refresher(Generic[W]):
    """Serves the last successfully loaded workspace of one source; see the module doc."""

    def __init__(
        self,
        loader: Loader[W],
        *,
        failure_backoff: tuple[float, float] = backoff.DEFAULT_FAILURE_BACKOFF,
        clock: Clock = status.utc_now,
    ) -> None:
        initial, maximum = failure_backoff
        backoff.validate_failure_backoff(initial, maximum)
        self._loader = loader
        self._failure_backoff = (float(initial), float(maximum))
        self._clock = clock
        self._lock = asyncio.Lock()
        self._current: W | None = None
        # The probe token seen just before the current workspace was loaded: a later probe
        # returning the same token proves nothing changed without loading anything.
        self._loaded_token: str | None = None
        self._last_success: datetime.datetime | None = None
        self._last_attempt: datetime.datetime | None = None
        self._failures = 0
        self._last_error: str | None = None
        self._refreshing = False

    @property
    def current(self) -> W | None:
        """The workspace being served, or None before the first successful load."""
        return self._current

    @property
    def loader(self) -> Loader[W]:
        """The loader this refresher drives."""
        return self._loader

    @property
    def failure_backoff(self) -> tuple[float, float]:
        """(initial, maximum) seconds of failure backoff."""
        return self._failure_backoff

    @property
    def immutable(self) -> bool:
        """Whether the source is immutable (no periodic refresh)."""
        return self._loader.immutable

    def status(self) -> status.RefreshStatus:
        """A snapshot of the refresh state."""
        return status.RefreshStatus(
            current_fingerprint=None if self._current is None else self._current.fingerprint,
            last_success=_timestamp(self._last_success),
            last_attempt=_timestamp(self._last_attempt),
            consecutive_failures=self._failures,
            last_error=self._last_error,
            refreshing=self._refreshing,
            immutable=self._loader.immutable,
        )

    def next_delay(self, period_seconds: float | None) -> float | None:
        """Seconds from now until the next periodic attempt; None when none is due.

        Before a first success (the operator keeps retrying a Workspace whose initial load
        failed) and after failures the failure backoff applies; otherwise the period.
        """
        return backoff.next_refresh_delay(
            period_seconds=period_seconds,
            consecutive_failures=self._failures,
            immutable=self._loader.immutable and self._current is not None,
            failure_backoff=self._failure_backoff,
        )

    async def refresh(self, before_commit: BeforeCommit[W] | None = None) -> RefreshOutcome:
        """One refresh attempt; raises RototoError on failure and keeps the current workspace.

        The first successful call is the initial load and returns "refreshed".
        `before_commit(workspace)` is awaited before a new workspace becomes current; if it
        raises, the attempt fails and the new workspace is discarded.
        """
        async with self._lock:
            self._last_attempt = self._clock()
            self._refreshing = True
            try:
                outcome = await self._attempt(before_commit)
            except RototoError as error:
                self._record_failure(describe_failure(error))
                raise
            except Exception as error:
                # A loader or hook bug, or an API error from the hook, is still a failed
                # attempt: count it and hand callers the one exception type they catch.
                message = f"{type(error).__name__}: {error}" if str(error) else repr(error)
                self._record_failure(message)
                raise RototoError(message) from error
            finally:
                self._refreshing = False
            return outcome

    async def _attempt(self, before_commit: BeforeCommit[W] | None) -> RefreshOutcome:
        current = self._current
        if current is not None and self._loader.immutable:
            return "immutable"
        token = await self._loader.probe()
        # Equal to the token seen before the current load, or (for loaders whose tokens are
        # fingerprints) to the served fingerprint: nothing to load.
        if (
            current is not None
            and token is not None
            and token
            in (
                self._loaded_token,
                current.fingerprint,
            )
        ):
            self._record_success()
            return "unchanged"
        loaded = await self._loader.load()
        identity = workspace_identity(loaded)
        # Without a fingerprint nothing proves equality, so such a load always replaces.
        if (
            current is not None
            and identity[0] is not None
            and identity == workspace_identity(current)
        ):
            self._loaded_token = token
            self._record_success()
            return "unchanged"
        if before_commit is not None:
            await before_commit(loaded)
        self._current = loaded
        self._loaded_token = token
        self._record_success()
        log.info(
            "workspace refreshed: %s -> %s",
            None if current is None else current.fingerprint,
            loaded.fingerprint,
        )
        return "refreshed"

    def _record_success(self) -> None:
        # "unchanged" is a success too: the source was reached and what is served is what it
        # holds, so failures reset and staleness restarts from now.
        self._last_success = self._clock()
        self._failures = 0
        self._last_error = None

    def _record_failure(self, message: str) -> None:
        self._failures += 1
        self._last_error = message
        log.warning(
            "workspace refresh failed (%d in a row); still serving %s: %s",
            self._failures,
            None if self._current is None else self._current.fingerprint,
            message,
        )


MAX_HEADLINES = 3


def describe_failure(error: BaseException) -> str:
    """The status text for a failed attempt: the message plus where lint found errors.

    A lint failure's message only counts diagnostics; the first few headlines
    (`path:line: severity rule message`) say what to fix without a second lint run.
    """
    message = str(error) or type(error).__name__
    found = getattr(error, "diagnostics", None)
    if not isinstance(found, list):
        return message
    items = [item for item in found if isinstance(item, diagnostics.Diagnostic)]
    errors = [item for item in items if item.is_error] or items
    if not errors:
        return message
    lines = [item.headline() for item in errors[:MAX_HEADLINES]]
    if len(errors) > MAX_HEADLINES:
        lines.append(f"(+{len(errors) - MAX_HEADLINES} more)")
    return f"{message}: {'; '.join(lines)}"


def _timestamp(value: datetime.datetime | None) -> float | None:
    return None if value is None else value.timestamp()
