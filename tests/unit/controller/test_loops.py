"""Loops react to watch events: start, manual requests, ConfigMap changes, deletion, stop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from rototo_operator.controller import loops, publishing
from tests.unit.controller import fakes
from tests.unit.controller.fakes import GIT, Clock, FakeCluster, FakeStager

SOURCE = f"{GIT}#main"


def body(annotations: dict[str, str] | None = None, generation: int = 1) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "cfg",
            "namespace": "payments",
            "uid": "uid-cfg",
            "generation": generation,
            "annotations": annotations or {},
        },
        "spec": {"source": SOURCE, "periodSeconds": 3600},
    }


async def until(check: Callable[[], bool]) -> None:
    for _ in range(200):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


async def test_loop_lifecycle() -> None:
    cluster = FakeCluster()
    rt = fakes.runtime(cluster, Clock())
    FakeStager.versions[SOURCE] = "git:" + "1" * 40
    registry = loops.Registry(rt)
    registry.workspace_event(None, body())
    await until(lambda: ("payments", "cfg") in cluster.configmaps)
    status = cluster.workspaces[("payments", "cfg")]["status"]
    assert status["lastRefreshOutcome"] == "refreshed"

    # Our own write coming back through the watch does not wake the loop.
    loop = registry.loops[("payments", "cfg")]
    assert loop.holds_published(cluster.configmaps[("payments", "cfg")])

    # A manual request is answered once.
    FakeStager.versions[SOURCE] = "git:" + "2" * 40
    registry.workspace_event("MODIFIED", body({"rototo.dev/refresh-requested-at": "r1"}))
    await until(lambda: status.get("lastHandledRefreshRequest") == "r1")
    assert status["currentFingerprint"] == "git:" + "2" * 40
    attempts = len(cluster.status_patches)
    registry.workspace_event("MODIFIED", body({"rototo.dev/refresh-requested-at": "r1"}))
    await asyncio.sleep(0.05)
    assert len(cluster.status_patches) == attempts

    # A hand edit is restored.
    cluster.configmaps[("payments", "cfg")]["data"] = {"workspace.json": "{}"}
    registry.configmap_event("MODIFIED", cluster.configmaps[("payments", "cfg")])
    served = loop.memory.published
    assert served is not None
    await until(
        lambda: (
            publishing.stored_digest(cluster.configmaps[("payments", "cfg")])
            == served.content_sha256
        )
    )

    registry.workspace_event("DELETED", body())
    assert ("payments", "cfg") not in registry.loops
    await until(lambda: loop.task is not None and loop.task.done())
    assert 'name="cfg"' not in rt.metrics.render().decode()
    await registry.stop(grace=1)


async def test_stop_ends_idle_loops_at_once() -> None:
    cluster = FakeCluster()
    rt = fakes.runtime(cluster, Clock())
    FakeStager.versions[SOURCE] = "git:" + "1" * 40
    registry = loops.Registry(rt)
    registry.workspace_event(None, body())
    await until(lambda: ("payments", "cfg") in cluster.configmaps)
    task = registry.loops[("payments", "cfg")].task
    await asyncio.wait_for(registry.stop(grace=30), timeout=2)
    assert task is not None
    assert task.done()
    assert cluster.workspaces[("payments", "cfg")]["status"]["refreshing"] is False
    registry.workspace_event("MODIFIED", body(generation=2))
    assert registry.loops == {}
