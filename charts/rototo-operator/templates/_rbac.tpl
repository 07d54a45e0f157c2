{{/*
The operator's permissions come from files/rbac-rules.yaml, a copy of docs/rbac-rules.yaml,
which is generated from operator/rototo_operator/controller/rbac.py (the one truth; reasons
per rule are in its `why`). `make helm-sync` refreshes the copy; a test fails on drift, and
tests/integration/test_chart_install.py runs the operator with exactly what is granted here.

namespacedRules: the namespaced part of clusterRules, granted in each watched namespace
  (one ClusterRole, or a Role per namespace in watchNamespaces).
discoveryRules: the cluster-scoped part of clusterRules (kopf's CRD observer), always
  cluster-wide and read-only.
namespaceRules: with watchNamespaces only, kopf lists and watches Namespaces to serve the
  listed ones that exist and notice one created later (names only; chart-specific).
leaderElectionRules: leaseRules, in the release namespace.
*/}}
{{- define "rototo-operator.rbacRules" -}}
{{- .Files.Get "files/rbac-rules.yaml" | fromYaml | toJson }}
{{- end }}

{{- define "rototo-operator.clusterScopedResources" -}}
["customresourcedefinitions", "namespaces"]
{{- end }}

{{- define "rototo-operator.namespacedRules" -}}
{{- $all := include "rototo-operator.rbacRules" . | fromJson }}
{{- $scoped := include "rototo-operator.clusterScopedResources" . | fromJsonArray }}
{{- $out := list }}
{{- range $all.clusterRules }}
{{- $rule := . }}
{{- $cluster := false }}
{{- range $rule.resources }}{{ if has . $scoped }}{{ $cluster = true }}{{ end }}{{ end }}
{{- if not $cluster }}{{ $out = append $out $rule }}{{ end }}
{{- end }}
{{- toYaml $out }}
{{- end }}

{{- define "rototo-operator.discoveryRules" -}}
{{- $all := include "rototo-operator.rbacRules" . | fromJson }}
{{- $scoped := include "rototo-operator.clusterScopedResources" . | fromJsonArray }}
{{- $out := list }}
{{- range $all.clusterRules }}
{{- $rule := . }}
{{- $cluster := false }}
{{- range $rule.resources }}{{ if has . $scoped }}{{ $cluster = true }}{{ end }}{{ end }}
{{- if $cluster }}{{ $out = append $out $rule }}{{ end }}
{{- end }}
{{- toYaml $out }}
{{- end }}

{{- define "rototo-operator.namespaceRules" -}}
- apiGroups: [""]
  resources: ["namespaces"]
  verbs: ["list", "watch"]
{{- end }}

{{- define "rototo-operator.leaderElectionRules" -}}
{{- $all := include "rototo-operator.rbacRules" . | fromJson }}
{{- toYaml $all.leaseRules }}
{{- end }}
