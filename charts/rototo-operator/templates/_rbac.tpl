{{/*
The operator's permissions come from files/rbac-rules.yaml, a copy of docs/rbac-rules.yaml,
which is generated from operator/rototo_operator/controller/rbac.py (the one truth; reasons
per rule are in its `why`). `make helm-sync` refreshes the copy; a test fails on drift, and
tests/integration/test_chart_install.py runs the operator with exactly what is granted here.

namespacedRules: granted in each watched namespace (one ClusterRole without watchNamespaces,
  else a Role per namespace in watchNamespaces).
clusterWideRules: cluster-scoped (kopf's CRD watch), added to that ClusterRole without
  watchNamespaces only. With watchNamespaces the operator gets exact --namespace names, turns
  kopf's scanning off and needs no cluster-scoped permission: the chart renders no
  ClusterRole or ClusterRoleBinding then.
leaderElectionRules: leaseRules, in the release namespace.
*/}}
{{- define "rototo-operator.rbacRules" -}}
{{- .Files.Get "files/rbac-rules.yaml" | fromYaml | toJson }}
{{- end }}

{{- define "rototo-operator.namespacedRules" -}}
{{- $all := include "rototo-operator.rbacRules" . | fromJson }}
{{- toYaml $all.namespacedRules }}
{{- end }}

{{- define "rototo-operator.clusterWideRules" -}}
{{- $all := include "rototo-operator.rbacRules" . | fromJson }}
{{- toYaml $all.clusterWideRules }}
{{- end }}

{{- define "rototo-operator.leaderElectionRules" -}}
{{- $all := include "rototo-operator.rbacRules" . | fromJson }}
{{- toYaml $all.leaseRules }}
{{- end }}
