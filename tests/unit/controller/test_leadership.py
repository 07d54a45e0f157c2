"""The Lease decision: create, renew, wait out a live holder, take an expired or released one."""

from __future__ import annotations

from rototo_operator.controller.leadership import LeaseRecord, Observation, decide


def record(holder: str | None, renew: str = "t1", seconds: int = 15) -> LeaseRecord:
    return LeaseRecord(holder, renew, seconds, 0, "1")


def test_no_lease_is_created() -> None:
    assert decide(None, Observation(), me="a", now=0)[0] == "create"


def test_own_lease_is_renewed() -> None:
    assert decide(record("a"), Observation(), me="a", now=0)[0] == "renew"


def test_a_live_holder_is_waited_out_on_the_local_clock() -> None:
    action, seen = decide(record("b"), Observation(), me="a", now=100.0)
    assert action == "wait"
    assert seen.seen_at == 100.0
    # Renewed by its holder: the wait starts over, whatever the timestamps say.
    action, seen = decide(record("b", renew="t2"), seen, me="a", now=110.0)
    assert (action, seen.seen_at) == ("wait", 110.0)
    assert decide(record("b", renew="t2"), seen, me="a", now=124.0)[0] == "wait"
    assert decide(record("b", renew="t2"), seen, me="a", now=125.5)[0] == "take"


def test_a_released_lease_is_taken_at_once() -> None:
    assert decide(record(None), Observation(), me="a", now=0)[0] == "take"
