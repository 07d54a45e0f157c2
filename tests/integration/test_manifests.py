"""The kustomize base in manifests/: in step with the chart, and accepted by a real API server.

``manifests/`` is generated from the chart's defaults by ``scripts/render_manifests.py``
(``make helm-sync``). These tests check it was regenerated after every chart or CRD change,
that its RBAC grants exactly what the chart grants, and that ``kubectl apply -k manifests/``
passes the API server's own validation (``--dry-run=server``: schema, admission, RBAC
objects) and then really applies.
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from scripts import kube, render_manifests

from tests.cluster.launcher import Kubectl

MANIFESTS = kube.REPO / "manifests"
NAMESPACE = render_manifests.NAMESPACE


def normalised_rules(obj: dict[str, Any]) -> list[tuple[tuple[str, ...], ...]]:
    """Rules as sorted tuples: order of rules and of list items does not change meaning."""
    return sorted(
        (
            tuple(sorted(rule.get("apiGroups", []))),
            tuple(sorted(rule.get("resources", []))),
            tuple(sorted(rule.get("verbs", []))),
            tuple(sorted(rule.get("resourceNames", []))),
        )
        for rule in obj["rules"]
    )


def roles_by_kind_and_name(docs: list[dict[str, Any]]) -> dict[tuple[str, str], Any]:
    return {
        (d["kind"], d["metadata"]["name"]): normalised_rules(d)
        for d in docs
        if d["kind"] in ("ClusterRole", "Role")
    }


def bindings(docs: list[dict[str, Any]]) -> dict[tuple[str, str], Any]:
    return {
        (d["kind"], d["metadata"]["name"]): (d["roleRef"], d["subjects"])
        for d in docs
        if d["kind"] in ("ClusterRoleBinding", "RoleBinding")
    }


@pytest.fixture(scope="module")
def built(kubectl: Kubectl) -> list[dict[str, Any]]:
    """What kustomize makes of manifests/ (kubectl's built-in kustomize)."""
    return kube.documents(kubectl("kustomize", str(MANIFESTS)).stdout)


def test_manifests_are_regenerated_from_the_chart(cluster_bin_dir: Path) -> None:
    done = kube.run(
        [
            sys.executable,
            kube.REPO / "scripts" / "render_manifests.py",
            "--check",
            "--helm",
            cluster_bin_dir / "helm",
        ],
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_rbac_rules_equal_the_charts(
    built: list[dict[str, Any]], cluster_bin_dir: Path, tmp_path: Path
) -> None:
    chart = kube.documents(
        kube.helm_template(
            cluster_bin_dir / "helm",
            tmp_path,
            release=render_manifests.RELEASE,
            namespace=NAMESPACE,
        ).stdout
    )
    assert roles_by_kind_and_name(built) == roles_by_kind_and_name(chart)
    assert bindings(built) == bindings(chart)
    assert roles_by_kind_and_name(built), "the base must carry the operator's roles"


def test_everything_lands_in_one_namespace(built: list[dict[str, Any]]) -> None:
    cluster_scoped = {"Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding"}
    for doc in built:
        if doc["kind"] in cluster_scoped:
            continue
        assert doc["metadata"]["namespace"] == NAMESPACE, doc["metadata"]
    for doc in built:
        for subject in doc.get("subjects", []):
            assert subject["namespace"] == NAMESPACE


def test_server_side_dry_run_accepts_the_base(kubectl: Kubectl) -> None:
    # A server-side dry run of namespaced objects needs their namespace to exist already.
    if kubectl("get", "namespace", NAMESPACE, check=False).returncode != 0:
        kubectl("create", "namespace", NAMESPACE)
    done = kubectl("apply", "-k", str(MANIFESTS), "--dry-run=server")
    for kind in ("customresourcedefinition", "deployment", "clusterrole", "serviceaccount"):
        assert kind in done.stdout, done.stdout
    assert "(server dry run)" in done.stdout


def test_apply_creates_the_objects_and_the_crd_is_served(
    kubectl: Kubectl, built: list[dict[str, Any]], tmp_path: Path
) -> None:
    # The real apply goes to a throwaway namespace, with cluster-scoped names suffixed, so it
    # cannot collide with other tests' installs.
    suffix = uuid.uuid4().hex[:6]
    namespace = f"manifests-{suffix}"
    docs = []
    for doc in built:
        if doc["kind"] == "Namespace":
            doc["metadata"]["name"] = namespace
        elif doc["kind"] in ("ClusterRole", "ClusterRoleBinding"):
            doc["metadata"]["name"] += f"-{suffix}"
        if doc["kind"] == "ClusterRoleBinding":
            doc["roleRef"]["name"] += f"-{suffix}"
        if doc["metadata"].get("namespace") == NAMESPACE:
            doc["metadata"]["namespace"] = namespace
        for subject in doc.get("subjects", []):
            subject["namespace"] = namespace
        docs.append(doc)
    path = tmp_path / "base.yaml"
    path.write_text(kube.yaml_dump_all(docs))
    try:
        kubectl("apply", "-f", str(path))
        kubectl("wait", "--for=condition=Established", "crd/workspaces.rototo.dev")
        got = kubectl("get", "deployment,serviceaccount,service,pdb", "-n", namespace, "-o", "name")
        for name in (
            "deployment.apps/rototo-operator",
            "serviceaccount/rototo-operator",
            "poddisruptionbudget.policy/rototo-operator",
        ):
            assert name in got.stdout
        sa = f"system:serviceaccount:{namespace}:rototo-operator"
        can = kubectl(
            "auth",
            "can-i",
            "patch",
            "workspaces.rototo.dev",
            "--subresource=status",
            "--as",
            sa,
            "-A",
        )
        assert can.stdout.strip() == "yes"
        cannot = kubectl("auth", "can-i", "list", "secrets", "--as", sa, "-A", check=False)
        assert cannot.stdout.strip() == "no"
    finally:
        for doc in docs:
            if doc["kind"] in ("ClusterRole", "ClusterRoleBinding"):
                kubectl("delete", doc["kind"].lower(), doc["metadata"]["name"], check=False)
        kubectl("delete", "namespace", namespace, "--wait=false", check=False)
