# Placeholder until the control-plane build lands (owned by the control-plane work).
.PHONY: cluster-bins cluster cluster-down
cluster-bins:
cluster:
cluster-down:
