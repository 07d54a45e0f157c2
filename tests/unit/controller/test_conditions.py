"""Ready, Stale and Refreshing from the declared tables; transitions keep their time."""

from __future__ import annotations

import dataclasses
import datetime

import pytest

from rototo_operator.controller import conditions
from rototo_operator.controller.conditions import Facts, Reason

NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
BASE = Facts(
    published_fingerprint="git:9f2c1e7a0000",
    attempted=True,
    failure=None,
    failure_message=None,
    suspended=False,
    immutable=False,
    stale=False,
    refreshing=False,
    max_staleness_seconds=600,
)


def by_type(facts: Facts) -> dict[str, tuple[str, str, str]]:
    out = {}
    for c in conditions.compute_conditions(facts, [], now=NOW, generation=3):
        out[c.type] = (c.status.value, c.reason, c.message)
    return out


@pytest.mark.parametrize(
    ("changes", "ready"),
    [
        ({}, ("True", "Published")),
        ({"immutable": True}, ("True", "Pinned")),
        ({"suspended": True}, ("True", "Suspended")),
        ({"published_fingerprint": None}, ("Unknown", "Progressing")),
        ({"failure": Reason.LINT_FAILED, "failure_message": "x"}, ("False", "LintFailed")),
        (
            {"failure": Reason.FETCH_FAILED, "published_fingerprint": None},
            ("False", "FetchFailed"),
        ),
    ],
)
def test_ready_table(changes: dict[str, object], ready: tuple[str, str]) -> None:
    facts = dataclasses.replace(BASE, **changes)  # type: ignore[arg-type]
    assert by_type(facts)["Ready"][:2] == ready


def test_failure_message_names_the_served_version_and_the_next_attempt() -> None:
    facts = dataclasses.replace(
        BASE, failure=Reason.LINT_FAILED, failure_message="a.toml:3: error r m", next_attempt_in=300
    )
    message = by_type(facts)["Ready"][2]
    assert message == (
        "a.toml:3: error r m; still serving 9f2c1e7a, the last known good version; "
        "next attempt in 5m0s"
    )


def test_stale_and_refreshing_polarity() -> None:
    assert by_type(dataclasses.replace(BASE, stale=True))["Stale"][:2] == (
        "True",
        "MaxStalenessExceeded",
    )
    assert by_type(BASE)["Stale"][:2] == ("False", "Fresh")
    assert by_type(dataclasses.replace(BASE, immutable=True))["Stale"][:2] == ("False", "Immutable")
    assert by_type(dataclasses.replace(BASE, refreshing=True))["Refreshing"][:2] == (
        "True",
        "Refreshing",
    )


def test_transition_time_moves_only_when_the_status_changes() -> None:
    first = conditions.compute_conditions(BASE, [], now=NOW, generation=1)
    later = NOW + datetime.timedelta(minutes=5)
    same = conditions.compute_conditions(BASE, first, now=later, generation=2)
    assert all(c.last_transition_time == NOW for c in same)
    assert all(c.observed_generation == 2 for c in same)
    failed = dataclasses.replace(BASE, failure=Reason.FETCH_FAILED)
    moved = conditions.compute_conditions(failed, same, now=later, generation=2)
    ready = conditions.find(moved, conditions.READY)
    stale = conditions.find(moved, conditions.STALE)
    assert ready is not None
    assert stale is not None
    assert ready.last_transition_time == later
    assert stale.last_transition_time == NOW


@pytest.mark.parametrize(
    ("seconds", "text"), [(0, "0s"), (5, "5s"), (300, "5m0s"), (3723, "1h2m3s")]
)
def test_durations_read_like_kubernetes(seconds: float, text: str) -> None:
    assert conditions.format_duration(seconds) == text


def test_short_fingerprints() -> None:
    assert conditions.short("git:9f2c1e7a55") == "9f2c1e7a"
    assert conditions.short("sha256:abcdef0123") == "abcdef01"
    assert conditions.short(None) == ""
