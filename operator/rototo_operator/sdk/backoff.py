"""Refresh scheduling policy: failure backoff and the delay before the next attempt.

Pure functions over numbers, so the schedule is tested without clocks or sleeping. The
refreshing workspace in a pod and the operator's per-Workspace loop share them, which keeps
"5 s doubling to 300 s" one fact in one place.

The operator aligns the periodic refreshes of healthy Workspaces to a schedule phased per
repository (`schedule_phase`, `aligned_instant`, `aligned_delay`): every Workspace on one
repository with one period wakes at the same instants, so their probes can share one round
trip, while different repositories get different phases and stay spread over the period.

Limits: delays are seconds as floats; there is no random jitter (the phase is a hash, so
the spread over repositories is only as even as the hash).
"""

from __future__ import annotations

import hashlib
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


def schedule_phase(identity: str, period_seconds: float) -> float:
    """A stable offset in [0, period) for a repository identity (whole seconds when possible).

    The same identity always gets the same phase (a hash, not Python's salted `hash`), and
    for periods that are whole seconds the phase is a whole second, so aligned instants are
    whole seconds too. Because the phase is one number reduced modulo the period, a period
    that is a multiple of another yields a subset of the other's instants: siblings with
    periods of 60 s and 120 s still meet every 120 s.
    """
    validate_period(period_seconds)
    number = int.from_bytes(hashlib.sha256(identity.encode()).digest()[:8], "big")
    if float(period_seconds).is_integer():
        return float(number % int(period_seconds))
    millis = max(1, round(period_seconds * 1000))
    return (number % millis) / 1000 % period_seconds


def aligned_instant(now: float, period_seconds: float, phase: float) -> float:
    """The first instant t > now with (t - phase) a whole multiple of the period.

    Times are seconds on one clock (e.g. the Unix epoch). Equal (period, phase) give equal
    instants for every `now` inside one period, whatever the caller's own history.
    """
    validate_period(period_seconds)
    periods = math.floor((now - phase) / period_seconds) + 1
    instant = phase + periods * period_seconds
    # Float rounding near a boundary may land one period off either way.
    if instant <= now:
        instant = phase + (periods + 1) * period_seconds
    elif instant - now > period_seconds:
        instant = phase + (periods - 1) * period_seconds
    return instant


def aligned_delay(now: float, period_seconds: float, phase: float) -> float:
    """Seconds from `now` to `aligned_instant(now, period, phase)`: in (0, period]."""
    return aligned_instant(now, period_seconds, phase) - now
