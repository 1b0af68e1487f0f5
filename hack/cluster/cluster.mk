# Test cluster targets; included from the top-level Makefile (`include hack/cluster/cluster.mk`).
# ISOBOX_K8S_CACHE (default /var/cache/isobox-k8s) keeps binaries between runs;
# ISOBOX_K8S_STATE (default /var/lib/isobox-k8s) holds the running cluster and admin.kubeconfig.
ISOBOX_K8S_CACHE ?= /var/cache/isobox-k8s
ISOBOX_K8S_STATE ?= /var/lib/isobox-k8s
CLUSTER_KUBECONFIG ?= $(ISOBOX_K8S_STATE)/admin.kubeconfig
CLUSTER_PYTEST ?= $(if $(wildcard .venv/bin/python),.venv/bin/python,python3) -m pytest

.PHONY: cluster-up cluster-down cluster-test cluster-build cluster-deps

# The Debian packages the build and the running cluster need (a fresh machine has few of them).
cluster-deps:
	hack/apt-install.sh iptables ipset conntrack runc openssl gcc libc6-dev curl util-linux \
	  containernetworking-plugins busybox-static

cluster-build: cluster-deps
	ISOBOX_K8S_CACHE=$(ISOBOX_K8S_CACHE) hack/cluster/build.sh

cluster-up: cluster-deps
	ISOBOX_K8S_CACHE=$(ISOBOX_K8S_CACHE) ISOBOX_K8S_STATE=$(ISOBOX_K8S_STATE) hack/cluster/up.sh

cluster-down:
	ISOBOX_K8S_CACHE=$(ISOBOX_K8S_CACHE) ISOBOX_K8S_STATE=$(ISOBOX_K8S_STATE) hack/cluster/down.sh

# Runs against whatever KUBECONFIG names; defaults to the cluster from cluster-up.
cluster-test:
	KUBECONFIG=$${KUBECONFIG:-$(CLUSTER_KUBECONFIG)} PATH=$(ISOBOX_K8S_CACHE)/bin:$$PATH \
	  $(CLUSTER_PYTEST) -p no:cacheprovider -m cluster -v tests/cluster
