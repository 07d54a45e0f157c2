"""docs/rbac-rules.yaml is generated from controller/rbac.py; least privilege is kept."""

from __future__ import annotations

from pathlib import Path

from rototo_operator.controller import rbac

DOC = Path(__file__).resolve().parents[3] / "docs" / "rbac-rules.yaml"


def test_committed_rules_match_the_module() -> None:
    assert DOC.read_text() == rbac.render_yaml(), "run: python -m rototo_operator.controller.rbac"


def test_least_privilege() -> None:
    rules = [*rbac.CLUSTER_RULES, *rbac.LEASE_RULES]
    for rule in rules:
        assert "*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"]
        assert "delete" not in rule["verbs"]
    secrets = [r for r in rules if "secrets" in r["resources"]]
    assert [r["verbs"] for r in secrets] == [["get"]]
    for rule in rules:
        for resource in rule["resources"]:
            assert resource in rbac.WHY, f"say why the operator needs {resource}"


def test_namespaced_mode_needs_no_cluster_scoped_resource() -> None:
    cluster_scoped = {"customresourcedefinitions", "namespaces", "clusterroles", "nodes"}
    for rule in rbac.NAMESPACED_RULES:
        assert not cluster_scoped & set(rule["resources"]), rule
    assert rbac.CLUSTER_RULES == rbac.NAMESPACED_RULES + rbac.CLUSTER_WIDE_RULES
