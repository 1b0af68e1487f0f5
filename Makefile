# isobox: the two commands a fresh machine needs are `make serve` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
PYTHON := $(VENV)/bin/python
export ISOBOX_CACHE ?= /var/cache/isobox

.PHONY: serve test venv lint unit bench launcher

# Run the API on the embedded default backend (bubblewrap), on http://127.0.0.1:8000.
serve: venv launcher
	@command -v bwrap >/dev/null || hack/apt-install.sh bubblewrap
	ISOBOX_BACKEND=$${ISOBOX_BACKEND:-local} $(VENV)/bin/isobox serve

# Everything, as CI runs it: dependencies, dockerd, images, the test cluster, lint, all tests.
test:
	hack/test.sh

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@python3 -c 'import ensurepip' 2>/dev/null || hack/apt-install.sh python3-venv
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install -q --upgrade pip
	$(PYTHON) -m pip install -q -e '.[dev]'
	$(MAKE) -s launcher
	touch $@

# The launcher of the runtime images, which the local backend also uses for compiled
# languages; without Go the local backend offers interpreted languages only.
launcher: $(VENV)/bin/isobox-launch
$(VENV)/bin/isobox-launch: $(wildcard launcher/*.go) launcher/go.mod
	@if command -v go >/dev/null; then \
	  cd launcher && CGO_ENABLED=0 GOTOOLCHAIN=local go build -trimpath -ldflags "-s -w" \
	    -o ../$(VENV)/bin/isobox-launch . ; \
	else echo "go not found: the local backend will offer interpreted languages only"; fi

# ruff, mypy, then the import contracts of pyproject.toml (layers, a client without server code,
# no import cycles).
lint: venv
	$(VENV)/bin/ruff check isobox tests bench
	$(VENV)/bin/ruff format --check isobox
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

# What needs nothing but Python: unit tests and the API layer on a fake backend (no bubblewrap,
# Docker, cluster, helm or Go). Every backend's real behaviour is tests/backends.
unit: venv
	$(PYTHON) -m pytest -q -p no:cacheprovider tests/unit tests/api

bench: venv
	$(PYTHON) bench/latency.py
	$(PYTHON) bench/compiled.py

include hack/images/images.mk
include hack/cluster/cluster.mk
-include hack/service-image/service-image.mk

# The user's path on the cluster KUBECONFIG names (or a fresh test cluster): helm install,
# requests through the Ingress, kubectl get coderuns, helm test, helm uninstall.
.PHONY: e2e
e2e:
	hack/test.sh -m e2e
