"""One attempt at a time, against in-memory fakes: outcomes, writes, events, backoff, stale."""

from __future__ import annotations

import pytest

from rototo_operator.api import models
from rototo_operator.controller import publishing, reconcile
from tests.unit.controller import fakes
from tests.unit.controller.fakes import GIT, Clock, FakeCluster, FakeStager

SHA1 = "git:" + "1" * 40
SHA2 = "git:" + "2" * 40
SOURCE = f"{GIT}#main"


@pytest.fixture
def cluster() -> FakeCluster:
    return FakeCluster()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def rt(cluster: FakeCluster, clock: Clock) -> reconcile.Runtime:
    return fakes.runtime(cluster, clock)


def last_status(cluster: FakeCluster) -> dict[str, object]:
    return cluster.workspaces[("payments", "cfg")]["status"]  # type: ignore[no-any-return]


async def test_first_attempt_publishes_and_reports_ready(
    cluster: FakeCluster, rt: reconcile.Runtime
) -> None:
    FakeStager.versions[SOURCE] = SHA1
    memory = reconcile.Memory()
    await reconcile.attempt(fakes.workspace(), "start", memory, rt)
    assert cluster.configmap_writes == [("create", "cfg")]
    status = last_status(cluster)
    assert status["lastRefreshOutcome"] == "refreshed"
    assert status["currentFingerprint"] == SHA1
    assert status["shortFingerprint"] == "11111111"
    assert status["refreshing"] is False
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")  # type: ignore[attr-defined]
    assert (ready["status"], ready["reason"]) == ("True", "Published")
    assert [e[1] for e in cluster.events] == ["Published"]
    # Staging happened: one refreshing mark, then the result.
    assert [p.get("refreshing") for p in cluster.status_patches] == [True, False]


async def test_unchanged_attempt_writes_status_once_and_nothing_else(
    cluster: FakeCluster, rt: reconcile.Runtime, clock: Clock
) -> None:
    FakeStager.versions[SOURCE] = SHA1
    memory = reconcile.Memory()
    ws = fakes.workspace()
    await reconcile.attempt(ws, "start", memory, rt)
    writes, events, patches = (
        len(cluster.configmap_writes),
        len(cluster.events),
        len(cluster.status_patches),
    )
    clock.advance(60)
    await reconcile.attempt(ws, "period", memory, rt)
    assert len(cluster.configmap_writes) == writes
    assert len(cluster.events) == events
    assert len(cluster.status_patches) == patches + 1
    assert FakeStager.stages == [SOURCE], "an unchanged probe stages nothing"
    assert last_status(cluster)["lastRefreshOutcome"] == "unchanged"


async def test_failure_keeps_the_last_known_good_and_backs_off(
    cluster: FakeCluster, rt: reconcile.Runtime, clock: Clock
) -> None:
    FakeStager.versions[SOURCE] = SHA1
    memory = reconcile.Memory()
    ws = fakes.workspace(failureBackoff={"initialSeconds": 5, "maxSeconds": 20})
    await reconcile.attempt(ws, "start", memory, rt)
    published = cluster.configmaps[("payments", "cfg")]
    FakeStager.versions[SOURCE] = SHA2
    fakes.BROKEN.add(SHA2)
    delays = []
    for _ in range(4):
        clock.advance(1)
        await reconcile.attempt(ws, "period", memory, rt)
        assert memory.next_attempt_at is not None
        delays.append((memory.next_attempt_at - clock.now).total_seconds())
    assert delays == [5.0, 10.0, 20.0, 20.0]
    assert cluster.configmaps[("payments", "cfg")] == published
    status = last_status(cluster)
    assert status["consecutiveFailures"] == 4
    assert status["currentFingerprint"] == SHA1
    assert "variables/limits.toml: error rototo/variable-value-type-mismatch" in str(
        status["lastError"]
    )
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")  # type: ignore[attr-defined]
    assert (ready["status"], ready["reason"]) == ("False", "LintFailed")
    kind, reason, message = cluster.events[-1]
    assert (kind, reason) == ("Warning", "RefreshFailed")
    assert message.startswith("variables/limits.toml: error rototo/variable-value-type-mismatch")
    assert message.endswith(
        "(still serving 11111111, the last known good version; next attempt in 20s)"
    )

    fakes.BROKEN.clear()
    await reconcile.attempt(ws, "period", memory, rt)
    status = last_status(cluster)
    assert status["consecutiveFailures"] == 0
    assert "lastError" not in status
    assert status["currentFingerprint"] == SHA2


async def test_initial_failure_publishes_nothing(
    cluster: FakeCluster, rt: reconcile.Runtime
) -> None:
    memory = reconcile.Memory()
    await reconcile.attempt(fakes.workspace(), "start", memory, rt)
    assert cluster.configmaps == {}
    status = last_status(cluster)
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")  # type: ignore[attr-defined]
    assert (ready["status"], ready["reason"]) == ("False", "FetchFailed")
    assert "nothing is published yet" in ready["message"]
    assert "currentFingerprint" not in status


async def test_restart_with_the_same_version_writes_no_configmap(
    cluster: FakeCluster, rt: reconcile.Runtime
) -> None:
    FakeStager.versions[SOURCE] = SHA1
    ws = fakes.workspace()
    await reconcile.attempt(ws, "start", reconcile.Memory(), rt)
    status = models.WorkspaceStatus.model_validate(last_status(cluster))
    writes = list(cluster.configmap_writes)
    # A new process: memory comes from the status only.
    memory = reconcile.Memory.from_status(status)
    cluster.events.clear()
    await reconcile.attempt(ws, "start", memory, rt)
    assert cluster.configmap_writes == writes
    assert last_status(cluster)["lastRefreshOutcome"] == "unchanged"
    assert cluster.events == []


async def test_tampered_configmap_is_restored_without_fetching(
    cluster: FakeCluster, rt: reconcile.Runtime
) -> None:
    FakeStager.versions[SOURCE] = SHA1
    memory = reconcile.Memory()
    ws = fakes.workspace()
    await reconcile.attempt(ws, "start", memory, rt)
    original = dict(cluster.configmaps[("payments", "cfg")]["data"])
    cluster.configmaps[("payments", "cfg")]["data"] = {"workspace.json": "{}"}
    probes = len(FakeStager.probes)
    await reconcile.attempt(ws, "output", memory, rt)
    assert cluster.configmaps[("payments", "cfg")]["data"] == original
    assert len(FakeStager.probes) == probes
    assert cluster.events[-1][1] == "OutputRestored"


async def test_pinned_source_is_immutable(cluster: FakeCluster, rt: reconcile.Runtime) -> None:
    pinned = f"{GIT}#{'a' * 40}"
    FakeStager.versions[pinned] = "git:" + "a" * 40
    memory = reconcile.Memory()
    ws = fakes.workspace(source=pinned)
    await reconcile.attempt(ws, "start", memory, rt)
    assert memory.next_attempt_at is None
    status = last_status(cluster)
    assert (status["immutable"], status["lastRefreshOutcome"]) == (True, "immutable")
    assert "nextRefreshAt" not in status
    await reconcile.attempt(ws, "manual", memory, rt)
    assert FakeStager.probes == [pinned], "a pinned source is never probed again"


async def test_staleness_is_re_evaluated_without_an_attempt(
    cluster: FakeCluster, rt: reconcile.Runtime, clock: Clock
) -> None:
    FakeStager.versions[SOURCE] = SHA1
    memory = reconcile.Memory()
    ws = fakes.workspace(maxStalenessSeconds=100, suspend=False)
    await reconcile.attempt(ws, "start", memory, rt)
    deadline = reconcile.stale_deadline(ws, memory)
    assert deadline is not None
    clock.now = deadline
    await reconcile.summarise(ws, memory, rt)
    status = last_status(cluster)
    assert status["stale"] is True
    stale = next(c for c in status["conditions"] if c["type"] == "Stale")  # type: ignore[attr-defined]
    assert (stale["status"], stale["reason"]) == ("True", "MaxStalenessExceeded")
    assert reconcile.stale_deadline(ws, memory) is None
    patches = len(cluster.status_patches)
    await reconcile.summarise(ws, memory, rt)
    assert len(cluster.status_patches) == patches, "an identical status is not rewritten"


async def test_suspended_workspace_is_not_refreshed(
    cluster: FakeCluster, rt: reconcile.Runtime
) -> None:
    FakeStager.versions[SOURCE] = SHA1
    memory = reconcile.Memory()
    await reconcile.attempt(fakes.workspace(suspend=True), "start", memory, rt)
    assert FakeStager.probes == []
    status = last_status(cluster)
    assert "nextRefreshAt" not in status
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")  # type: ignore[attr-defined]
    assert ready["reason"] == "Progressing"


async def test_local_sources_need_the_flag(cluster: FakeCluster, rt: reconcile.Runtime) -> None:
    memory = reconcile.Memory()
    await reconcile.attempt(
        fakes.workspace(source="git+file:///srv/repo#main"), "start", memory, rt
    )
    ready = next(c for c in last_status(cluster)["conditions"] if c["type"] == "Ready")  # type: ignore[attr-defined]
    assert ready["reason"] == "SourceRefused"
    assert FakeStager.stages == []


async def test_secret_ref_reads_only_the_workspace_namespace(
    cluster: FakeCluster, rt: reconcile.Runtime
) -> None:
    FakeStager.versions[SOURCE] = SHA1
    cluster.secrets[("other", "creds")] = {"username": "u", "password": "p"}
    memory = reconcile.Memory()
    ws = fakes.workspace(secretRef={"name": "creds"})
    await reconcile.attempt(ws, "start", memory, rt)
    status = last_status(cluster)
    assert "Secret payments/creds" in str(status["lastError"])
    cluster.secrets[("payments", "creds")] = {"username": "u", "password": "hunter2"}
    await reconcile.attempt(ws, "manual", memory, rt)
    assert last_status(cluster)["lastRefreshOutcome"] == "refreshed"
    assert "hunter2" not in repr(cluster.status_patches) + repr(cluster.events)


async def test_output_over_the_limit_is_a_clear_failure(
    cluster: FakeCluster, rt: reconcile.Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    FakeStager.versions[SOURCE] = SHA1
    monkeypatch.setattr(publishing, "CONFIGMAP_LIMIT", 40_000)
    monkeypatch.setattr(publishing, "GZIP_THRESHOLD", 1_000)
    fakes.SIZES[SHA1] = 10_000_000
    # Incompressible padding would be needed for real; shrink the limit instead.
    monkeypatch.setattr(publishing, "_MARGIN", 39_990)
    memory = reconcile.Memory()
    await reconcile.attempt(fakes.workspace(), "start", memory, rt)
    status = last_status(cluster)
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")  # type: ignore[attr-defined]
    assert ready["reason"] == "OutputTooLarge"
    assert "ConfigMap" in str(status["lastError"])
    assert cluster.configmaps == {}
