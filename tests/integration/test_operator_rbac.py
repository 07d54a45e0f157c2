"""The operator runs with exactly the RBAC rules of `controller/rbac.py`, and no more.

A ServiceAccount gets a ClusterRole made from `CLUSTER_RULES` and a Role (for the Lease)
from `LEASE_RULES`; the operator runs cluster-wide with that account's token and must take a
Workspace with a secretRef to Ready, publish, post events and hold the Lease, with no
RBAC denial in its log. `kubectl auth can-i` confirms what it cannot do.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from rototo_operator.controller import rbac
from tests.cluster.launcher import Kubectl
from tests.integration.operator_support import (
    GitRepo,
    OperatorProcess,
    create,
    events_for,
    eventually,
    published,
    wait_ready,
    workspace_namespace,
)


@pytest.fixture
def namespace(kubectl: Kubectl) -> Iterator[str]:
    with workspace_namespace(kubectl, "rbac") as name:
        yield name


def token_kubeconfig(admin: Path, token: str, path: Path) -> Path:
    config = yaml.safe_load(admin.read_text())
    cluster = config["clusters"][0]
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [cluster],
        "users": [{"name": "operator", "user": {"token": token}}],
        "contexts": [
            {"name": "operator", "context": {"cluster": cluster["name"], "user": "operator"}}
        ],
        "current-context": "operator",
    }
    path.write_text(yaml.safe_dump(doc))
    return path


def test_the_documented_rules_are_enough(kubectl: Kubectl, namespace: str, tmp_path: Path) -> None:
    suffix = uuid.uuid4().hex[:6]
    role = f"rototo-operator-test-{suffix}"
    account = f"system:serviceaccount:{namespace}:rototo-operator"
    manifests = [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "rototo-operator", "namespace": namespace},
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": role},
            "rules": [dict(r) for r in rbac.CLUSTER_RULES],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": role},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": role,
            },
            "subjects": [
                {"kind": "ServiceAccount", "name": "rototo-operator", "namespace": namespace}
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "rototo-operator-leases", "namespace": namespace},
            "rules": [dict(r) for r in rbac.LEASE_RULES],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "rototo-operator-leases", "namespace": namespace},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "rototo-operator-leases",
            },
            "subjects": [
                {"kind": "ServiceAccount", "name": "rototo-operator", "namespace": namespace}
            ],
        },
    ]
    kubectl(
        "apply",
        "-f",
        "-",
        input=json.dumps({"apiVersion": "v1", "kind": "List", "items": manifests}),
    )
    try:
        for verb, resource in (
            ("delete", "configmaps"),
            ("list", "secrets"),
            ("watch", "secrets"),
            ("update", "workspaces.rototo.dev"),
            ("create", "pods"),
        ):
            answer = kubectl(
                "auth", "can-i", verb, resource, "--as", account, "-n", namespace, check=False
            ).stdout.strip()
            assert answer == "no", f"the operator may {verb} {resource}"
        token = kubectl(
            "create", "token", "rototo-operator", "-n", namespace, "--duration", "1h"
        ).stdout.strip()
        config = token_kubeconfig(kubectl.kubeconfig, token, tmp_path / "operator.kubeconfig")
        repo = GitRepo(tmp_path / "repo")
        kubectl(
            "create",
            "secret",
            "generic",
            "creds",
            "-n",
            namespace,
            "--from-literal=username=u",
            "--from-literal=password=p",
        )
        proc = OperatorProcess(
            config,
            tmp_path / "operator.log",
            "--allow-local-sources",
            "--leader-elect",
            "--lease-namespace",
            namespace,
            "--lease-name",
            f"rbac-{suffix}",
            "--cache-dir",
            str(tmp_path / "cache"),
        )
        try:
            proc.wait_healthy()
            create(
                kubectl,
                "rbac-cfg",
                namespace,
                repo.source(),
                periodSeconds=1,
                secretRef={"name": "creds"},
            )
            wait_ready(kubectl, namespace, "rbac-cfg")
            assert published(kubectl, namespace, "rbac-cfg") is not None
            eventually(
                lambda: any(
                    e["reason"] == "Published" for e in events_for(kubectl, namespace, "rbac-cfg")
                ),
                what="a Published event",
            )
            # A hand deletion is seen (label-selected watch) and restored.
            kubectl("delete", "configmap", "rbac-cfg", "-n", namespace)
            eventually(
                lambda: published(kubectl, namespace, "rbac-cfg"), what="the ConfigMap restored"
            )
        finally:
            assert proc.terminate() == 0, proc.log_text()
        log = proc.log_text()
        # An RBAC denial names the account; other refusals (e.g. writes into a namespace
        # another test is deleting, seen because this operator runs cluster-wide) do not.
        assert f'User "{account}" cannot' not in log, log
    finally:
        kubectl("delete", "clusterrolebinding,clusterrole", role, "--ignore-not-found")
