"""The per-repository refresh schedule as pure functions: phase, aligned instants, delays."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from rototo_operator.sdk import backoff

NOW = st.floats(min_value=0, max_value=4e9, allow_nan=False)
PERIOD = st.one_of(
    st.integers(min_value=1, max_value=86_400).map(float),
    st.floats(min_value=0.5, max_value=86_400, allow_nan=False),
)


def test_phase_is_stable_and_whole_seconds_for_whole_periods() -> None:
    first = backoff.schedule_phase("https://git.example/config.git", 300)
    assert first == backoff.schedule_phase("https://git.example/config.git", 300)
    assert first.is_integer()
    assert 0 <= first < 300


def test_different_repositories_are_spread_over_the_period() -> None:
    phases = {backoff.schedule_phase(f"https://git.example/repo-{i}.git", 300) for i in range(50)}
    # Fifty hashes into 300 slots: nearly all distinct (a constant phase would give one).
    assert len(phases) > 40


def test_aligned_instant_examples() -> None:
    assert backoff.aligned_instant(100.0, 60, 30) == 150.0
    assert backoff.aligned_instant(150.0, 60, 30) == 210.0  # strictly after now
    assert backoff.aligned_delay(149.5, 60, 30) == 0.5


@given(now=NOW, period=PERIOD, identity=st.text(max_size=40))
def test_delay_is_within_one_period(now: float, period: float, identity: str) -> None:
    phase = backoff.schedule_phase(identity, period)
    assert 0 <= phase < period
    delay = backoff.aligned_delay(now, period, phase)
    assert 0 < delay <= period
    instant = backoff.aligned_instant(now, period, phase)
    periods = (instant - phase) / period
    assert math.isclose(periods, round(periods), abs_tol=1e-6)


@given(
    now=NOW,
    offset=st.floats(min_value=0, max_value=1, exclude_max=True),
    period=st.integers(min_value=1, max_value=86_400).map(float),
)
def test_equal_phase_gives_equal_instants_within_one_period(
    now: float, offset: float, period: float
) -> None:
    """Siblings that finished their last attempts at different moments still wake together.

    Whole-second periods (what the CRD allows) keep the arithmetic exact.
    """
    phase = backoff.schedule_phase("https://git.example/config.git", period)
    instant = backoff.aligned_instant(now, period, phase)
    # Any moment between the previous aligned instant and this one maps to the same instant.
    previous = instant - period
    other = previous + (now - previous) * offset
    if previous <= other < instant:
        assert backoff.aligned_instant(other, period, phase) == instant


@given(
    now=st.integers(min_value=0, max_value=4_000_000_000).map(float),
    base=st.integers(min_value=1, max_value=3600),
    factor=st.integers(min_value=1, max_value=24),
)
def test_a_multiple_period_meets_the_shorter_one(now: float, base: int, factor: int) -> None:
    identity = "https://git.example/config.git"
    longer = base * factor
    instant = backoff.aligned_instant(now, longer, backoff.schedule_phase(identity, longer))
    shorter_phase = backoff.schedule_phase(identity, base)
    assert (instant - shorter_phase) % base == 0
