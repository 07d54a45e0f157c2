"""Periodic refreshes aligned per repository: siblings wake together and share one probe."""

from __future__ import annotations

import asyncio
import datetime
import functools
from collections.abc import Callable
from typing import Any

from rototo_operator.controller import loops, reconcile
from rototo_operator.sdk import backoff
from tests.unit.controller import fakes
from tests.unit.controller.fakes import GIT, Clock, FakeCluster, FakeStager

SOURCE = f"{GIT}#main"
SHA1 = "git:" + "1" * 40
SHA2 = "git:" + "2" * 40
PERIOD = 300


def body(name: str, source: str = SOURCE, period: int = PERIOD) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "payments", "uid": f"uid-{name}", "generation": 1},
        "spec": {"source": source, "periodSeconds": period},
    }


async def until(check: Callable[[], bool]) -> None:
    for _ in range(300):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


def next_refresh(cluster: FakeCluster, name: str) -> str | None:
    value = cluster.workspaces.get(("payments", name), {}).get("status", {}).get("nextRefreshAt")
    return None if value is None else str(value)


def has_next_refresh(cluster: FakeCluster, name: str) -> bool:
    return next_refresh(cluster, name) is not None


def serves(cluster: FakeCluster, name: str, fingerprint: str) -> bool:
    status = cluster.workspaces[("payments", name)]["status"]
    return bool(status.get("currentFingerprint") == fingerprint)


async def test_siblings_started_apart_wake_together_and_share_one_probe() -> None:
    cluster = FakeCluster()
    clock = Clock()
    rt = fakes.runtime(cluster, clock)
    FakeStager.versions[SOURCE] = SHA1
    registry = loops.Registry(rt)
    names = [f"cfg-{i}" for i in range(12)]
    try:
        for name in names:
            # Created at different moments: unaligned loops would keep these offsets forever.
            clock.advance(7)
            registry.workspace_event(None, body(name))
            await until(functools.partial(has_next_refresh, cluster, name))
        instants = {next_refresh(cluster, name) for name in names}
        assert len(instants) == 1, instants
        due = datetime.datetime.strptime(instants.pop() or "", "%Y-%m-%dT%H:%M:%S%z")
        assert clock.now < due <= clock.now + datetime.timedelta(seconds=PERIOD)
        phase = backoff.schedule_phase(
            reconcile.schedule_identity(
                registry.loops[("payments", names[0])].workspace,
                registry.loops[("payments", names[0])].memory,
            ),
            PERIOD,
        )
        assert (due.timestamp() - phase) % PERIOD == 0

        FakeStager.versions[SOURCE] = SHA2
        probes = len(FakeStager.probes)
        clock.now = due
        for name in names:
            # The worst case for in-flight sharing: each sibling wakes only after the one
            # before it has finished its whole attempt, probe included.
            loop = registry.loops[("payments", name)]
            loop.observe(loop.workspace)
            await until(functools.partial(serves, cluster, name, SHA2))
        assert len(FakeStager.probes) - probes == 1, "one probe for the whole round"
        assert FakeStager.stages.count(SOURCE) == 2, "one stage per version"
        later = {next_refresh(cluster, name) for name in names}
        assert later == {(due + datetime.timedelta(seconds=PERIOD)).strftime("%Y-%m-%dT%H:%M:%SZ")}
    finally:
        await registry.stop(grace=1)


async def test_a_manual_refresh_still_probes_and_a_new_round_probes_again() -> None:
    cluster = FakeCluster()
    clock = Clock()
    rt = fakes.runtime(cluster, clock)
    FakeStager.versions[SOURCE] = SHA1
    memories = {name: reconcile.Memory() for name in ("a", "b")}
    workspaces = {name: fakes.workspace(name, periodSeconds=PERIOD) for name in memories}
    for name, memory in memories.items():
        await reconcile.attempt(workspaces[name], "start", memory, rt)
    due = memories["a"].next_attempt_at
    assert due is not None
    assert due == memories["b"].next_attempt_at
    assert memories["a"].next_attempt_aligned

    clock.now = due
    probes = len(FakeStager.probes)
    await reconcile.attempt(workspaces["a"], "period", memories["a"], rt)
    FakeStager.versions[SOURCE] = SHA2
    await reconcile.attempt(workspaces["b"], "manual", memories["b"], rt)
    assert len(FakeStager.probes) - probes == 2, "a manual attempt is not a scheduled round"
    assert memories["b"].published is not None
    assert memories["b"].published.fingerprint == SHA2

    clock.now = memories["a"].next_attempt_at or due
    await reconcile.attempt(workspaces["a"], "period", memories["a"], rt)
    assert len(FakeStager.probes) - probes == 3, "the next round probes afresh"
    assert memories["a"].published is not None
    assert memories["a"].published.fingerprint == SHA2


async def test_failures_back_off_unaligned_and_other_repositories_get_other_phases() -> None:
    cluster = FakeCluster()
    clock = Clock()
    rt = fakes.runtime(cluster, clock)
    memory = reconcile.Memory()
    ws = fakes.workspace(periodSeconds=PERIOD)
    clock.advance(0.25)
    await reconcile.attempt(ws, "start", memory, rt)  # the source is unreachable
    assert memory.consecutive_failures == 1
    assert not memory.next_attempt_aligned
    assert memory.next_attempt_at == clock.now + datetime.timedelta(seconds=5)

    phases = {
        backoff.schedule_phase(
            reconcile.schedule_identity(
                fakes.workspace(source=f"git+https://git.example.invalid/r{i}.git#main"),
                reconcile.Memory(),
            ),
            PERIOD,
        )
        for i in range(20)
    }
    assert len(phases) > 15


async def test_a_round_hands_its_instant_to_the_stager_for_every_ref_and_path() -> None:
    """Sources on one repository that differ in ref or path wake together (the phase is the
    repository's) and probe and stage with the round's instant as `fresh_after`: the
    stager answers them from one ls-remote started at or after it. Other attempts pass
    None and ask anew."""
    cluster = FakeCluster()
    clock = Clock()
    rt = fakes.runtime(cluster, clock)
    sources = {"a": f"{GIT}#main:team-a", "b": f"{GIT}#main:team-b", "c": f"{GIT}#v1:team-a"}
    for source in sources.values():
        FakeStager.versions[source] = SHA1
    memories = {name: reconcile.Memory() for name in sources}
    workspaces = {
        name: fakes.workspace(name, source=source, periodSeconds=PERIOD)
        for name, source in sources.items()
    }
    for name, memory in memories.items():
        await reconcile.attempt(workspaces[name], "start", memory, rt)
    assert set(FakeStager.fresh) == {None}, "first loads are not a scheduled round"
    due = memories["a"].next_attempt_at
    assert due is not None
    assert {memory.next_attempt_at for memory in memories.values()} == {due}

    clock.now = due
    FakeStager.fresh.clear()
    for source in sources.values():
        FakeStager.versions[source] = SHA2
    for name, memory in memories.items():
        await reconcile.attempt(workspaces[name], "period", memory, rt)
    assert len(FakeStager.fresh) == 6, "a probe and a stage for each source"
    assert set(FakeStager.fresh) == {due.timestamp()}

    FakeStager.fresh.clear()
    await reconcile.attempt(workspaces["a"], "manual", memories["a"], rt)
    assert FakeStager.fresh == [None]
