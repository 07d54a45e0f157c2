"""The operator's Kubernetes permissions: one truth for the chart, the docs and the tests.

`CLUSTER_RULES` go in a ClusterRole bound to the operator's ServiceAccount (or in a Role
per namespace when the operator is narrowed with `--namespace`); `LEASE_RULES` go in a Role
in the operator's own namespace, for leader election. `docs/rbac-rules.yaml` is generated
from here (`python -m rototo_operator.controller.rbac`) and a unit test fails on drift; an
integration test runs the operator with a ServiceAccount holding exactly these rules.

Why each rule exists is in `WHY`; nothing here grants delete on anything (the ConfigMap is
garbage-collected through its ownerReference) or any access to Secrets beyond `get`.
"""

from __future__ import annotations

from typing import TypedDict


class Rule(TypedDict):
    apiGroups: list[str]
    resources: list[str]
    verbs: list[str]


CLUSTER_RULES: tuple[Rule, ...] = (
    {"apiGroups": ["rototo.dev"], "resources": ["workspaces"], "verbs": ["get", "list", "watch"]},
    {
        "apiGroups": ["rototo.dev"],
        "resources": ["workspaces/status"],
        "verbs": ["get", "patch", "update"],
    },
    {"apiGroups": ["rototo.dev"], "resources": ["workspaces/finalizers"], "verbs": ["update"]},
    {
        "apiGroups": [""],
        "resources": ["configmaps"],
        "verbs": ["get", "list", "watch", "create", "update"],
    },
    {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]},
    {"apiGroups": [""], "resources": ["events"], "verbs": ["get", "create", "patch"]},
    {
        "apiGroups": ["apiextensions.k8s.io"],
        "resources": ["customresourcedefinitions"],
        "verbs": ["list", "watch"],
    },
)

LEASE_RULES: tuple[Rule, ...] = (
    {
        "apiGroups": ["coordination.k8s.io"],
        "resources": ["leases"],
        "verbs": ["get", "create", "update"],
    },
)

WHY: dict[str, str] = {
    "workspaces": "watch Workspaces in every watched namespace (kopf list+watch, CLI get)",
    "workspaces/status": "write status: one merge patch per attempt",
    "workspaces/finalizers": (
        "set blockOwnerDeletion on the ConfigMap's ownerReference where the "
        "OwnerReferencesPermissionEnforcement admission plugin is on"
    ),
    "configmaps": "publish the compiled model; watch (label-selected) to restore hand edits",
    "secrets": "read spec.secretRef in the Workspace's own namespace; never list or watch",
    "events": "RefreshFailed / Published / OutputRestored events; repeats bump a count",
    "customresourcedefinitions": "kopf discovers the Workspace resource and notices CRD changes",
    "leases": "leader election: one active replica (operator namespace only)",
}


def render_yaml() -> str:
    """The rules as the YAML committed in docs/rbac-rules.yaml."""
    import yaml

    doc = {
        "clusterRules": [dict(r) for r in CLUSTER_RULES],
        "leaseRules": [dict(r) for r in LEASE_RULES],
        "why": dict(WHY),
    }
    header = (
        "# The operator's RBAC rules, generated from operator/rototo_operator/controller/rbac.py\n"
        "# (`python -m rototo_operator.controller.rbac > docs/rbac-rules.yaml`); do not edit.\n"
        "# clusterRules: ClusterRole (or a Role per watched namespace with --namespace).\n"
        "# leaseRules: Role in the operator's own namespace, for leader election.\n"
    )
    return header + yaml.safe_dump(doc, sort_keys=False, width=100)


if __name__ == "__main__":
    import sys

    sys.stdout.write(render_yaml())
