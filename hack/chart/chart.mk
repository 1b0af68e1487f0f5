# Chart targets: generated files (the CRD template, manifests/) and the chart checks.
# Included from hack/service-image/service-image.mk. Helm comes from ISOBOX_HELM, HELM or PATH;
# the test cluster's bin dir (make cluster-up builds helm into it) is put first on PATH.
ISOBOX_CHART_DIR := $(patsubst $(CURDIR)/%,%,$(abspath $(dir $(lastword $(MAKEFILE_LIST)))))
ISOBOX_K8S_CACHE ?= /var/cache/isobox-k8s
CHART_PYTHON ?= python3
CHART_ENV := PATH=$(ISOBOX_K8S_CACHE)/bin:$$PATH

.PHONY: chart-crd manifests chart-lint chart-test

# Regenerates charts/isobox/templates/crd-coderun.yaml from `isobox crd`.
chart-crd:
	$(CHART_ENV) $(CHART_PYTHON) $(ISOBOX_CHART_DIR)/render.py crd

# Regenerates manifests/isobox-{coderun,kubernetes}.yaml from the chart (helm template).
manifests: chart-crd
	$(CHART_ENV) $(CHART_PYTHON) $(ISOBOX_CHART_DIR)/render.py manifests

# helm lint, strict, for each backend, then with the ServiceMonitor (and API keys) on.
chart-lint:
	for backend in coderun kubernetes docker local; do \
	  $(CHART_ENV) helm lint --strict charts/isobox --set backend=$$backend || exit 1; \
	done
	$(CHART_ENV) helm lint --strict charts/isobox --set metrics.serviceMonitor.enabled=true \
	  --set api.apiKeys.existingSecret=isobox-keys \
	  --set metrics.serviceMonitor.authorization.secretName=isobox-scrape-key

# The chart's unit tests (helm template + assertions) and the staleness checks.
chart-test: chart-lint
	$(CHART_ENV) $(CHART_PYTHON) -m pytest -p no:cacheprovider -q tests/chart
