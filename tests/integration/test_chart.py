"""The Helm chart rendered by the real helm: lint, values schema, snapshots and properties.

Snapshots of ``helm template`` for a few value sets are committed under
``tests/integration/snapshots/chart/``; a change to the chart shows as a diff in review.
Regenerate them with ``ROTOTO_UPDATE_SNAPSHOTS=1`` set while running this file.
The property tests below say what the snapshots must keep meaning (security context,
probes, least-privilege RBAC), so a regenerated snapshot cannot quietly drop them.

These tests need only the helm binary; installing into the control plane is in
``test_chart_install.py``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from scripts import kube

from rototo_operator.controller import rbac

SNAPSHOTS = Path(__file__).resolve().parent / "snapshots" / "chart"
UPDATE = os.environ.get("ROTOTO_UPDATE_SNAPSHOTS") == "1"

SCENARIOS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "namespaced": {"watchNamespaces": ["team-a", "team-b"]},
    "standalone": {
        "replicaCount": 1,
        "leaderElection": {"enabled": False},
        "podDisruptionBudget": {"enabled": False},
        "metrics": {"service": {"enabled": False}},
    },
    "monitored": {
        "image": {"repository": "registry.invalid/rototo-operator", "digest": "sha256:" + "a" * 64},
        "metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}}},
        "allowLocalSources": True,
        "extraArgs": ["--max-concurrent-refreshes=8"],
    },
}


@pytest.fixture(scope="module")
def helm(cluster_bin_dir: Path) -> Path:
    return cluster_bin_dir / "helm"


def render(helm: Path, home: Path, values: dict[str, Any]) -> list[dict[str, Any]]:
    return kube.documents(kube.helm_template(helm, home, values=values).stdout)


def test_helm_lint_is_clean_in_strict_mode(helm: Path, tmp_path: Path) -> None:
    for name, values in SCENARIOS.items():
        values_file = tmp_path / f"{name}.yaml"
        values_file.write_text(yaml.safe_dump(values))
        done = kube.run(
            [helm, "lint", "--strict", kube.CHART, "--values", values_file],
            env=kube.helm_env(tmp_path),
            check=False,
        )
        assert done.returncode == 0, f"{name}: {done.stdout}{done.stderr}"
        assert "0 chart(s) failed" in done.stdout


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_template_matches_snapshot(helm: Path, tmp_path: Path, scenario: str) -> None:
    rendered = kube.helm_template(helm, tmp_path, values=SCENARIOS[scenario]).stdout
    snapshot = SNAPSHOTS / f"{scenario}.yaml"
    if UPDATE:
        snapshot.parent.mkdir(parents=True, exist_ok=True)
        snapshot.write_text(rendered)
    assert snapshot.is_file(), f"no snapshot {snapshot}: run with ROTOTO_UPDATE_SNAPSHOTS=1"
    assert rendered == snapshot.read_text(), (
        f"helm template ({scenario}) differs from {snapshot.name}; if the change is intended "
        "regenerate with ROTOTO_UPDATE_SNAPSHOTS=1 and review the diff"
    )


def test_no_snapshot_is_left_without_a_scenario() -> None:
    assert {p.stem for p in SNAPSHOTS.glob("*.yaml")} == set(SCENARIOS)


@pytest.mark.parametrize(
    ("values", "complaint"),
    [
        ({"replicaCount": 0}, "replicaCount"),
        ({"replicasCount": 2}, "replicasCount"),
        ({"watchNamespaces": ["Not_A_Namespace"]}, "watchNamespaces"),
        ({"image": {"repository": "x", "pullPolicy": "Sometimes"}}, "pullPolicy"),
        ({"logLevel": "verbose"}, "logLevel"),
        ({"serviceAccount": {"create": False}}, "serviceAccount.name"),
        ({"replicaCount": 2, "leaderElection": {"enabled": False}}, "leaderElection"),
        (
            {"metrics": {"service": {"enabled": False}, "serviceMonitor": {"enabled": True}}},
            "metrics.service.enabled",
        ),
    ],
)
def test_bad_values_are_rejected_naming_the_key(
    helm: Path, tmp_path: Path, values: dict[str, Any], complaint: str
) -> None:
    done = kube.helm_template(helm, tmp_path, values=values, check=False)
    assert done.returncode != 0, f"{values} was accepted"
    assert complaint in done.stderr, done.stderr


def test_deployment_defaults_are_hardened_and_highly_available(helm: Path, tmp_path: Path) -> None:
    docs = render(helm, tmp_path, {})
    deployment = kube.find(docs, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 65532
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert "--leader-elect" in container["args"], "two replicas need leader election"
    assert "--allow-local-sources" not in container["args"]
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"]["path"] == "/healthz"
        assert container[probe]["httpGet"]["port"] == "metrics"
    assert container["resources"]["requests"]
    assert container["resources"]["limits"]["memory"]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    for path in ("/tmp", "/var/cache/rototo"):
        assert "emptyDir" in volumes[mounts[path]], f"{path} must be writable scratch"
    assert "--cache-dir=/var/cache/rototo" in container["args"]
    assert pod["serviceAccountName"] == kube.find(docs, "ServiceAccount")["metadata"]["name"]
    assert kube.find(docs, "PodDisruptionBudget")["spec"]["maxUnavailable"] == 1
    spread = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert spread[0]["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert (
        spread[0]["podAffinityTerm"]["labelSelector"]["matchLabels"]
        == deployment["spec"]["selector"]["matchLabels"]
    ), "the anti-affinity must select the operator's own pods"
    service = kube.find(docs, "Service")
    assert service["spec"]["ports"][0]["targetPort"] == "metrics"
    assert (
        service["spec"]["selector"].items() <= deployment["spec"]["selector"]["matchLabels"].items()
    )


def rbac_objects(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    kinds = ("ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")
    return [d for d in docs if d["kind"] in kinds]


def test_cluster_wide_mode_binds_one_cluster_role(helm: Path, tmp_path: Path) -> None:
    docs = render(helm, tmp_path, {})
    role = kube.find(docs, "ClusterRole")
    binding = kube.find(docs, "ClusterRoleBinding")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    sa = kube.find(docs, "ServiceAccount")["metadata"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": sa["name"], "namespace": sa["namespace"]}
    ]
    for rule in role["rules"]:
        assert "*" not in rule["verbs"], rule
        assert "*" not in rule["resources"], rule
        assert not (set(rule["verbs"]) & {"delete", "deletecollection", "escalate", "bind"})
        if "secrets" in rule["resources"]:
            assert rule["verbs"] == ["get"], "secrets are read by name, never listed"


def test_namespaced_mode_grants_nothing_cluster_wide(helm: Path, tmp_path: Path) -> None:
    docs = render(helm, tmp_path, SCENARIOS["namespaced"])
    assert not [d for d in docs if d["kind"] in ("ClusterRole", "ClusterRoleBinding")]
    roles = {d["metadata"]["namespace"] for d in docs if d["kind"] == "Role"}
    assert roles == {"team-a", "team-b", "rototo-system"}, "one per watched ns + leader election"
    bound = {d["metadata"]["namespace"] for d in docs if d["kind"] == "RoleBinding"}
    assert bound == roles
    args = kube.find(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--namespace=team-a" in args
    assert "--namespace=team-b" in args


def test_standalone_mode_has_no_leader_election(helm: Path, tmp_path: Path) -> None:
    docs = render(helm, tmp_path, SCENARIOS["standalone"])
    args = kube.find(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--standalone" in args
    assert "--leader-elect" not in args
    names = [d["metadata"]["name"] for d in rbac_objects(docs)]
    assert not [n for n in names if n.endswith("leader-election")]
    assert not [d for d in docs if d["kind"] in ("PodDisruptionBudget", "Service")]


def test_service_monitor_scrapes_the_metrics_port(helm: Path, tmp_path: Path) -> None:
    docs = render(helm, tmp_path, SCENARIOS["monitored"])
    monitor = kube.find(docs, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    service = kube.find(docs, "Service")
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    container = kube.find(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.invalid/rototo-operator@sha256:" + "a" * 64


def rule_set(rules: Any) -> set[tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]]:
    return {
        (tuple(sorted(r["apiGroups"])), tuple(sorted(r["resources"])), tuple(sorted(r["verbs"])))
        for r in rules
    }


def test_cluster_wide_rbac_is_exactly_the_operators_rules(helm: Path, tmp_path: Path) -> None:
    docs = render(helm, tmp_path, {})
    assert rule_set(kube.find(docs, "ClusterRole")["rules"]) == rule_set(rbac.CLUSTER_RULES)
    leader = kube.find(docs, "Role", "rototo-operator-leader-election")
    assert leader["metadata"]["namespace"] == "rototo-system"
    assert rule_set(leader["rules"]) == rule_set(rbac.LEASE_RULES)


def test_namespaced_roles_are_exactly_the_namespaced_rules(helm: Path, tmp_path: Path) -> None:
    docs = render(helm, tmp_path, SCENARIOS["namespaced"])
    for namespace in SCENARIOS["namespaced"]["watchNamespaces"]:
        (role,) = [
            d for d in docs if d["kind"] == "Role" and d["metadata"]["namespace"] == namespace
        ]
        assert rule_set(role["rules"]) == rule_set(rbac.NAMESPACED_RULES)
