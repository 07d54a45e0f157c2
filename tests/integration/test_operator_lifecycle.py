"""Operator processes starting, stopping, crashing and taking over, against a real API server.

Each test runs its own operator process(es), narrowed to its own namespace: local sources
refused without the flag, SIGTERM stops cleanly, a restart clears a `refreshing` mark left
by a crash without republishing, and two replicas with a Lease: killing the active one lets
the standby publish the next commit, and only one of them ever refreshes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.launcher import Kubectl
from tests.integration.operator_support import (
    GitRepo,
    condition,
    create,
    eventually,
    get_json,
    published,
    start_operator,
    status_of,
    wait_ready,
    workspace_namespace,
)


@pytest.fixture
def namespace(kubectl: Kubectl) -> Iterator[str]:
    with workspace_namespace(kubectl, "life") as name:
        yield name


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    return GitRepo(tmp_path / "repo")


def test_local_sources_are_refused_without_the_flag(
    cluster: Path, kubectl: Kubectl, namespace: str, repo: GitRepo, tmp_path: Path
) -> None:
    proc = start_operator(cluster, tmp_path, "strict", "--standalone", "--namespace", namespace)
    try:
        create(kubectl, "local", namespace, repo.source(), periodSeconds=1)
        status = eventually(
            lambda: (
                (s := status_of(kubectl, namespace, "local")).get("lastRefreshOutcome") == "failed"
                and s
            ),
            what="the local source refused",
        )
        ready = condition(status, "Ready")
        assert (ready["status"], ready["reason"]) == ("False", "SourceRefused")
        assert "--allow-local-sources" in status["lastError"]
        assert published(kubectl, namespace, "local") is None
    finally:
        assert proc.terminate() == 0, proc.log_text()


def test_sigterm_stops_cleanly_and_a_restart_clears_a_stale_refreshing_mark(
    cluster: Path, kubectl: Kubectl, namespace: str, repo: GitRepo, tmp_path: Path
) -> None:
    sha = repo.git("rev-parse", "HEAD")
    first = start_operator(
        cluster,
        tmp_path,
        "first",
        "--standalone",
        "--allow-local-sources",
        "--namespace",
        namespace,
    )
    try:
        create(kubectl, "cfg", namespace, repo.source(), periodSeconds=1)
        wait_ready(kubectl, namespace, "cfg", f"git:{sha}")
    finally:
        started = time.monotonic()
        code = first.terminate()
    assert code == 0, first.log_text()
    assert time.monotonic() - started < 25
    assert status_of(kubectl, namespace, "cfg")["refreshing"] is False
    configmap = published(kubectl, namespace, "cfg")
    assert configmap is not None

    # Simulate a process killed mid-attempt: the mark it wrote is still there.
    kubectl(
        "patch",
        "workspace",
        "cfg",
        "-n",
        namespace,
        "--subresource=status",
        "--type",
        "merge",
        "-p",
        json.dumps({"status": {"refreshing": True}}),
    )
    assert status_of(kubectl, namespace, "cfg")["refreshing"] is True

    second = start_operator(
        cluster,
        tmp_path,
        "second",
        "--standalone",
        "--allow-local-sources",
        "--namespace",
        namespace,
    )
    try:
        status = eventually(
            lambda: (
                (s := status_of(kubectl, namespace, "cfg")).get("refreshing") is False
                and s.get("lastAttempt") != None  # noqa: E711
                and s
            ),
            what="the refreshing mark cleared",
        )
        eventually(
            lambda: status_of(kubectl, namespace, "cfg").get("lastRefreshOutcome") == "unchanged",
            what="an unchanged refresh after the restart",
        )
        # The same version: the restart did not rewrite the ConfigMap.
        again = published(kubectl, namespace, "cfg")
        assert again is not None
        assert again["metadata"]["resourceVersion"] == configmap["metadata"]["resourceVersion"]
        assert status["currentFingerprint"] == f"git:{sha}"
    finally:
        assert second.terminate() == 0, second.log_text()


def test_two_replicas_one_active_and_the_standby_takes_over(
    cluster: Path, kubectl: Kubectl, namespace: str, repo: GitRepo, tmp_path: Path
) -> None:
    election = (
        "--leader-elect",
        "--lease-namespace",
        namespace,
        "--lease-name",
        "ha",
        "--lease-duration",
        "4",
        "--allow-local-sources",
        "--namespace",
        namespace,
    )
    active = start_operator(cluster, tmp_path, "a", *election, "--identity", "replica-a")
    eventually(
        lambda: (
            (get_json(kubectl, "lease", "ha", "-n", namespace) or {})
            .get("spec", {})
            .get("holderIdentity")
            == "replica-a"
        ),
        what="replica-a holding the Lease",
    )
    standby = start_operator(cluster, tmp_path, "b", *election, "--identity", "replica-b")
    try:
        first = repo.git("rev-parse", "HEAD")
        create(kubectl, "ha-cfg", namespace, repo.source(), periodSeconds=1)
        wait_ready(kubectl, namespace, "ha-cfg", f"git:{first}")
        time.sleep(2)
        active_metrics = active.http("/metrics")[1]
        standby_metrics = standby.http("/metrics")[1]
        assert "rototo_operator_leader 1.0" in active_metrics
        assert "rototo_operator_leader 0.0" in standby_metrics
        assert 'name="ha-cfg"' in active_metrics
        assert 'name="ha-cfg"' not in standby_metrics, "the standby must not refresh"

        active.kill()  # SIGKILL: no release, the standby waits out the Lease
        second = repo.commit_value("4242")
        wait_ready(kubectl, namespace, "ha-cfg", f"git:{second}")
        lease = get_json(kubectl, "lease", "ha", "-n", namespace)
        assert lease["spec"]["holderIdentity"] == "replica-b"
        assert lease["spec"]["leaseTransitions"] >= 1
        assert "rototo_operator_leader 1.0" in standby.http("/metrics")[1]
        cm = published(kubectl, namespace, "ha-cfg")
        assert cm is not None
        assert cm["metadata"]["annotations"]["rototo.dev/fingerprint"] == f"git:{second}"
    finally:
        active.kill()
        assert standby.terminate() == 0, standby.log_text()
    # A clean stop hands the Lease back at once.
    lease = get_json(kubectl, "lease", "ha", "-n", namespace)
    assert not lease["spec"].get("holderIdentity")
