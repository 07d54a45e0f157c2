"""End to end on kind: image, chart, sample app, a commit reaching a running pod.

1. build the operator image from the Dockerfile and load it into the kind node;
2. put a git repository made from examples/account-config on the node (the operator reads
   it through a hostPath volume as ``git+file://``: kind has no git server, and a pod can
   reach the node's filesystem without any network setup);
3. install the chart (2 replicas, leader election, hardened pod) with that image and wait
   for the rollout, which proves the image runs as uid 65532 on a read-only root and passes
   its /healthz probes;
4. apply a Workspace, wait for Ready, deploy examples/sample-app (the ConfigMap mounted as a
   directory) and ask it for ``account-limits`` through a port-forward;
5. commit a change, request a refresh, and wait until the same pod (same name, no restart)
   answers with the new value: the kubelet's volume update plus the SDK's hot-read.

Skipped without a Docker engine (see conftest.py).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from scripts import gitrepo, kube

from tests.cluster.launcher import locate_bin_dir

REPO = Path(__file__).resolve().parents[2]
IMAGE = os.environ.get("ROTOTO_E2E_IMAGE", "rototo-operator:e2e")
NODE_DIR = "/srv/rototo-e2e"
REPO_NAME = "account-config"
NAMESPACE = "rototo-e2e"
OPERATOR_NAMESPACE = "rototo-system"
CONTEXT = {"account": {"plan": "enterprise"}}

pytestmark = pytest.mark.timeout(1200)


def tool(name: str) -> Path:
    """A kubectl/helm on PATH, else the ones built for the local control plane."""
    found = shutil.which(name)
    return Path(found) if found else locate_bin_dir(build=True) / name


class Cluster:
    def __init__(self, kind: Any, work: Path) -> None:
        self.kind = kind
        self.kubeconfig = Path(kind.kubeconfig_path).resolve()
        self.node = f"{kind.name}-control-plane"
        self.work = work

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> str:
        done = kube.run(
            [tool("kubectl"), f"--kubeconfig={self.kubeconfig}", *args],
            input=input,
            check=check,
            timeout=300,
        )
        return done.stdout

    def helm(self, *args: str) -> str:
        return kube.run(
            [tool("helm"), *args, "--kubeconfig", self.kubeconfig],
            env=kube.helm_env(self.work / "helm"),
            timeout=600,
        ).stdout

    def docker(self, *args: str) -> str:
        return kube.run(["docker", *args], timeout=900).stdout

    def publish_repo(self, repo: gitrepo.GitRepo) -> None:
        """Copy the repository onto the node, swapping it in with one rename."""
        staging = f"{NODE_DIR}/.incoming-{uuid.uuid4().hex[:8]}"
        self.docker("exec", self.node, "mkdir", "-p", NODE_DIR)
        self.docker("cp", f"{repo.path}/.", f"{self.node}:{staging}")
        target = f"{NODE_DIR}/{REPO_NAME}"
        # The operator runs as 65532; libgit2 refuses repositories owned by someone else.
        script = (
            f"chown -R 65532:65532 {staging} && rm -rf {target}.old && "
            f"if [ -e {target} ]; then mv {target} {target}.old; fi && mv {staging} {target}"
        )
        self.docker("exec", self.node, "sh", "-c", script)


@pytest.fixture(scope="module")
def cluster(kind: Any, tmp_path_factory: pytest.TempPathFactory) -> Cluster:
    return Cluster(kind, tmp_path_factory.mktemp("kind"))


@pytest.fixture(scope="module")
def image(cluster: Cluster) -> str:
    cluster.docker("build", "--tag", IMAGE, str(REPO))
    user = cluster.docker("image", "inspect", IMAGE, "--format", "{{.Config.User}}").strip()
    assert user == "65532:65532", f"the image runs as {user!r}"
    cluster.kind.load_docker_image(IMAGE)
    return IMAGE


@pytest.fixture(scope="module")
def repo(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> gitrepo.GitRepo:
    made = gitrepo.GitRepo.from_directory(
        REPO / "examples" / "account-config",
        tmp_path_factory.mktemp("git") / REPO_NAME,
        "account-config: first reviewed version",
    )
    cluster.publish_repo(made)
    return made


def operator_values(image: str) -> dict[str, Any]:
    """Chart values for kind: the loaded image, local sources, the node's repo directory."""
    repository, _, tag = image.rpartition(":")
    return {
        "image": {"repository": repository, "tag": tag, "pullPolicy": "Never"},
        "allowLocalSources": True,
        "extraVolumes": [
            {"name": "repos", "hostPath": {"path": NODE_DIR, "type": "DirectoryOrCreate"}}
        ],
        "extraVolumeMounts": [{"name": "repos", "mountPath": NODE_DIR}],
    }


def sample_app_documents(rendered: str, image: str) -> list[dict[str, Any]]:
    """examples/sample-app as kustomize renders it, running on the loaded image."""
    docs = kube.documents(rendered)
    for doc in docs:
        if doc["kind"] == "Deployment":
            for container in doc["spec"]["template"]["spec"]["containers"]:
                container["image"] = image
                container["imagePullPolicy"] = "Never"
    return docs


@pytest.fixture(scope="module")
def operator(cluster: Cluster, image: str) -> Iterator[None]:
    values = operator_values(image)
    values_file = cluster.work / "values.json"
    values_file.write_text(json.dumps(values))
    cluster.helm(
        "upgrade",
        "--install",
        "rototo-operator",
        str(kube.CHART),
        "--namespace",
        OPERATOR_NAMESPACE,
        "--create-namespace",
        "--values",
        str(values_file),
    )
    cluster.kubectl(
        "rollout",
        "status",
        "deployment/rototo-operator",
        "-n",
        OPERATOR_NAMESPACE,
        "--timeout=300s",
    )
    yield
    cluster.helm("uninstall", "rototo-operator", "--namespace", OPERATOR_NAMESPACE)


@pytest.fixture(scope="module")
def workspace(cluster: Cluster, operator: None, repo: gitrepo.GitRepo) -> str:
    cluster.kubectl("create", "namespace", NAMESPACE, check=False)
    manifest = {
        "apiVersion": "rototo.dev/v1alpha1",
        "kind": "Workspace",
        "metadata": {"name": REPO_NAME, "namespace": NAMESPACE},
        "spec": {"source": f"git+file://{NODE_DIR}/{REPO_NAME}#main", "periodSeconds": 10},
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(manifest))
    cluster.kubectl(
        "wait",
        "--for=condition=Ready",
        f"workspace/{REPO_NAME}",
        "-n",
        NAMESPACE,
        "--timeout=180s",
    )
    return REPO_NAME


@pytest.fixture(scope="module")
def sample_app(cluster: Cluster, workspace: str, image: str) -> str:
    rendered = cluster.kubectl("kustomize", str(REPO / "examples" / "sample-app"))
    docs = sample_app_documents(rendered, image)
    cluster.kubectl("apply", "-n", NAMESPACE, "-f", "-", input=kube.yaml_dump_all(docs))
    cluster.kubectl("rollout", "status", "deployment/sample-app", "-n", NAMESPACE, "--timeout=300s")
    return "sample-app"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def port_forward(cluster: Cluster, sample_app: str) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [
            str(tool("kubectl")),
            f"--kubeconfig={cluster.kubeconfig}",
            "port-forward",
            "-n",
            NAMESPACE,
            f"service/{sample_app}",
            f"{port}:80",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        kube.eventually(lambda: answer(base) is not None, what="the port-forward", timeout=60)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


def answer(base: str) -> dict[str, Any] | None:
    query = urllib.parse.urlencode({"context": json.dumps(CONTEXT)})
    try:
        with urllib.request.urlopen(f"{base}/resolve/account-limits?{query}", timeout=5) as r:
            body: dict[str, Any] = json.loads(r.read())
            return body
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


def app_pod(cluster: Cluster) -> tuple[str, int]:
    pods = json.loads(
        cluster.kubectl(
            "get",
            "pods",
            "-n",
            NAMESPACE,
            "-l",
            "app.kubernetes.io/name=sample-app",
            "-o",
            "json",
        )
    )["items"]
    running = [p for p in pods if p["status"].get("phase") == "Running"]
    assert len(running) == 1, [p["metadata"]["name"] for p in pods]
    restarts = sum(c["restartCount"] for c in running[0]["status"]["containerStatuses"])
    return running[0]["metadata"]["name"], restarts


def test_operator_replicas_run_hardened(cluster: Cluster, operator: None) -> None:
    deployment = json.loads(
        cluster.kubectl(
            "get", "deployment", "rototo-operator", "-n", OPERATOR_NAMESPACE, "-o", "json"
        )
    )
    assert deployment["status"].get("readyReplicas") == 2
    lease = json.loads(
        cluster.kubectl("get", "lease", "rototo-operator", "-n", OPERATOR_NAMESPACE, "-o", "json")
    )
    assert lease["spec"]["holderIdentity"], "no replica holds the leader Lease"


def test_a_commit_reaches_the_running_pod_without_restart(
    cluster: Cluster, repo: gitrepo.GitRepo, port_forward: str
) -> None:
    first = answer(port_forward)
    assert first is not None
    assert first["value"]["api_requests_per_minute"] == 30000
    assert first["fingerprint"] == f"git:{repo.head()}"
    pod, restarts = app_pod(cluster)

    repo.set_enterprise_api_limit(45000)
    sha = repo.commit_all("Raise the enterprise API limit")
    cluster.publish_repo(repo)
    cluster.kubectl(
        "annotate",
        "workspace",
        REPO_NAME,
        "-n",
        NAMESPACE,
        "--overwrite",
        f"rototo.dev/refresh-requested-at={time.time_ns()}",
    )
    # Operator refresh, then the kubelet's sync (up to a minute or two), then the SDK period.
    kube.eventually(
        lambda: (answer(port_forward) or {}).get("fingerprint") == f"git:{sha}",
        what="the pod to serve the new commit",
        timeout=300,
        interval=2,
    )
    latest = answer(port_forward)
    assert latest is not None
    assert latest["value"]["api_requests_per_minute"] == 45000
    assert app_pod(cluster) == (pod, restarts), "the pod was replaced or restarted"
