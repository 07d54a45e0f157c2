{{/*
The operator's permissions, in one place. tests/integration/test_chart_install.py runs the
operator with a token bound to exactly these rules; test_manifests.py keeps manifests/ equal.
Reasons for each rule: docs/security.md.

namespacedRules: what reconciling Workspaces needs in each watched namespace.
leaderElectionRules: the Lease, in the release namespace only.
*/}}
{{- define "rototo-operator.namespacedRules" -}}
- apiGroups: ["rototo.dev"]
  resources: ["workspaces"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["rototo.dev"]
  resources: ["workspaces/status"]
  verbs: ["get", "patch"]
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["get", "list", "watch", "create", "update"]
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "get", "patch"]
{{- end }}

{{- define "rototo-operator.leaderElectionRules" -}}
- apiGroups: ["coordination.k8s.io"]
  resources: ["leases"]
  verbs: ["get", "create", "update"]
{{- end }}

{{/*
clusterRules: kopf watches CustomResourceDefinitions to notice its resource appearing or
changing at runtime (read-only, no secrets). Granted in both modes.
namespaceRules: with watchNamespaces, kopf lists and watches Namespaces to serve only those
that exist and to notice one created later (names only). Not needed cluster-wide.
*/}}
{{- define "rototo-operator.clusterRules" -}}
- apiGroups: ["apiextensions.k8s.io"]
  resources: ["customresourcedefinitions"]
  verbs: ["list", "watch"]
{{- end }}

{{- define "rototo-operator.namespaceRules" -}}
- apiGroups: [""]
  resources: ["namespaces"]
  verbs: ["list", "watch"]
{{- end }}
