"""Stopping loops mid-attempt: finish within the grace, or abandon without publishing."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from rototo_operator.controller import loops
from tests.unit.controller import fakes
from tests.unit.controller.fakes import GIT, Clock, FakeCluster, FakeStager

SOURCE = f"{GIT}#main"


class SlowStager(FakeStager):
    """Stages take until `release` is set (in the worker thread, as real git work does)."""

    release = threading.Event()
    started = threading.Event()

    def stage(self, source: str, *, fresh_after: float | None = None) -> Any:
        SlowStager.started.set()
        SlowStager.release.wait(5)
        return super().stage(source, fresh_after=fresh_after)


def body() -> dict[str, Any]:
    return {
        "metadata": {"name": "cfg", "namespace": "payments", "uid": "u", "generation": 1},
        "spec": {"source": SOURCE},
    }


async def start_slow_attempt(cluster: FakeCluster) -> loops.Registry:
    rt = fakes.runtime(cluster, Clock())
    rt.loads._stager_factory = SlowStager
    SlowStager.release.clear()
    SlowStager.started.clear()
    FakeStager.versions[SOURCE] = "git:" + "1" * 40
    registry = loops.Registry(rt)
    registry.workspace_event(None, body())
    await asyncio.to_thread(SlowStager.started.wait, 5)
    await asyncio.sleep(0.05)
    assert cluster.workspaces[("payments", "cfg")]["status"]["refreshing"] is True
    return registry


async def test_an_attempt_past_the_grace_is_abandoned_without_publishing() -> None:
    cluster = FakeCluster()
    registry = await start_slow_attempt(cluster)
    try:
        await asyncio.wait_for(registry.stop(grace=0.1), timeout=3)
    finally:
        SlowStager.release.set()
    assert cluster.configmaps == {}
    assert cluster.workspaces[("payments", "cfg")]["status"]["refreshing"] is False


async def test_an_attempt_within_the_grace_finishes_and_publishes() -> None:
    cluster = FakeCluster()
    registry = await start_slow_attempt(cluster)
    stopping = asyncio.create_task(registry.stop(grace=5))
    await asyncio.sleep(0.1)
    SlowStager.release.set()
    await asyncio.wait_for(stopping, timeout=5)
    assert ("payments", "cfg") in cluster.configmaps
    status = cluster.workspaces[("payments", "cfg")]["status"]
    assert (status["refreshing"], status["lastRefreshOutcome"]) == (False, "refreshed")
