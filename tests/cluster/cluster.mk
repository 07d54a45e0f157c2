# The local Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager, kubectl,
# helm) built from the Go modules pinned in tests/cluster/go.mod and tests/cluster/helm/go.mod.
# Included by the top-level Makefile, which sets $(PYTHON) and the $(STAMP) venv target.
#
#   make cluster-bins   build into ~/.cache/rototo-operator/cluster/<key>/bin (cached by pins)
#   make cluster        start it detached; writes .cluster/kubeconfig
#   make cluster-down   stop it; no etcd/kube-apiserver/kube-controller-manager is left

# go.mod says `go 1.26.0`; the machine's go1.26.x builds it without downloading a toolchain.
export GOTOOLCHAIN ?= local

CLUSTER_DIR ?= .cluster
CLUSTER_LAUNCHER := tests/cluster/launcher.py

.PHONY: cluster-bins cluster cluster-down cluster-env

cluster-bins:
	@bash tests/cluster/build.sh > /dev/null

cluster: $(STAMP) cluster-bins
	@$(PYTHON) $(CLUSTER_LAUNCHER) up --state-dir $(CLUSTER_DIR) \
		--bin-dir "$$(bash tests/cluster/build.sh --print-dir)" > /dev/null
	@echo "control plane up: export KUBECONFIG=$(abspath $(CLUSTER_DIR))/kubeconfig"
	@echo "kubectl/helm: eval \"\$$($(PYTHON) $(CLUSTER_LAUNCHER) env)\""

cluster-down:
	@if [ -x "$(PYTHON)" ]; then $(PYTHON) $(CLUSTER_LAUNCHER) down --state-dir $(CLUSTER_DIR) > /dev/null; \
	elif [ -f $(CLUSTER_DIR)/state.json ]; then echo "no $(PYTHON): cannot stop $(CLUSTER_DIR)" >&2; exit 1; fi

cluster-env:
	@$(PYTHON) $(CLUSTER_LAUNCHER) env --state-dir $(CLUSTER_DIR)
