"""Refresh policy as pure functions: the failure backoff schedule, the next delay, staleness."""

from __future__ import annotations

import datetime
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rototo_operator.sdk import backoff, status


@pytest.mark.parametrize(
    ("failures", "expected"),
    [(0, 0.0), (1, 5.0), (2, 10.0), (3, 20.0), (4, 40.0), (5, 80.0), (6, 160.0), (7, 300.0)],
)
def test_default_backoff_doubles_from_5_to_300(failures: int, expected: float) -> None:
    assert backoff.backoff_delay(failures, 5, 300) == expected


def test_backoff_stays_at_the_maximum_for_a_very_long_outage() -> None:
    assert backoff.backoff_delay(10**9, 5, 300) == 300.0


def test_backoff_with_equal_initial_and_maximum_is_constant() -> None:
    assert [backoff.backoff_delay(n, 7, 7) for n in (1, 2, 9)] == [7.0, 7.0, 7.0]


@given(
    failures=st.integers(min_value=0, max_value=10_000),
    initial=st.floats(min_value=0.001, max_value=1e6),
    spread=st.floats(min_value=1.0, max_value=1e6),
)
def test_backoff_is_bounded_and_never_shrinks(failures: int, initial: float, spread: float) -> None:
    maximum = initial * spread
    delay = backoff.backoff_delay(failures, initial, maximum)
    following = backoff.backoff_delay(failures + 1, initial, maximum)
    assert 0.0 <= delay <= maximum
    assert following >= delay
    if failures >= 1:
        assert delay >= initial


@pytest.mark.parametrize(
    ("initial", "maximum", "message"),
    [
        (0, 300, "initial must be > 0"),
        (-1, 300, "initial must be > 0"),
        (5, math.inf, "maximum must be > 0"),
        (10, 5, "must not be below its initial"),
        ("5", 300, "must be a number"),
        (True, 300, "must be a number"),
    ],
)
def test_bad_backoff_settings_are_refused(initial: object, maximum: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        backoff.backoff_delay(1, initial, maximum)  # type: ignore[arg-type]


def test_next_delay_is_the_period_without_failures() -> None:
    delay = backoff.next_refresh_delay(period_seconds=30, consecutive_failures=0, immutable=False)
    assert delay == 30.0


def test_next_delay_follows_the_backoff_after_failures() -> None:
    delays = [
        backoff.next_refresh_delay(
            period_seconds=60,
            consecutive_failures=n,
            immutable=False,
            failure_backoff=(5, 300),
        )
        for n in (1, 2, 3, 8)
    ]
    assert delays == [5.0, 10.0, 20.0, 300.0]


def test_no_periodic_refresh_for_immutable_sources_or_without_a_period() -> None:
    assert (
        backoff.next_refresh_delay(period_seconds=30, consecutive_failures=0, immutable=True)
        is None
    )
    assert (
        backoff.next_refresh_delay(period_seconds=None, consecutive_failures=3, immutable=False)
        is None
    )


@pytest.mark.parametrize("period", [0, -1, math.nan, math.inf, "30"])
def test_bad_periods_are_refused(period: object) -> None:
    with pytest.raises(ValueError, match="period_seconds"):
        backoff.validate_period(period)  # type: ignore[arg-type]


def _status(
    last_success: float | None, *, immutable: bool = False, failures: int = 0
) -> status.RefreshStatus:
    return status.RefreshStatus(
        current_fingerprint="git:" + "a" * 40 if last_success is not None else None,
        last_success=last_success,
        last_attempt=last_success,
        consecutive_failures=failures,
        last_error=None,
        refreshing=False,
        immutable=immutable,
    )


def test_stale_compares_the_age_of_the_last_success_in_seconds() -> None:
    snapshot = _status(1000.0)
    assert not snapshot.stale(600, now=1600.0)
    assert snapshot.stale(600, now=1600.5)


def test_stale_accepts_a_timedelta_and_an_aware_now() -> None:
    success = datetime.datetime(2026, 11, 25, 12, 0, tzinfo=datetime.UTC)
    snapshot = _status(success.timestamp())
    later = success + datetime.timedelta(minutes=11)
    assert snapshot.stale(datetime.timedelta(minutes=10), now=later)
    assert not snapshot.stale(datetime.timedelta(minutes=12), now=later)


def test_stale_defaults_to_the_wall_clock() -> None:
    assert _status(0.0).stale(60)
    assert not _status(datetime.datetime.now(tz=datetime.UTC).timestamp()).stale(3600)


def test_never_loaded_and_immutable_are_not_stale() -> None:
    assert not _status(None).stale(0, now=10**10)
    assert not _status(0.0, immutable=True).stale(1, now=10**10)


def test_negative_staleness_is_refused() -> None:
    with pytest.raises(ValueError, match="max_staleness"):
        _status(0.0).stale(-1, now=1.0)


def test_status_timestamps_convert_to_aware_utc_datetimes() -> None:
    snapshot = _status(1_764_072_000.25)
    assert snapshot.last_success_at == datetime.datetime(
        2025, 11, 25, 12, 0, 0, 250000, tzinfo=datetime.UTC
    )
    assert _status(None).last_attempt_at is None


def test_refresh_status_has_the_reference_fields_in_order() -> None:
    import dataclasses

    names = [field.name for field in dataclasses.fields(status.RefreshStatus)]
    assert names == [
        "current_fingerprint",
        "last_success",
        "last_attempt",
        "consecutive_failures",
        "last_error",
        "refreshing",
        "immutable",
    ]
