"""The refresh core (`Refresher`) against an in-memory loader and a fake clock."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from rototo_operator.engine import compiled
from rototo_operator.errors import RototoError, WorkspaceLoadError
from rototo_operator.sdk.refresher import Refresher, describe_failure, workspace_identity
from tests.support.refresh_fakes import START, FakeClock, FakeLoader, FakeWorkspace

SHA_A = "git:" + "a" * 40
SHA_B = "git:" + "b" * 40
SHA_C = "git:" + "c" * 40


async def loaded(loader: FakeLoader, clock: FakeClock | None = None) -> Refresher[FakeWorkspace]:
    refresher = Refresher(loader, clock=clock or FakeClock())
    assert await refresher.refresh() == "refreshed"
    return refresher


async def test_first_refresh_is_the_initial_load() -> None:
    clock = FakeClock()
    loader = FakeLoader(SHA_A, {"limit": 10})
    refresher = Refresher(loader, clock=clock)
    before = refresher.current
    assert before is None
    assert refresher.status().current_fingerprint is None

    assert await refresher.refresh() == "refreshed"

    assert refresher.current is not None
    assert refresher.current.values == {"limit": 10}
    snapshot = refresher.status()
    assert snapshot.current_fingerprint == SHA_A
    assert snapshot.last_success == START.timestamp()
    assert snapshot.last_attempt == START.timestamp()
    assert (snapshot.consecutive_failures, snapshot.last_error) == (0, None)
    assert not snapshot.refreshing
    assert not snapshot.immutable


async def test_a_failed_initial_load_leaves_nothing_current() -> None:
    loader = FakeLoader(SHA_A)
    loader.break_source("rototo-workspace.toml:1: error rototo/manifest missing")
    refresher = Refresher(loader, clock=FakeClock())
    with pytest.raises(RototoError, match="manifest missing"):
        await refresher.refresh()
    snapshot = refresher.status()
    assert refresher.current is None
    assert snapshot.current_fingerprint is None
    assert snapshot.last_success is None
    assert snapshot.consecutive_failures == 1
    assert snapshot.last_error == "rototo-workspace.toml:1: error rototo/manifest missing"


async def test_unchanged_is_decided_by_the_probe_without_loading() -> None:
    loader = FakeLoader(SHA_A)
    refresher = await loaded(loader)
    assert loader.loads == 1

    assert await refresher.refresh() == "unchanged"

    assert loader.loads == 1
    assert loader.probes == 2


async def test_unchanged_falls_back_to_the_loaded_fingerprint_when_probing_is_unsupported() -> None:
    loader = FakeLoader(SHA_A, probe_supported=False)
    refresher = await loaded(loader)
    first = refresher.current

    assert await refresher.refresh() == "unchanged"

    assert loader.loads == 2
    assert refresher.current is first


async def test_unchanged_counts_as_a_success_for_staleness() -> None:
    clock = FakeClock()
    loader = FakeLoader(SHA_A)
    refresher = await loaded(loader, clock)
    clock.advance(900)
    assert await refresher.refresh() == "unchanged"
    snapshot = refresher.status()
    assert snapshot.last_success == clock.now.timestamp()
    assert not snapshot.stale(600, now=clock.now)


async def test_a_changed_source_is_refreshed_and_becomes_current() -> None:
    clock = FakeClock()
    loader = FakeLoader(SHA_A, {"limit": 1})
    refresher = await loaded(loader, clock)
    loader.publish(SHA_B, {"limit": 2})
    clock.advance(30)

    assert await refresher.refresh() == "refreshed"

    assert refresher.current is not None
    assert refresher.current.values == {"limit": 2}
    assert refresher.status().current_fingerprint == SHA_B
    assert refresher.status().last_success == clock.now.timestamp()


async def test_same_fingerprint_with_a_new_compiled_digest_is_refreshed() -> None:
    loader = FakeLoader(SHA_A, probe_supported=False)
    loader.digest = "sha256:" + "1" * 64
    refresher = await loaded(loader)
    loader.digest = "sha256:" + "2" * 64
    loader.values = {"limit": 99}
    assert await refresher.refresh() == "refreshed"
    assert refresher.current is not None
    assert refresher.current.values == {"limit": 99}


async def test_a_failed_refresh_raises_keeps_the_current_workspace_and_counts() -> None:
    clock = FakeClock()
    loader = FakeLoader(SHA_A, {"limit": 1})
    refresher = await loaded(loader, clock)
    served = refresher.current
    loader.publish(SHA_B, {"limit": 2})
    loader.break_source("variables/limit.toml:7: error rototo/variable-value-type-mismatch")

    for attempt in (1, 2, 3):
        clock.advance(5)
        with pytest.raises(WorkspaceLoadError, match="type-mismatch"):
            await refresher.refresh()
        snapshot = refresher.status()
        assert snapshot.consecutive_failures == attempt
        assert snapshot.last_attempt == clock.now.timestamp()

    assert refresher.current is served
    snapshot = refresher.status()
    assert snapshot.current_fingerprint == SHA_A
    assert snapshot.last_success == START.timestamp()
    assert (
        snapshot.last_error == "variables/limit.toml:7: error rototo/variable-value-type-mismatch"
    )
    assert not snapshot.refreshing


async def test_a_success_resets_failures_and_the_error() -> None:
    loader = FakeLoader(SHA_A)
    refresher = await loaded(loader)
    loader.publish(SHA_B, {"limit": 2})
    loader.break_source()
    with pytest.raises(RototoError):
        await refresher.refresh()
    loader.fix_source()
    assert await refresher.refresh() == "refreshed"
    snapshot = refresher.status()
    assert (snapshot.consecutive_failures, snapshot.last_error) == (0, None)


async def test_reverting_to_the_served_commit_after_failures_is_unchanged_and_a_success() -> None:
    loader = FakeLoader(SHA_A, {"limit": 1})
    refresher = await loaded(loader)
    loader.publish(SHA_B, {"limit": 2})
    loader.break_source()
    with pytest.raises(RototoError):
        await refresher.refresh()
    loader.fix_source()
    loader.publish(SHA_A, {"limit": 1})
    assert await refresher.refresh() == "unchanged"
    assert refresher.status().consecutive_failures == 0


async def test_unexpected_loader_errors_become_rototo_errors_and_count() -> None:
    loader = FakeLoader(SHA_A)
    refresher = await loaded(loader)
    loader.publish(SHA_B, {})
    loader.error = OSError(28, "No space left on device")
    with pytest.raises(RototoError, match="No space left on device") as caught:
        await refresher.refresh()
    assert isinstance(caught.value.__cause__, OSError)
    assert refresher.status().consecutive_failures == 1
    assert refresher.status().current_fingerprint == SHA_A


async def test_before_commit_sees_the_new_workspace_while_the_old_one_is_current() -> None:
    loader = FakeLoader(SHA_A, {"limit": 1})
    refresher = await loaded(loader)
    old = refresher.current
    seen: list[tuple[object, object]] = []

    async def publish(workspace: FakeWorkspace) -> None:
        seen.append((workspace.fingerprint, refresher.current))

    loader.publish(SHA_B, {"limit": 2})
    assert await refresher.refresh(before_commit=publish) == "refreshed"
    assert seen == [(SHA_B, old)]


async def test_before_commit_is_not_called_when_unchanged() -> None:
    loader = FakeLoader(SHA_A)
    refresher = await loaded(loader)
    calls: list[FakeWorkspace] = []

    async def publish(workspace: FakeWorkspace) -> None:
        calls.append(workspace)

    assert await refresher.refresh(before_commit=publish) == "unchanged"
    assert calls == []


async def test_a_failing_before_commit_fails_the_refresh_and_is_retried() -> None:
    loader = FakeLoader(SHA_A, {"limit": 1})
    refresher = await loaded(loader)
    old = refresher.current
    calls = 0

    async def publish(workspace: FakeWorkspace) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionResetError("API server went away")

    loader.publish(SHA_B, {"limit": 2})
    with pytest.raises(RototoError, match="API server went away"):
        await refresher.refresh(before_commit=publish)
    assert refresher.current is old
    assert refresher.status().consecutive_failures == 1

    # The probe token was not recorded, so the next attempt loads and publishes again.
    assert await refresher.refresh(before_commit=publish) == "refreshed"
    assert calls == 2
    assert refresher.status().current_fingerprint == SHA_B


async def test_immutable_sources_report_immutable_without_probing() -> None:
    clock = FakeClock()
    loader = FakeLoader(SHA_A, immutable=True)
    refresher = await loaded(loader, clock)
    clock.advance(10)

    assert await refresher.refresh() == "immutable"

    assert (loader.probes, loader.loads) == (1, 1)
    snapshot = refresher.status()
    assert snapshot.immutable
    assert snapshot.last_attempt == clock.now.timestamp()
    assert refresher.next_delay(30) is None


async def test_next_delay_follows_period_then_backoff_then_period() -> None:
    loader = FakeLoader(SHA_A)
    refresher = Refresher(loader, failure_backoff=(2, 9), clock=FakeClock())
    await refresher.refresh()
    assert refresher.next_delay(60) == 60.0
    assert refresher.next_delay(None) is None
    loader.publish(SHA_B, {})
    loader.break_source()
    delays = []
    for _ in range(4):
        with pytest.raises(RototoError):
            await refresher.refresh()
        delays.append(refresher.next_delay(60))
    assert delays == [2.0, 4.0, 8.0, 9.0]
    loader.fix_source()
    await refresher.refresh()
    assert refresher.next_delay(60) == 60.0


async def test_a_failed_initial_load_of_an_immutable_source_is_still_retried() -> None:
    loader = FakeLoader(SHA_A, immutable=True)
    loader.break_source()
    refresher = Refresher(loader, clock=FakeClock())
    with pytest.raises(RototoError):
        await refresher.refresh()
    assert refresher.next_delay(60) == 5.0


async def test_status_reports_refreshing_during_an_attempt() -> None:
    loader = FakeLoader(SHA_A)
    refresher = await loaded(loader)
    loader.publish(SHA_B, {})
    observed: list[bool] = []
    loader.on_load = lambda: observed.append(refresher.status().refreshing)
    await refresher.refresh()
    assert observed == [True]
    assert not refresher.status().refreshing


async def test_concurrent_refreshes_run_one_at_a_time() -> None:
    loader = FakeLoader(SHA_A, probe_supported=False)
    refresher = await loaded(loader)
    loader.publish(SHA_B, {"limit": 2})
    loader.gate = asyncio.Event()
    attempts = [asyncio.create_task(refresher.refresh()) for _ in range(3)]
    await asyncio.sleep(0)
    loader.gate.set()
    outcomes = await asyncio.gather(*attempts)
    assert loader.max_active_loads == 1
    assert sorted(outcomes) == ["refreshed", "unchanged", "unchanged"]


async def test_a_cancelled_attempt_is_not_a_failure_and_keeps_the_current() -> None:
    loader = FakeLoader(SHA_A)
    refresher = await loaded(loader)
    served = refresher.current
    loader.publish(SHA_B, {})
    loader.gate = asyncio.Event()
    attempt = asyncio.create_task(refresher.refresh())
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert refresher.status().refreshing
    attempt.cancel()
    with pytest.raises(asyncio.CancelledError):
        await attempt
    snapshot = refresher.status()
    assert not snapshot.refreshing
    assert snapshot.consecutive_failures == 0
    assert refresher.current is served


def test_bad_backoff_is_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="failure backoff"):
        Refresher(FakeLoader(), failure_backoff=(10, 1))


def lint_failure(tmp_path: Path, count: int) -> WorkspaceLoadError:
    (tmp_path / "variables").mkdir()
    (tmp_path / "rototo-workspace.toml").write_text("schema_version = 1\n")
    for index in range(count):
        (tmp_path / "variables" / f"v{index}.toml").write_text(
            'schema_version = 1\ndescription = "x"\ntype = "int"\n\n[resolve]\ndefault = "no"\n'
        )
    with pytest.raises(WorkspaceLoadError) as caught:
        compiled.compile_tree(tmp_path, source=str(tmp_path), fingerprint="sha256:0")
    return caught.value


def test_a_lint_failure_is_described_with_its_first_headlines(tmp_path: Path) -> None:
    text = describe_failure(lint_failure(tmp_path, 5))
    assert text.startswith("workspace lint failed with 5 diagnostic(s): ")
    assert "variables/v0.toml:6: error rototo/variable-value-type-mismatch" in text
    assert text.count("rototo/variable-value-type-mismatch") == 3
    assert text.endswith("(+2 more)")


def test_other_failures_are_described_by_their_message() -> None:
    assert describe_failure(RototoError("git ls-remote timed out")) == "git ls-remote timed out"
    assert describe_failure(RototoError()) == "RototoError"


async def test_status_carries_the_lint_headlines(tmp_path: Path) -> None:
    loader = FakeLoader(SHA_A)
    refresher = await loaded(loader)
    loader.publish(SHA_B, {})
    loader.error = lint_failure(tmp_path, 1)
    with pytest.raises(WorkspaceLoadError):
        await refresher.refresh()
    last_error = refresher.status().last_error
    assert last_error is not None
    assert "variables/v0.toml:6: error rototo/variable-value-type-mismatch" in last_error


def test_identity_reads_a_digest_from_the_workspace_or_its_compiled_model() -> None:
    class Published:
        fingerprint = SHA_A
        digest = "sha256:" + "3" * 64

    assert workspace_identity(Published()) == (SHA_A, "sha256:" + "3" * 64)
    assert workspace_identity(FakeWorkspace(SHA_A, {}, "sha256:" + "4" * 64)) == (
        SHA_A,
        "sha256:" + "4" * 64,
    )
    assert workspace_identity(FakeWorkspace(None, {})) == (None, None)
