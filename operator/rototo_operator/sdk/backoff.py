"""Refresh scheduling policy: failure backoff and the delay before the next attempt.

Pure functions over numbers, so the schedule is tested without clocks or sleeping. The
refreshing workspace in a pod and the operator's per-Workspace loop share them, which keeps
"5 s doubling to 300 s" one fact in one place.

Limits: delays are seconds as floats; the schedule has no jitter (one operator drives each
source, so there is no herd to spread).
"""

from __future__ import annotations

import math

DEFAULT_FAILURE_BACKOFF: tuple[float, float] = (5.0, 300.0)
"""(initial, maximum) seconds, the reference SDK's defaults."""

# 2**20 times any sane initial delay is far beyond any maximum; capping the exponent keeps
# the arithmetic finite for a counter that may grow for days.
_MAX_DOUBLINGS = 20


def backoff_delay(consecutive_failures: int, initial: float, maximum: float) -> float:
    """Seconds to wait after `consecutive_failures` failed attempts in a row.

    No failure means no backoff (0.0); the first failure waits `initial`, each further one
    doubles it, and the result never exceeds `maximum`.
    """
    validate_failure_backoff(initial, maximum)
    if consecutive_failures <= 0:
        return 0.0
    doublings = min(consecutive_failures - 1, _MAX_DOUBLINGS)
    return float(min(initial * (2**doublings), maximum))


def next_refresh_delay(
    *,
    period_seconds: float | None,
    consecutive_failures: int,
    immutable: bool,
    failure_backoff: tuple[float, float] = DEFAULT_FAILURE_BACKOFF,
) -> float | None:
    """Seconds until the next periodic attempt, or None when there is none to schedule.

    Immutable sources (pinned to a commit) and a missing period never refresh periodically.
    After failures the backoff replaces the period, so a broken source is retried soon at
    first and then ever more gently; a success (failures back to 0) returns to the period.
    """
    if immutable or period_seconds is None:
        return None
    validate_period(period_seconds)
    if consecutive_failures > 0:
        initial, maximum = failure_backoff
        return backoff_delay(consecutive_failures, initial, maximum)
    return float(period_seconds)


def validate_period(period_seconds: float | None) -> None:
    """Raise ValueError for a period that is not a positive, finite number of seconds."""
    if period_seconds is None:
        return
    if isinstance(period_seconds, bool) or not isinstance(period_seconds, int | float):
        raise ValueError(f"period_seconds must be a number of seconds, got {period_seconds!r}")
    if not math.isfinite(period_seconds) or period_seconds <= 0:
        raise ValueError(f"period_seconds must be > 0, got {period_seconds!r}")


def validate_failure_backoff(initial: float, maximum: float) -> None:
    """Raise ValueError unless 0 < initial <= maximum, both finite."""
    for name, value in (("initial", initial), ("maximum", maximum)):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"failure backoff {name} must be a number of seconds, got {value!r}")
        if not math.isfinite(value) or value <= 0:
            raise ValueError(f"failure backoff {name} must be > 0, got {value!r}")
    if maximum < initial:
        raise ValueError(
            f"failure backoff maximum ({maximum!r}) must not be below its initial ({initial!r})"
        )
