{{/*
The operator's permissions, in one place. Kept equal to docs/rbac-rules.yaml (the operator's
machine-readable list) by tests/integration/test_chart.py, and to manifests/ by
tests/integration/test_manifests.py.

namespacedRules: what reconciling Workspaces needs in each watched namespace.
leaderElectionRules: in the release namespace only.
clusterRules: cluster-scoped reads the framework uses when watching every namespace.
*/}}
{{- define "rototo-operator.namespacedRules" -}}
- apiGroups: ["rototo.dev"]
  resources: ["workspaces"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["rototo.dev"]
  resources: ["workspaces/status"]
  verbs: ["get", "patch", "update"]
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["get", "list", "watch", "create", "update", "patch"]
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get"]
- apiGroups: ["", "events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}

{{- define "rototo-operator.leaderElectionRules" -}}
- apiGroups: ["coordination.k8s.io"]
  resources: ["leases"]
  verbs: ["get", "list", "watch", "create", "update", "patch"]
{{- end }}

{{- define "rototo-operator.clusterRules" -}}
- apiGroups: [""]
  resources: ["namespaces"]
  verbs: ["list", "watch"]
{{- end }}
