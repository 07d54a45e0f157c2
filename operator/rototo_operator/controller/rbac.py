"""The operator's Kubernetes permissions: one truth for the chart, the docs and the tests.

`NAMESPACED_RULES` are what the operator needs in every namespace it watches: one ClusterRole
bound cluster-wide when it watches all namespaces, or one Role per namespace when `--namespace`
names them. `CLUSTER_WIDE_RULES` are cluster-scoped and granted only in cluster-wide mode:
kopf watches CustomResourceDefinitions there to notice CRD changes without a restart. With
exact `--namespace` names kopf's scanning is off (`runner.fixed_namespaces`) and the operator
makes no cluster-scoped request beyond API discovery, which Kubernetes grants every
authenticated user (`system:discovery`). `CLUSTER_RULES` is the union, the cluster-wide
ClusterRole. `LEASE_RULES` go in a Role in the operator's own namespace, for leader election.

`docs/rbac-rules.yaml` is generated from here (`python -m rototo_operator.controller.rbac`)
and a unit test fails on drift; integration tests run the operator with a ServiceAccount
holding exactly these rules, in both modes.

Why each rule exists is in `WHY`; nothing here grants delete on anything (the ConfigMap is
garbage-collected through its ownerReference) or any access to Secrets beyond `get`.
Limits: a `--namespace` glob (e.g. `team-*`) needs list/watch on Namespaces, which neither
mode's rules grant; grant it yourself if you use one.
"""

from __future__ import annotations

from typing import TypedDict


class Rule(TypedDict):
    apiGroups: list[str]
    resources: list[str]
    verbs: list[str]


NAMESPACED_RULES: tuple[Rule, ...] = (
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
)

CLUSTER_WIDE_RULES: tuple[Rule, ...] = (
    {
        "apiGroups": ["apiextensions.k8s.io"],
        "resources": ["customresourcedefinitions"],
        "verbs": ["list", "watch"],
    },
)

CLUSTER_RULES: tuple[Rule, ...] = NAMESPACED_RULES + CLUSTER_WIDE_RULES

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
    "customresourcedefinitions": (
        "cluster-wide mode only: kopf watches CRDs to notice Workspace CRD changes without a "
        "restart (namespaced mode finds the resource once through discovery)"
    ),
    "leases": "leader election: one active replica (operator namespace only)",
}


def render_yaml() -> str:
    """The rules as the YAML committed in docs/rbac-rules.yaml."""
    import yaml

    doc = {
        "namespacedRules": [dict(r) for r in NAMESPACED_RULES],
        "clusterWideRules": [dict(r) for r in CLUSTER_WIDE_RULES],
        "leaseRules": [dict(r) for r in LEASE_RULES],
        "why": dict(WHY),
    }
    header = (
        "# The operator's RBAC rules, generated from operator/rototo_operator/controller/rbac.py\n"
        "# (`python -m rototo_operator.controller.rbac > docs/rbac-rules.yaml`); do not edit.\n"
        "# namespacedRules: in every watched namespace (a ClusterRole when watching all of them,\n"
        "#   else a Role per --namespace).\n"
        "# clusterWideRules: cluster-scoped, added to that ClusterRole in cluster-wide mode only.\n"
        "# leaseRules: Role in the operator's own namespace, for leader election.\n"
    )
    return header + yaml.safe_dump(doc, sort_keys=False, width=100)


if __name__ == "__main__":
    import sys

    sys.stdout.write(render_yaml())
