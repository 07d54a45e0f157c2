"""The local control plane gives the real API semantics the operator tests rely on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.cluster import launcher
from tests.cluster.launcher import Kubectl

POLL_TIMEOUT = 60.0


def eventually(
    check: Callable[[], bool], *, timeout: float = POLL_TIMEOUT, what: str = "condition"
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.25)
    pytest.fail(f"{what} did not hold within {timeout:.0f}s")


def gone(kubectl: Kubectl, *args: str) -> bool:
    done = kubectl("get", *args, "-o", "name", check=False)
    if done.returncode == 0:
        return False
    assert "NotFound" in done.stderr, done.stderr
    return True


@pytest.fixture
def namespace(kubectl: Kubectl) -> Iterator[str]:
    name = f"cp-{uuid.uuid4().hex[:10]}"
    kubectl("create", "namespace", name)
    yield name
    kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found")


def test_apiserver_is_ready(kubectl: Kubectl) -> None:
    assert kubectl("get", "--raw", "/readyz").stdout.strip() == "ok"


CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gizmos.cptest.rototo.dev
spec:
  group: cptest.rototo.dev
  scope: Namespaced
  names: {plural: gizmos, singular: gizmo, kind: Gizmo}
  versions:
    - name: v1
      served: true
      storage: true
      subresources: {status: {}}
      additionalPrinterColumns:
        - {name: Colour, type: string, jsonPath: .spec.colour}
        - {name: Teeth, type: integer, jsonPath: .spec.teeth}
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              required: [colour]
              properties:
                colour: {type: string, enum: [red, blue]}
                teeth: {type: integer, minimum: 1, default: 12}
"""


def test_crd_is_served_with_printer_columns_and_validation(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl("apply", "-f", "-", input=CRD)
    try:
        kubectl(
            "wait", "--for=condition=Established", "crd/gizmos.cptest.rototo.dev", "--timeout=60s"
        )
        gizmo = {
            "apiVersion": "cptest.rototo.dev/v1",
            "kind": "Gizmo",
            "metadata": {"name": "sprocket", "namespace": namespace},
            "spec": {"colour": "blue"},
        }
        eventually(
            lambda: (
                kubectl("apply", "-f", "-", input=json.dumps(gizmo), check=False).returncode == 0
            ),
            what="creating a Gizmo",
        )
        table = kubectl("get", "gizmos", "-n", namespace).stdout.splitlines()
        assert table[0].split() == ["NAME", "COLOUR", "TEETH"]
        assert table[1].split()[:3] == ["sprocket", "blue", "12"]  # the schema default applied

        bad = {**gizmo, "metadata": {"name": "bad", "namespace": namespace}}
        bad["spec"] = {"colour": "green"}
        rejected = kubectl("apply", "-f", "-", input=json.dumps(bad), check=False)
        assert rejected.returncode != 0
        assert "Unsupported value" in rejected.stderr, rejected.stderr
    finally:
        kubectl("delete", "crd", "gizmos.cptest.rototo.dev", "--ignore-not-found", "--wait=false")


def test_garbage_collector_deletes_dependents_of_a_deleted_owner(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl("create", "configmap", "owner", "-n", namespace)
    uid = kubectl("get", "configmap", "owner", "-n", namespace, "-o", "jsonpath={.metadata.uid}")
    dependent = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "dependent",
            "namespace": namespace,
            "ownerReferences": [
                {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": uid.stdout}
            ],
        },
        "data": {"k": "v"},
    }
    kubectl("apply", "-f", "-", input=json.dumps(dependent))
    kubectl("delete", "configmap", "owner", "-n", namespace, "--wait=false")
    eventually(
        lambda: gone(kubectl, "configmap", "dependent", "-n", namespace),
        timeout=30,
        what="garbage collection of the dependent ConfigMap",
    )


def test_deleted_namespace_finishes_terminating(kubectl: Kubectl) -> None:
    name = f"cp-doomed-{uuid.uuid4().hex[:8]}"
    kubectl("create", "namespace", name)
    kubectl("create", "configmap", "content", "-n", name, "--from-literal=k=v")
    kubectl("delete", "namespace", name, "--wait=false")
    eventually(lambda: gone(kubectl, "namespace", name), what=f"namespace {name} to terminate")


def service_account_kubeconfig(kubectl: Kubectl, token: str, path: Path) -> Path:
    """A kubeconfig for the same server that authenticates with ``token`` only."""
    admin = json.loads(kubectl("config", "view", "--raw", "--minify", "-o", "json").stdout)
    cluster = admin["clusters"][0]["cluster"]
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": cluster}],
        "users": [{"name": "sa", "user": {"token": token}}],
        "contexts": [{"name": "sa", "context": {"cluster": "c", "user": "sa"}}],
        "current-context": "sa",
    }
    path.write_text(json.dumps(doc))
    return path


def test_service_account_token_is_subject_to_rbac(
    kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    kubectl("create", "serviceaccount", "reader", "-n", namespace)
    kubectl("create", "configmap", "visible", "-n", namespace)
    token = kubectl("create", "token", "reader", "-n", namespace, "--duration=10m").stdout.strip()
    as_sa = Kubectl(
        kubectl.binary, service_account_kubeconfig(kubectl, token, tmp_path / "sa.kubeconfig")
    )

    whoami = as_sa("auth", "whoami", "-o", "jsonpath={.status.userInfo.username}")
    assert whoami.stdout == f"system:serviceaccount:{namespace}:reader"
    denied = as_sa("get", "configmaps", "-n", namespace, check=False)
    assert denied.returncode != 0
    assert "Forbidden" in denied.stderr, denied.stderr
    assert as_sa("auth", "can-i", "list", "configmaps", "-n", namespace, check=False).stdout == (
        "no\n"
    )

    kubectl("create", "role", "cm-reader", "-n", namespace, "--verb=get,list", "--resource=cm")
    kubectl(
        "create",
        "rolebinding",
        "cm-reader",
        "-n",
        namespace,
        "--role=cm-reader",
        f"--serviceaccount={namespace}:reader",
    )
    eventually(
        lambda: as_sa("get", "configmaps", "-n", namespace, check=False).returncode == 0,
        what="the RoleBinding to take effect",
    )
    assert "visible" in as_sa("get", "configmaps", "-n", namespace, "-o", "name").stdout
    # Still nothing beyond the Role.
    assert as_sa("auth", "can-i", "delete", "configmaps", "-n", namespace, check=False).stdout == (
        "no\n"
    )
    assert as_sa("get", "secrets", "-n", namespace, check=False).returncode != 0


def test_helm_runs_against_the_cluster(
    cluster: Path, cluster_bin_dir: Path, tmp_path: Path
) -> None:
    helm = str(cluster_bin_dir / "helm")
    version = subprocess.run(
        [helm, "version", "--short"], capture_output=True, text=True, check=True, timeout=60
    )
    assert version.stdout.startswith("v3."), version.stdout
    listed = subprocess.run(
        [helm, "list", "--all-namespaces", "--kubeconfig", str(cluster)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={**os.environ, "HELM_CACHE_HOME": str(tmp_path / "helm-cache")},
    )
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split()[:2] == ["NAME", "NAMESPACE"]


def processes_mentioning(text: str) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in cmdline and launcher.process_start_time(int(proc.name)) is not None:
            found.append(f"{proc.name}: {cmdline}")
    return found


def test_launcher_up_then_down_leaves_no_process(cluster_bin_dir: Path, tmp_path: Path) -> None:
    state_dir = tmp_path / "cluster-state"
    cli = [sys.executable, str(Path(launcher.__file__)), "--state-dir", str(state_dir)]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [*cli[:2], *args, *cli[2:]]
        return subprocess.run(command, capture_output=True, text=True, check=False, timeout=240)

    started = run("up", "--bin-dir", str(cluster_bin_dir))
    try:
        assert started.returncode == 0, started.stderr
        kubeconfig = Path(started.stdout.strip())
        assert kubeconfig == state_dir / "kubeconfig"
        state = launcher.read_state(state_dir)
        assert state is not None
        assert state.ready
        assert [p.name for p in state.processes] == list(launcher.SERVERS)
        assert all(p.alive() for p in state.processes)
        ready = Kubectl(cluster_bin_dir / "kubectl", kubeconfig)("get", "--raw", "/readyz")
        assert ready.stdout == "ok"
        assert run("up", "--bin-dir", str(cluster_bin_dir)).stdout.strip() == str(kubeconfig)
    finally:
        stopped = run("down")
    assert stopped.returncode == 0, stopped.stderr
    assert not any(p.alive() for p in state.processes)
    assert state.supervisor is not None
    assert not state.supervisor.alive()
    assert processes_mentioning(str(state_dir)) == []
    assert launcher.read_state(state_dir) is None


def test_a_stale_state_file_does_not_block_the_next_start(
    cluster_bin_dir: Path, tmp_path: Path
) -> None:
    state_dir = tmp_path / "stale"
    state_dir.mkdir()
    (state_dir / launcher.STATE_FILE).write_text(
        json.dumps(
            {
                "ready": True,
                "supervisor": {"pid": 1, "start_time": -1},  # pid reused by something else
                "processes": [{"name": "etcd", "pid": 999_999_999, "start_time": 5}],
                "ports": {},
                "kubeconfig": str(state_dir / "kubeconfig"),
                "bin_dir": str(cluster_bin_dir),
            }
        )
    )
    assert launcher.running(state_dir) is None
    with launcher.ControlPlane(state_dir, cluster_bin_dir) as cp:
        kubectl = Kubectl(cluster_bin_dir / "kubectl", cp.kubeconfig)
        assert kubectl("get", "--raw", "/readyz").stdout == "ok"
        pids = [rec for rec, _ in cp.processes]
    assert not any(p.alive() for p in pids)
    assert processes_mentioning(str(state_dir)) == []
