"""`RefreshingWorkspace` over an in-memory loader: the loop, backoff, shutdown and lifetime."""

from __future__ import annotations

import asyncio
import gc
import weakref

import pytest

from rototo_operator.errors import RototoError
from rototo_operator.sdk.refresh import RefreshingWorkspace
from tests.support.refresh_fakes import FakeClock, FakeLoader, ManualSleeper, settle

SHA_A = "git:" + "a" * 40
SHA_B = "git:" + "b" * 40
SHA_C = "git:" + "c" * 40


def other_tasks() -> set[asyncio.Task[object]]:
    return {task for task in asyncio.all_tasks() if task is not asyncio.current_task()}


async def start(
    loader: FakeLoader,
    *,
    period_seconds: float | None = 30,
    failure_backoff: tuple[float, float] = (5, 300),
) -> tuple[RefreshingWorkspace, FakeClock, ManualSleeper]:
    clock = FakeClock()
    sleeper = ManualSleeper(clock)
    workspace = await RefreshingWorkspace.from_loader(
        loader,
        period_seconds=period_seconds,
        failure_backoff=failure_backoff,
        clock=clock,
        sleeper=sleeper,
    )
    return workspace, clock, sleeper


async def test_resolves_against_the_loaded_workspace() -> None:
    workspace, _, _ = await start(FakeLoader(SHA_A, {"limit": 10}), period_seconds=None)
    async with workspace:
        resolution = await workspace.resolve_variable("limit", {})
        assert (resolution.id, resolution.value) == ("limit", 10)
        assert await workspace.resolve_qualifier("premium", {"premium": True})
        assert workspace.root == f"/staged/{SHA_A}"
        assert await workspace.lint() == {"diagnostics": []}
        snapshot = await workspace.status()
        assert snapshot.current_fingerprint == SHA_A
        assert snapshot.consecutive_failures == 0


async def test_a_failed_initial_load_raises_and_starts_nothing() -> None:
    loader = FakeLoader(SHA_A)
    loader.break_source("variables/limit.toml:2: error rototo/invalid-toml")
    closed: list[bool] = []
    with pytest.raises(RototoError, match="invalid-toml"):
        await RefreshingWorkspace.from_loader(
            loader, period_seconds=1, on_close=lambda: closed.append(True)
        )
    assert closed == [True]
    assert other_tasks() == set()


async def test_refresh_now_reports_each_outcome_and_serves_the_new_workspace() -> None:
    loader = FakeLoader(SHA_A, {"limit": 1})
    workspace, _, _ = await start(loader, period_seconds=None)
    async with workspace:
        assert await workspace.refresh_now() == "unchanged"
        loader.publish(SHA_B, {"limit": 2})
        assert await workspace.refresh_now() == "refreshed"
        assert (await workspace.resolve_variable("limit", {})).value == 2


async def test_a_failed_refresh_now_raises_and_keeps_serving() -> None:
    loader = FakeLoader(SHA_A, {"limit": 1})
    workspace, _, _ = await start(loader, period_seconds=None)
    async with workspace:
        loader.publish(SHA_B, {"limit": 2})
        loader.break_source("variables/limit.toml:7: error rototo/variable-value-type-mismatch")
        with pytest.raises(RototoError, match="type-mismatch"):
            await workspace.refresh_now()
        assert (await workspace.resolve_variable("limit", {})).value == 1
        snapshot = await workspace.status()
        assert snapshot.consecutive_failures == 1
        assert snapshot.current_fingerprint == SHA_A
        assert snapshot.last_error is not None


async def test_immutable_sources_refresh_as_immutable_and_start_no_task() -> None:
    loader = FakeLoader(SHA_A, immutable=True)
    workspace, _, _ = await start(loader, period_seconds=30)
    async with workspace:
        assert other_tasks() == set()
        assert await workspace.refresh_now() == "immutable"
        assert (await workspace.status()).immutable


async def test_no_period_means_no_background_task() -> None:
    workspace, _, _ = await start(FakeLoader(SHA_A), period_seconds=None)
    async with workspace:
        assert other_tasks() == set()


async def test_the_loop_refreshes_every_period() -> None:
    loader = FakeLoader(SHA_A, {"limit": 1})
    workspace, clock, sleeper = await start(loader, period_seconds=30)
    async with workspace:
        assert await sleeper.wait_sleeping() == 30
        await sleeper.wake()
        assert loader.probes == 2  # initial load + one periodic probe, no load
        assert loader.loads == 1

        loader.publish(SHA_B, {"limit": 2})
        await sleeper.wake()
        assert (await workspace.resolve_variable("limit", {})).value == 2
        snapshot = await workspace.status()
        assert snapshot.current_fingerprint == SHA_B
        assert snapshot.last_success == clock.now.timestamp()
        assert sleeper.delays == [30, 30, 30]


async def test_the_loop_backs_off_on_failure_and_resets_on_success() -> None:
    loader = FakeLoader(SHA_A, {"limit": 1})
    workspace, _, sleeper = await start(loader, period_seconds=60, failure_backoff=(5, 30))
    async with workspace:
        loader.publish(SHA_B, {"limit": 2})
        loader.break_source()
        for _ in range(6):
            await sleeper.wake()
        snapshot = await workspace.status()
        assert snapshot.consecutive_failures == 6
        assert (await workspace.resolve_variable("limit", {})).value == 1
        loader.fix_source()
        await sleeper.wake()
        await sleeper.wait_sleeping()
        assert sleeper.delays == [60, 5, 10, 20, 30, 30, 30, 60]
        assert (await workspace.status()).consecutive_failures == 0
        assert (await workspace.resolve_variable("limit", {})).value == 2


async def test_staleness_follows_the_injected_clock() -> None:
    loader = FakeLoader(SHA_A)
    workspace, clock, sleeper = await start(loader, period_seconds=60)
    async with workspace:
        loader.publish(SHA_B, {})
        loader.break_source()
        for _ in range(4):
            await sleeper.wake()  # 60 + 5 + 10 + 20 seconds of failing
        snapshot = await workspace.status()
        assert snapshot.stale(60, now=clock.now)
        assert not snapshot.stale(120, now=clock.now)


async def test_refresh_now_and_the_loop_never_overlap() -> None:
    loader = FakeLoader(SHA_A, probe_supported=False)
    workspace, _, sleeper = await start(loader, period_seconds=30)
    async with workspace:
        loader.publish(SHA_B, {"limit": 2})
        loader.gate = asyncio.Event()
        await sleeper.wake()  # the loop's attempt now waits inside load()
        manual = [asyncio.create_task(workspace.refresh_now()) for _ in range(2)]
        await settle()
        assert (await workspace.status()).refreshing
        loader.gate.set()
        outcomes = await asyncio.gather(*manual)
        assert loader.max_active_loads == 1
        assert outcomes == ["unchanged", "unchanged"]


async def test_shutdown_stops_the_loop_and_waits_for_it() -> None:
    loader = FakeLoader(SHA_A)
    workspace, _, sleeper = await start(loader, period_seconds=30)
    await sleeper.wait_sleeping()
    assert len(other_tasks()) == 1
    await workspace.shutdown()
    assert other_tasks() == set()
    await workspace.shutdown()  # idempotent


async def test_shutdown_during_an_attempt_leaves_no_refreshing_state() -> None:
    loader = FakeLoader(SHA_A)
    workspace, _, sleeper = await start(loader, period_seconds=30)
    loader.publish(SHA_B, {})
    loader.gate = asyncio.Event()
    await sleeper.wake()
    assert workspace._core.status().refreshing
    await workspace.shutdown()
    assert other_tasks() == set()
    assert not workspace._core.status().refreshing


async def test_every_method_refuses_after_shutdown() -> None:
    workspace, _, _ = await start(FakeLoader(SHA_A), period_seconds=None)
    await workspace.shutdown()
    for call in (
        workspace.status(),
        workspace.refresh_now(),
        workspace.resolve_variable("limit", {}),
        workspace.resolve_qualifier("q", {}),
    ):
        with pytest.raises(RototoError, match="shut down"):
            await call
    with pytest.raises(RototoError, match="shut down"):
        _ = workspace.root


async def test_async_with_shuts_down_on_exit() -> None:
    closed: list[bool] = []
    clock = FakeClock()
    sleeper = ManualSleeper(clock)
    async with await RefreshingWorkspace.from_loader(
        FakeLoader(SHA_A),
        period_seconds=5,
        sleeper=sleeper,
        clock=clock,
        on_close=lambda: closed.append(True),
    ) as workspace:
        await sleeper.wait_sleeping()
        assert len(other_tasks()) == 1
    assert other_tasks() == set()
    assert closed == [True]
    with pytest.raises(RototoError):
        await workspace.status()


async def test_dropping_the_handle_cancels_its_task() -> None:
    closed: list[bool] = []
    clock = FakeClock()
    sleeper = ManualSleeper(clock)
    workspace = await RefreshingWorkspace.from_loader(
        FakeLoader(SHA_A),
        period_seconds=5,
        sleeper=sleeper,
        clock=clock,
        on_close=lambda: closed.append(True),
    )
    await sleeper.wait_sleeping()
    (task,) = other_tasks()
    alive = weakref.ref(workspace)
    del workspace
    gc.collect()
    await settle()
    assert alive() is None
    assert task.cancelled()
    assert other_tasks() == set()
    assert closed == [True]


async def test_dropping_the_handle_while_refreshing_cancels_the_attempt() -> None:
    loader = FakeLoader(SHA_A)
    clock = FakeClock()
    sleeper = ManualSleeper(clock)
    workspace = await RefreshingWorkspace.from_loader(
        loader, period_seconds=5, sleeper=sleeper, clock=clock
    )
    loader.publish(SHA_B, {})
    loader.gate = asyncio.Event()
    await sleeper.wake()
    assert loader.active_loads == 1
    del workspace
    gc.collect()
    await settle()
    assert other_tasks() == set()
    assert loader.active_loads == 0


async def test_a_resolution_is_not_mutated_by_a_later_refresh() -> None:
    loader = FakeLoader(SHA_A, {"limits": {"rps": 10, "regions": ["eu"]}})
    workspace, _, _ = await start(loader, period_seconds=None)
    async with workspace:
        kept = await workspace.resolve_variable("limits", {})
        loader.publish(SHA_B, {"limits": {"rps": 50, "regions": ["us"]}})
        assert await workspace.refresh_now() == "refreshed"
        fresh = await workspace.resolve_variable("limits", {})
        assert kept.value == {"rps": 10, "regions": ["eu"]}
        assert fresh.value == {"rps": 50, "regions": ["us"]}


async def test_invalid_options_raise_value_error() -> None:
    with pytest.raises(ValueError, match="period_seconds"):
        await RefreshingWorkspace.from_loader(FakeLoader(SHA_A), period_seconds=0)
    with pytest.raises(ValueError, match="failure backoff"):
        await RefreshingWorkspace.from_loader(FakeLoader(SHA_A), failure_backoff=(0, 1))
    with pytest.raises(ValueError, match="lint must be one of"):
        await RefreshingWorkspace.load("examples/basic", lint="warn")
    with pytest.raises(ValueError, match="period_seconds"):
        await RefreshingWorkspace.load("examples/basic", period_seconds=-5)


def test_a_handle_outliving_its_event_loop_is_collected_quietly() -> None:
    closed: list[bool] = []

    async def make() -> RefreshingWorkspace:
        workspace = await RefreshingWorkspace.from_loader(
            FakeLoader(SHA_A), period_seconds=3600, on_close=lambda: closed.append(True)
        )
        await settle()
        return workspace

    # asyncio.run cancels the refresh task when it closes its loop; the handle lives on.
    workspace = asyncio.run(make())
    assert closed == []
    del workspace
    gc.collect()
    assert closed == [True]
