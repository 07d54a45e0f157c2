"""The Lease decision: create, renew, wait out a live holder, take an expired or released one."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

from rototo_operator.controller.leadership import LeaderElector, LeaseRecord, Observation, decide


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


class FakeLeases:
    """A Lease store with the API server's compare-and-swap on resourceVersion."""

    def __init__(self) -> None:
        from kubernetes_asyncio.client import ApiClient

        self.body: dict[str, Any] | None = None
        self.version = 0
        self.api_client = ApiClient()

    def _error(self, status: int) -> Exception:
        from kubernetes_asyncio.client.exceptions import ApiException

        return ApiException(status=status, reason="fake")

    async def read_namespaced_lease(self, name: str, namespace: str) -> dict[str, Any]:
        if self.body is None:
            raise self._error(404)
        return copy.deepcopy(self.body)

    async def create_namespaced_lease(self, namespace: str, body: dict[str, Any]) -> None:
        if self.body is not None:
            raise self._error(409)
        self._store(body)

    async def replace_namespaced_lease(
        self, name: str, namespace: str, body: dict[str, Any]
    ) -> None:
        assert self.body is not None
        if body["metadata"].get("resourceVersion") != self.body["metadata"]["resourceVersion"]:
            raise self._error(409)
        self._store(body)

    def _store(self, body: dict[str, Any]) -> None:
        self.version += 1
        self.body = copy.deepcopy(body)
        self.body["metadata"]["resourceVersion"] = str(self.version)


def elector(leases: FakeLeases, identity: str, clock: list[float]) -> LeaderElector:
    made = LeaderElector(
        leases.api_client,
        namespace="ops",
        name="lease",
        identity=identity,
        lease_seconds=10,
        renew_seconds=0.01,
        renew_deadline=5,
        retry_seconds=0.01,
        monotonic=lambda: clock[0],
    )
    made._api = leases
    return made


async def test_one_leader_a_waiting_standby_and_a_clean_handover() -> None:
    leases = FakeLeases()
    clock = [0.0]
    a, b = elector(leases, "a", clock), elector(leases, "b", clock)
    try:
        assert await a.try_acquire_or_renew() is True
        assert await b.try_acquire_or_renew() is False
        clock[0] = 9.0
        assert await a.try_acquire_or_renew() is True  # renewed: b's wait starts over
        clock[0] = 15.0
        assert await b.try_acquire_or_renew() is False
        a.is_leader = True
        await a.release()
        assert leases.body is not None
        assert leases.body["spec"]["holderIdentity"] is None
        assert await b.try_acquire_or_renew() is True
        assert leases.body["spec"]["leaseTransitions"] == 1
    finally:
        await leases.api_client.close()


async def test_hold_returns_when_another_replica_took_the_lease() -> None:
    leases = FakeLeases()
    clock = [0.0]
    a = elector(leases, "a", clock)
    try:
        stop = asyncio.Event()
        assert await a.acquire(stop)
        assert leases.body is not None
        leases.body["spec"]["holderIdentity"] = "intruder"
        await asyncio.wait_for(a.hold(stop), timeout=2)
        assert a.is_leader is False
    finally:
        await leases.api_client.close()
