"""`RefreshStatus`: a snapshot of a refreshing workspace's state, and the staleness rule.

The field names and types are the reference Python SDK's: timestamps are POSIX seconds
(float, UTC epoch) and `current_fingerprint` is the active source's fingerprint. The
reference reports the fingerprint as a structured value; here it is the string form the
sources layer produces (`git:<sha>`, `sha256:<hex>`, ...), the same text the operator
writes into Workspace status and the compiled model.

Limits: a snapshot is a value; it does not change when the workspace refreshes later.
"""

from __future__ import annotations

import dataclasses
import datetime
import time

Seconds = float


@dataclasses.dataclass(frozen=True)
class RefreshStatus:
    """Current refresh state for a long-running workspace handle."""

    current_fingerprint: str | None
    """Fingerprint of the active workspace source; None before any successful load."""
    last_success: float | None
    """POSIX time of the last successful initial load or refresh (unchanged counts)."""
    last_attempt: float | None
    """POSIX time the last refresh attempt started."""
    consecutive_failures: int
    """Refresh failures since the last success."""
    last_error: str | None
    """Message of the last failed attempt; cleared by a success."""
    refreshing: bool
    """Whether a refresh attempt is running right now."""
    immutable: bool
    """Whether the source is pinned to an immutable commit (no periodic refresh)."""

    def stale(
        self,
        max_staleness: float | datetime.timedelta,
        *,
        now: float | datetime.datetime | None = None,
    ) -> bool:
        """Whether the last success is older than `max_staleness` (seconds or timedelta).

        `now` defaults to the wall clock; pass it to evaluate against an injected clock.
        """
        return is_stale(
            last_success=self.last_success,
            max_staleness=max_staleness,
            now=time.time() if now is None else now,
            immutable=self.immutable,
        )

    @property
    def last_success_at(self) -> datetime.datetime | None:
        """`last_success` as an aware UTC datetime."""
        return from_timestamp(self.last_success)

    @property
    def last_attempt_at(self) -> datetime.datetime | None:
        """`last_attempt` as an aware UTC datetime."""
        return from_timestamp(self.last_attempt)


def is_stale(
    *,
    last_success: float | None,
    max_staleness: float | datetime.timedelta,
    now: float | datetime.datetime,
    immutable: bool = False,
) -> bool:
    """The staleness rule, as a pure function.

    Stale means a workspace is being served and the source has not been confirmed for
    longer than `max_staleness`. Never loaded is not stale (nothing is served; readiness
    reports that), and an immutable source cannot be behind, so it is never stale.
    """
    limit = to_seconds(max_staleness)
    if limit < 0:
        raise ValueError(f"max_staleness must not be negative, got {max_staleness!r}")
    if last_success is None or immutable:
        return False
    current = now.timestamp() if isinstance(now, datetime.datetime) else float(now)
    return current - last_success > limit


def to_seconds(value: float | datetime.timedelta) -> Seconds:
    """Seconds from a number or a timedelta."""
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected seconds or a timedelta, got {value!r}")
    return float(value)


def from_timestamp(value: float | None) -> datetime.datetime | None:
    """An aware UTC datetime from POSIX seconds, keeping None."""
    if value is None:
        return None
    return datetime.datetime.fromtimestamp(value, tz=datetime.UTC)


def utc_now() -> datetime.datetime:
    """The default clock: the wall clock as an aware UTC datetime."""
    return datetime.datetime.now(tz=datetime.UTC)
