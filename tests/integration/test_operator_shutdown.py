"""SIGTERM while a refresh is in flight, with the operator as a real process.

The source is git over HTTPS (`tests/support/git_servers.py`) whose upload-pack answers are
held back (`upload_pack_delay`, far longer than the grace), so a fetch is still running when
the process gets SIGTERM. What docs/operations.md ("Shutdown") promises is checked: the
process exits 0 after its `--shutdown-grace` without waiting for the blocked fetch, nothing
is half-published (the ConfigMap still holds the last known good version, untouched, or is
still absent before a first load), and the stopping process itself clears the `refreshing`
mark and the Refreshing condition. A later start publishes what was held back.

Losing the Lease is the other way an active replica stops: when another holder takes it
(here `kubectl patch` plays the intruder), the replica stops its loops, exits 1 without
touching the Lease, and a standby takes over once the intruder's record has gone
unrenewed for a Lease duration.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.launcher import Kubectl
from tests.integration.operator_support import (
    VARIABLE,
    OperatorProcess,
    apply_secret,
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
from tests.support.git_servers import GitHttpsServer, Pki, Repo, make_pki, require_git

GRACE = 2.0
# Stopping kopf's watches, the status write of the cancelled attempt and the metrics server
# take a few seconds on a loaded machine; a wait for the held fetch would take SERVER_DELAY.
STOP_OVERHEAD = 12.0
SERVER_DELAY = 45.0


def workspace_files(value: int) -> dict[str, str]:
    return {
        "rototo-workspace.toml": "schema_version = 1\n",
        "variables/summary-token-budget.toml": VARIABLE.format(value=value),
    }


@pytest.fixture
def namespace(kubectl: Kubectl) -> Iterator[str]:
    with workspace_namespace(kubectl, "stop") as name:
        yield name


@dataclasses.dataclass
class Served:
    repo: Repo
    pki: Pki
    server: GitHttpsServer

    @property
    def secret(self) -> dict[str, str]:
        return {"username": "u", "password": "p", "ca.crt": self.pki.ca_pem}


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """A repository behind git over HTTPS (Basic auth u:p, a private CA)."""
    require_git()
    repo = Repo(tmp_path)
    pki = make_pki(tmp_path / "pki")
    with GitHttpsServer(pki, repo.bare.parent, username="u", password="p") as server:
        assert isinstance(server, GitHttpsServer)
        yield Served(repo, pki, server)


def start(cluster: Path, tmp_path: Path, label: str, namespace: str, *mode: str) -> OperatorProcess:
    return start_operator(
        cluster,
        tmp_path,
        label,
        "--namespace",
        namespace,
        "--shutdown-grace",
        str(GRACE),
        *(mode or ("--standalone",)),  # last: these override the defaults above
        cache_dir=tmp_path / "cache",  # one cache across restarts, like a persistent volume
    )


def hold_fetches(served: Served, kubectl: Kubectl, namespace: str, name: str) -> None:
    """Wait until a fetch is blocked at the server and the Workspace is marked refreshing."""
    eventually(
        lambda: any(
            method == "POST" and path.endswith("/git-upload-pack")
            for method, path in list(served.server.requests)
        ),
        what="a fetch reaching the server",
    )
    eventually(
        lambda: status_of(kubectl, namespace, name).get("refreshing") is True,
        what="the refreshing mark",
    )
    assert condition(status_of(kubectl, namespace, name), "Refreshing")["status"] == "True"


def sigterm(proc: OperatorProcess) -> float:
    """SIGTERM; the seconds until the process exited 0 (fails when it takes too long)."""
    sent = time.monotonic()
    proc.proc.send_signal(signal.SIGTERM)
    try:
        code = proc.proc.wait(GRACE + STOP_OVERHEAD)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(
            f"the operator did not exit within {GRACE + STOP_OVERHEAD:.0f}s of SIGTERM "
            f"(grace {GRACE:.0f}s):\n{proc.log_text()}"
        )
    elapsed = time.monotonic() - sent
    proc.terminate()  # closes the log file
    assert code == 0, proc.log_text()
    assert "blocked source operation(s) abandoned" in proc.log_text()
    # The abandoned fetch's staging directory went too, though its thread never returned.
    leftovers = sorted(path.name for path in proc.tmpdir.glob("rototo-stage-*"))
    assert not leftovers, f"staging directories left behind: {leftovers}"
    return elapsed


def assert_mark_cleared(kubectl: Kubectl, namespace: str, name: str) -> dict[str, Any]:
    status = status_of(kubectl, namespace, name)
    assert status["refreshing"] is False
    assert condition(status, "Refreshing")["status"] == "False"
    return status


def test_sigterm_during_a_fetch_keeps_the_last_known_good_version(
    cluster: Path, kubectl: Kubectl, namespace: str, served: Served, tmp_path: Path
) -> None:
    repo, server = served.repo, served.server
    good = repo.commit(workspace_files(1800))
    apply_secret(kubectl, namespace, "creds", served.secret)
    source = f"git+{server.url('config.git')}#main"
    first = start(cluster, tmp_path, "first", namespace)
    try:
        create(kubectl, "cfg", namespace, source, periodSeconds=1, secretRef={"name": "creds"})
        wait_ready(kubectl, namespace, "cfg", f"git:{good}")
        before = published(kubectl, namespace, "cfg")
        assert before is not None
        # The next commit's objects are held back by the server: its fetch hangs.
        server.upload_pack_delay = SERVER_DELAY
        server.requests.clear()
        newer = repo.commit(workspace_files(1900))
        hold_fetches(served, kubectl, namespace, "cfg")
    except BaseException:
        first.kill()
        raise

    elapsed = sigterm(first)
    assert elapsed >= GRACE * 0.9, "the in-flight attempt got its grace period"

    # No partial publish: the ConfigMap was not written at all.
    after = published(kubectl, namespace, "cfg")
    assert after is not None
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert after["metadata"]["annotations"]["rototo.dev/fingerprint"] == f"git:{good}"
    status = assert_mark_cleared(kubectl, namespace, "cfg")
    assert status["currentFingerprint"] == f"git:{good}"
    assert condition(status, "Ready")["status"] == "True"

    # A new start, with the server answering again, publishes the held-back commit.
    server.upload_pack_delay = 0.0
    second = start(cluster, tmp_path, "second", namespace)
    try:
        wait_ready(kubectl, namespace, "cfg", f"git:{newer}")
    finally:
        assert second.terminate() == 0, second.log_text()


def test_sigterm_during_the_first_fetch_publishes_nothing(
    cluster: Path, kubectl: Kubectl, namespace: str, served: Served, tmp_path: Path
) -> None:
    first_commit = served.repo.commit(workspace_files(2000))
    apply_secret(kubectl, namespace, "creds", served.secret)
    served.server.upload_pack_delay = SERVER_DELAY
    proc = start(cluster, tmp_path, "only", namespace)
    try:
        source = f"git+{served.server.url('config.git')}#main"
        create(kubectl, "new", namespace, source, periodSeconds=1, secretRef={"name": "creds"})
        hold_fetches(served, kubectl, namespace, "new")
    except BaseException:
        proc.kill()
        raise
    sigterm(proc)
    assert published(kubectl, namespace, "new") is None
    status = assert_mark_cleared(kubectl, namespace, "new")
    assert "currentFingerprint" not in status
    ready = condition(status, "Ready")
    assert (ready["status"], ready["reason"]) == ("Unknown", "Progressing")

    served.server.upload_pack_delay = 0.0
    again = start(cluster, tmp_path, "again", namespace)
    try:
        wait_ready(kubectl, namespace, "new", f"git:{first_commit}")
    finally:
        assert again.terminate() == 0, again.log_text()


def lease_holder(kubectl: Kubectl, namespace: str) -> str | None:
    lease = get_json(kubectl, "lease", "ha", "-n", namespace) or {}
    holder: str | None = lease.get("spec", {}).get("holderIdentity")
    return holder


def take_lease(kubectl: Kubectl, namespace: str) -> None:
    """Play another replica: hold Lease `ha` as "intruder", renewed now, then never again."""
    renewed = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    intruder = {"holderIdentity": "intruder", "renewTime": renewed}
    kubectl(
        "patch",
        "lease",
        "ha",
        "-n",
        namespace,
        "--type",
        "merge",
        "-p",
        json.dumps({"spec": intruder}),
    )


def elected(
    cluster: Path, tmp_path: Path, namespace: str, name: str, *extra: str
) -> OperatorProcess:
    election = ("--leader-elect", "--lease-namespace", namespace, "--lease-name", "ha")
    timing = ("--lease-duration", "4", "--identity", name)
    return start(cluster, tmp_path, name, namespace, *election, *timing, *extra)


def test_a_replica_that_loses_the_lease_stops_and_a_standby_takes_over(
    cluster: Path, kubectl: Kubectl, namespace: str, served: Served, tmp_path: Path
) -> None:
    repo, server = served.repo, served.server
    first = repo.commit(workspace_files(2100))
    apply_secret(kubectl, namespace, "creds", served.secret)

    active = elected(cluster, tmp_path, namespace, "replica-a")
    standby: OperatorProcess | None = None
    try:
        eventually(lambda: lease_holder(kubectl, namespace) == "replica-a", what="a leading")
        standby = elected(cluster, tmp_path, namespace, "replica-b")
        source = f"git+{server.url('config.git')}#main"
        create(kubectl, "ha", namespace, source, periodSeconds=1, secretRef={"name": "creds"})
        wait_ready(kubectl, namespace, "ha", f"git:{first}")

        take_lease(kubectl, namespace)
        try:
            code = active.proc.wait(30)
        except subprocess.TimeoutExpired:
            pytest.fail(f"replica-a kept running without the Lease:\n{active.log_text()}")
        active.terminate()  # closes the log file
        assert code == 1, active.log_text()
        assert "leadership lost: another replica holds the Lease" in active.log_text()
        # Stepping down never hands back a Lease it no longer holds.
        assert lease_holder(kubectl, namespace) in ("intruder", "replica-b")

        # The intruder never renews: after one Lease duration replica-b takes over and
        # publishes the next commit.
        second = repo.commit(workspace_files(2200))
        wait_ready(kubectl, namespace, "ha", f"git:{second}")
        assert lease_holder(kubectl, namespace) == "replica-b"
        configmap = published(kubectl, namespace, "ha")
        assert configmap is not None
        assert configmap["metadata"]["annotations"]["rototo.dev/fingerprint"] == f"git:{second}"
    finally:
        active.kill()
        if standby is not None:
            assert standby.terminate() == 0, standby.log_text()


def test_losing_the_lease_mid_fetch_stops_at_once_not_after_the_grace(
    cluster: Path, kubectl: Kubectl, namespace: str, served: Served, tmp_path: Path
) -> None:
    repo, server = served.repo, served.server
    good = repo.commit(workspace_files(2300))
    apply_secret(kubectl, namespace, "creds", served.secret)
    # A grace far longer than the Lease: were it granted, a standby could take over while
    # this replica still finishes (and publishes) its attempt.
    active = elected(cluster, tmp_path, namespace, "replica-a", "--shutdown-grace", "60")
    try:
        eventually(lambda: lease_holder(kubectl, namespace) == "replica-a", what="a leading")
        source = f"git+{server.url('config.git')}#main"
        create(kubectl, "ha", namespace, source, periodSeconds=1, secretRef={"name": "creds"})
        wait_ready(kubectl, namespace, "ha", f"git:{good}")
        before = published(kubectl, namespace, "ha")
        assert before is not None
        server.upload_pack_delay = SERVER_DELAY
        server.requests.clear()
        repo.commit(workspace_files(2400))
        hold_fetches(served, kubectl, namespace, "ha")

        take_lease(kubectl, namespace)
        try:
            code = active.proc.wait(GRACE + STOP_OVERHEAD)
        except subprocess.TimeoutExpired:
            pytest.fail(f"replica-a is still finishing its attempt:\n{active.log_text()}")
        active.terminate()
        assert code == 1, active.log_text()
        assert "leadership lost" in active.log_text()
    finally:
        active.kill()
    after = published(kubectl, namespace, "ha")
    assert after is not None
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert_mark_cleared(kubectl, namespace, "ha")
    assert lease_holder(kubectl, namespace) == "intruder"


def test_sigterm_keeps_renewing_the_lease_through_the_grace_then_hands_it_over(
    cluster: Path, kubectl: Kubectl, namespace: str, served: Served, tmp_path: Path
) -> None:
    repo, server = served.repo, served.server
    good = repo.commit(workspace_files(2500))
    apply_secret(kubectl, namespace, "creds", served.secret)
    grace = 8.0  # twice the Lease duration: a replica that stopped renewing would lose it
    active = elected(cluster, tmp_path, namespace, "replica-a", "--shutdown-grace", str(grace))
    standby: OperatorProcess | None = None
    try:
        eventually(lambda: lease_holder(kubectl, namespace) == "replica-a", what="a leading")
        standby = elected(cluster, tmp_path, namespace, "replica-b")
        source = f"git+{server.url('config.git')}#main"
        create(kubectl, "ha", namespace, source, periodSeconds=1, secretRef={"name": "creds"})
        wait_ready(kubectl, namespace, "ha", f"git:{good}")
        server.upload_pack_delay = SERVER_DELAY
        server.requests.clear()
        newer = repo.commit(workspace_files(2600))
        hold_fetches(served, kubectl, namespace, "ha")
        # Only the request already held stays held: the standby's fetches go through.
        server.upload_pack_delay = 0.0

        sent = time.monotonic()
        active.proc.send_signal(signal.SIGTERM)
        deadline = sent + grace + STOP_OVERHEAD
        held_for: float | None = None  # seconds after SIGTERM the Lease left replica-a
        while active.proc.poll() is None and time.monotonic() < deadline:
            if held_for is None and lease_holder(kubectl, namespace) != "replica-a":
                held_for = time.monotonic() - sent
            time.sleep(0.2)
        assert active.proc.poll() == 0, active.log_text()
        active.terminate()
        # Kept while the attempt had its grace (were renewals stopped, the standby would
        # take it after one 4 s Lease duration); released once the loops had stopped.
        assert held_for is not None, "released before the process exits"
        assert held_for >= grace * 0.9, f"the Lease left replica-a {held_for:.1f}s after SIGTERM"

        # Released on exit: the standby takes over and fetches the held-back commit.
        wait_ready(kubectl, namespace, "ha", f"git:{newer}")
        assert lease_holder(kubectl, namespace) == "replica-b"
    finally:
        active.kill()
        if standby is not None:
            assert standby.terminate() == 0, standby.log_text()
