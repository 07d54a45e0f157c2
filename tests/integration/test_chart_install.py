"""The chart installed into a real API server, and the operator running with its permissions.

There is no kubelet, so the chart's Deployment never starts a pod. Instead the operator runs
here as a local process whose only credential is a token of the chart's ServiceAccount
(``kubectl create token``, in a kubeconfig with the cluster's CA). It must do its whole job
with exactly the chart's RBAC: take the leader Lease in the release namespace, see a
Workspace in another namespace, read its source, publish the ConfigMap, write status and
Events, and publish again after a new commit. With the token of an account the chart did
not bind, the same operator must fail saying Forbidden. Installed with `watchNamespaces`,
the chart grants nothing cluster-scoped, and the operator must still serve the watched
namespace without one Forbidden request, and leave other namespaces alone.
"""

from __future__ import annotations

import contextlib
import json
import socket
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from scripts import gitrepo, kube

from tests.cluster.launcher import Kubectl


@dataclass(frozen=True)
class Release:
    name: str
    namespace: str
    service_account: str
    helm: Path
    helm_home: Path
    kubeconfig: Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def helm(release: Release, *args: str, check: bool = True) -> str:
    done = kube.run(
        [release.helm, *args, "--kubeconfig", release.kubeconfig],
        env=kube.helm_env(release.helm_home),
        check=check,
    )
    return done.stdout + done.stderr


@contextlib.contextmanager
def installed(
    kubectl: Kubectl, cluster: Path, cluster_bin_dir: Path, tmp_path: Path, *values: str
) -> Iterator[Release]:
    """`helm install` of the chart in a fresh namespace; uninstalled afterwards."""
    suffix = uuid.uuid4().hex[:6]
    rel = Release(
        name=f"rototo-{suffix}",
        namespace=f"rototo-system-{suffix}",
        service_account=f"rototo-{suffix}-rototo-operator",
        helm=cluster_bin_dir / "helm",
        helm_home=tmp_path / "helm",
        kubeconfig=cluster,
    )
    sets = [arg for value in ("image.pullPolicy=Never", *values) for arg in ("--set", value)]
    try:
        helm(
            rel,
            "install",
            rel.name,
            str(kube.CHART),
            "--namespace",
            rel.namespace,
            "--create-namespace",
            *sets,
        )
        yield rel
    finally:
        helm(rel, "uninstall", rel.name, "--namespace", rel.namespace, check=False)
        kubectl("delete", "namespace", rel.namespace, "--wait=false", check=False)


@pytest.fixture
def release(
    kubectl: Kubectl, cluster: Path, cluster_bin_dir: Path, tmp_path: Path
) -> Iterator[Release]:
    with installed(kubectl, cluster, cluster_bin_dir, tmp_path) as rel:
        yield rel


@pytest.fixture
def workspace_namespace(kubectl: Kubectl) -> Iterator[str]:
    name = f"team-{uuid.uuid4().hex[:6]}"
    kubectl("create", "namespace", name)
    yield name
    kubectl("delete", "namespace", name, "--wait=false", check=False)


def token_for(kubectl: Kubectl, namespace: str, account: str, path: Path) -> Path:
    token = kubectl("create", "token", account, "-n", namespace, "--duration=1h").stdout.strip()
    return kube.token_kubeconfig(kubectl.kubeconfig, token, path, namespace)


def workspace_manifest(namespace: str, source: str) -> str:
    return json.dumps(
        {
            "apiVersion": "rototo.dev/v1alpha1",
            "kind": "Workspace",
            "metadata": {"name": "account-config", "namespace": namespace},
            "spec": {"source": source, "periodSeconds": 2},
        }
    )


def workspace(kubectl: Kubectl, namespace: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(
        kubectl("get", "workspace", "account-config", "-n", namespace, "-o", "json").stdout
    )
    return loaded


def ready(kubectl: Kubectl, namespace: str) -> dict[str, Any] | None:
    body = workspace(kubectl, namespace)
    conditions = body.get("status", {}).get("conditions", [])
    if any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
        return body
    return None


def test_install_creates_the_charts_objects(kubectl: Kubectl, release: Release) -> None:
    status = helm(release, "status", release.name, "--namespace", release.namespace)
    assert "STATUS: deployed" in status
    names = kubectl(
        "get",
        "deployment,serviceaccount,service,pdb,role,rolebinding",
        "-n",
        release.namespace,
        "-o",
        "name",
    ).stdout
    for expected in (
        f"deployment.apps/{release.name}-rototo-operator",
        f"serviceaccount/{release.service_account}",
        f"service/{release.name}-rototo-operator-metrics",
        f"poddisruptionbudget.policy/{release.name}-rototo-operator",
        f"role.rbac.authorization.k8s.io/{release.name}-rototo-operator-leader-election",
    ):
        assert expected in names, names
    kubectl("get", "clusterrole", f"{release.name}-rototo-operator")
    kubectl("get", "crd", "workspaces.rototo.dev")
    deployment = json.loads(
        kubectl(
            "get",
            "deployment",
            f"{release.name}-rototo-operator",
            "-n",
            release.namespace,
            "-o",
            "json",
        ).stdout
    )
    assert deployment["spec"]["replicas"] == 2
    # Admission (defaults, validation) kept the hardening intact.
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_operator_does_its_whole_job_with_exactly_the_charts_permissions(
    kubectl: Kubectl, release: Release, workspace_namespace: str, tmp_path: Path
) -> None:
    sa = f"system:serviceaccount:{release.namespace}:{release.service_account}"
    # What the token may not do, checked by the API server itself.
    for verb, resource, where in (
        ("list", "secrets", ["-A"]),
        ("delete", "configmaps", ["-n", workspace_namespace]),
        ("create", "pods", ["-n", workspace_namespace]),
        ("create", "leases.coordination.k8s.io", ["-n", workspace_namespace]),
    ):
        answer = kubectl("auth", "can-i", verb, resource, "--as", sa, *where, check=False)
        assert answer.stdout.strip() == "no", f"the chart grants {verb} {resource}"

    repo = gitrepo.GitRepo.from_directory(
        gitrepo.write_small_workspace(tmp_path / "workspace", 1000),
        tmp_path / "repo",
        "first version",
    )
    kubeconfig = token_for(
        kubectl, release.namespace, release.service_account, tmp_path / "sa.kubeconfig"
    )
    port = free_port()
    operator = kube.OperatorProcess(
        [
            "--allow-local-sources",
            "--leader-elect",
            f"--lease-namespace={release.namespace}",
            f"--metrics-port={port}",
            "--metrics-address=127.0.0.1",
            f"--cache-dir={tmp_path / 'cache'}",
        ],
        kubeconfig=kubeconfig,
        log_path=tmp_path / "operator.log",
        env={"POD_NAMESPACE": release.namespace},
    )
    with operator:
        kubectl("apply", "-f", "-", input=workspace_manifest(workspace_namespace, repo.url))
        body = kube.eventually(
            lambda: ready(kubectl, workspace_namespace),
            what="the Workspace to become Ready",
            timeout=90,
            describe=operator.log_tail,
        )
        first = body["status"]["currentFingerprint"]
        assert first == f"git:{repo.head()}"

        configmap = json.loads(
            kubectl(
                "get", "configmap", "account-config", "-n", workspace_namespace, "-o", "json"
            ).stdout
        )
        assert configmap["metadata"]["annotations"]["rototo.dev/fingerprint"] == first
        model = json.loads(configmap["data"]["workspace.json"])
        assert model["format"] == "rototo.compiled/v1"

        events = kubectl(
            "get",
            "events",
            "-n",
            workspace_namespace,
            "--field-selector",
            "involvedObject.name=account-config",
            "-o",
            "json",
        ).stdout
        assert json.loads(events)["items"], "the operator recorded no Event"

        lease = json.loads(
            kubectl("get", "lease", "rototo-operator", "-n", release.namespace, "-o", "json").stdout
        )
        assert lease["spec"]["holderIdentity"], "the operator did not take the Lease"

        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as resp:
            assert resp.status == 200
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            assert b"rototo_workspace_info" in resp.read()

        # A new commit: the ConfigMap is updated in place (the chart grants update).
        repo.write(
            "variables/account-limits.toml",
            (repo.path / "variables/account-limits.toml")
            .read_text()
            .replace("value = 1000", "value = 2000"),
        )
        second = f"git:{repo.commit_all('raise the enterprise limit')}"
        kube.eventually(
            lambda: (
                workspace(kubectl, workspace_namespace)["status"].get("currentFingerprint")
                == second
            ),
            what="the new commit to be published",
            timeout=60,
            describe=operator.log_tail,
        )
        published = kubectl(
            "get",
            "configmap",
            "account-config",
            "-n",
            workspace_namespace,
            "-o",
            "jsonpath={.metadata.annotations.rototo\\.dev/fingerprint}",
        ).stdout
        assert published == second
        assert "Forbidden" not in operator.log(), operator.log_tail()
    assert operator.returncode() == 0, operator.log_tail()


def test_operator_without_the_charts_binding_fails_with_forbidden(
    kubectl: Kubectl, release: Release, workspace_namespace: str, tmp_path: Path
) -> None:
    kubectl("create", "serviceaccount", "stranger", "-n", release.namespace)
    kubeconfig = token_for(kubectl, release.namespace, "stranger", tmp_path / "x.kubeconfig")
    operator = kube.OperatorProcess(
        [
            "--allow-local-sources",
            "--standalone",
            f"--metrics-port={free_port()}",
            "--metrics-address=127.0.0.1",
        ],
        kubeconfig=kubeconfig,
        log_path=tmp_path / "operator.log",
    )
    with operator:
        kubectl(
            "apply",
            "-f",
            "-",
            input=workspace_manifest(workspace_namespace, f"git+file://{tmp_path}/none#main"),
        )
        operator.wait_for_log("workspaces.rototo.dev is forbidden", timeout=60)
        log = operator.log()
        assert f'User "system:serviceaccount:{release.namespace}:stranger"' in log, log
        assert "Forbidden" in log
    status = workspace(kubectl, workspace_namespace).get("status", {})
    assert not status.get("currentFingerprint"), "a forbidden operator published something"


def test_namespaced_install_serves_only_the_watched_namespaces(
    kubectl: Kubectl, cluster: Path, cluster_bin_dir: Path, tmp_path: Path
) -> None:
    watched, other = (f"{kind}-{uuid.uuid4().hex[:6]}" for kind in ("watched", "other"))
    for name in (watched, other):
        kubectl("create", "namespace", name)
    try:
        with installed(
            kubectl, cluster, cluster_bin_dir, tmp_path, f"watchNamespaces={{{watched}}}"
        ) as release:
            sa = f"system:serviceaccount:{release.namespace}:{release.service_account}"
            # Nothing cluster-scoped: the chart renders no ClusterRole in this mode.
            for verb, resource in (
                ("list", "namespaces"),
                ("watch", "namespaces"),
                ("list", "customresourcedefinitions.apiextensions.k8s.io"),
                ("watch", "customresourcedefinitions.apiextensions.k8s.io"),
                ("list", "workspaces.rototo.dev"),
            ):
                answer = kubectl("auth", "can-i", verb, resource, "-A", "--as", sa, check=False)
                assert answer.stdout.strip() == "no", f"the chart grants {verb} {resource} -A"
            for kind in ("clusterrole", "clusterrolebinding"):
                names = kubectl("get", kind, "-o", "name").stdout
                assert release.name not in names, f"a {kind} of the release exists"
            for namespace, expected in ((watched, "yes"), (other, "no")):
                answer = kubectl(
                    "auth",
                    "can-i",
                    "create",
                    "configmaps",
                    "-n",
                    namespace,
                    "--as",
                    sa,
                    check=False,
                )
                assert answer.stdout.strip() == expected, namespace
            repo = gitrepo.GitRepo.from_directory(
                gitrepo.write_small_workspace(tmp_path / "workspace", 1000),
                tmp_path / "repo",
                "first version",
            )
            kubeconfig = token_for(
                kubectl, release.namespace, release.service_account, tmp_path / "sa.kubeconfig"
            )
            operator = kube.OperatorProcess(
                [
                    "--allow-local-sources",
                    f"--namespace={watched}",
                    f"--lease-namespace={release.namespace}",
                    f"--metrics-port={free_port()}",
                    "--metrics-address=127.0.0.1",
                    f"--cache-dir={tmp_path / 'cache'}",
                ],
                kubeconfig=kubeconfig,
                log_path=tmp_path / "operator.log",
            )
            with operator:
                for namespace in (other, watched):
                    kubectl("apply", "-f", "-", input=workspace_manifest(namespace, repo.url))
                kube.eventually(
                    lambda: ready(kubectl, watched),
                    what="the Workspace in the watched namespace to become Ready",
                    timeout=90,
                    describe=operator.log_tail,
                )
                assert not workspace(kubectl, other).get("status"), "an unwatched ns was served"
                missing = kubectl("get", "configmap", "account-config", "-n", other, check=False)
                assert missing.returncode != 0
                # kopf says "Not enough permissions" when it falls back after a Forbidden
                # list/watch of Namespaces or CRDs; with scanning off it never asks.
                log = operator.log()
                for complaint in ("Forbidden", "Not enough permissions", "forbidden"):
                    assert complaint not in log, operator.log_tail()
            assert operator.returncode() == 0, operator.log_tail()
    finally:
        for name in (watched, other):
            kubectl("delete", "namespace", name, "--wait=false", check=False)


def test_upgrade_changes_the_release_and_uninstall_keeps_the_crd(
    kubectl: Kubectl, cluster: Path, cluster_bin_dir: Path, tmp_path: Path
) -> None:
    with installed(kubectl, cluster, cluster_bin_dir, tmp_path) as release:
        helm(
            release,
            "upgrade",
            release.name,
            str(kube.CHART),
            "--namespace",
            release.namespace,
            "--reuse-values",
            "--set",
            "replicaCount=3",
            "--set",
            "podDisruptionBudget.enabled=false",
        )
        replicas = kubectl(
            "get",
            "deployment",
            f"{release.name}-rototo-operator",
            "-n",
            release.namespace,
            "-o",
            "jsonpath={.spec.replicas}",
        ).stdout
        assert replicas == "3"
        gone = kubectl(
            "get", "pdb", f"{release.name}-rototo-operator", "-n", release.namespace, check=False
        )
        assert gone.returncode != 0, "the disabled PodDisruptionBudget was not removed"
        helm(release, "uninstall", release.name, "--namespace", release.namespace)
        left = kubectl("get", "clusterrole", f"{release.name}-rototo-operator", check=False)
        assert left.returncode != 0, "uninstall left the ClusterRole behind"
        # Helm never deletes CRDs from crds/: uninstalling must not delete every Workspace.
        kubectl("get", "crd", "workspaces.rototo.dev")


def test_the_kind_tiers_objects_pass_server_validation(
    kubectl: Kubectl, cluster_bin_dir: Path, tmp_path: Path
) -> None:
    """What `make e2e` applies on kind, checked here where no Docker engine is needed."""
    from tests.e2e import test_kind

    namespace = f"e2e-{uuid.uuid4().hex[:6]}"
    kubectl("create", "namespace", namespace)
    try:
        chart = kube.helm_template(
            cluster_bin_dir / "helm",
            tmp_path,
            namespace=namespace,
            values=test_kind.operator_values("rototo-operator:e2e"),
        ).stdout
        app = test_kind.sample_app_documents(
            kubectl("kustomize", str(kube.REPO / "examples" / "sample-app")).stdout,
            "rototo-operator:e2e",
        )
        for doc in app:
            doc["metadata"]["namespace"] = namespace
        for manifest in (chart, kube.yaml_dump_all(app)):
            done = kubectl("apply", "--dry-run=server", "-f", "-", input=manifest)
            assert "(server dry run)" in done.stdout
        operator = kube.find(kube.documents(chart), "Deployment")["spec"]["template"]["spec"]
        assert "--allow-local-sources" in operator["containers"][0]["args"]
        assert {"name": "repos", "mountPath": test_kind.NODE_DIR} in operator["containers"][0][
            "volumeMounts"
        ]
    finally:
        kubectl("delete", "namespace", namespace, "--wait=false", check=False)
