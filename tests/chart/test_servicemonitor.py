"""The optional ServiceMonitor: off by default; when on, it scrapes exactly the API Service."""

from __future__ import annotations

import re

import pytest
import yaml

from .helm import CHART, NAMESPACE, REPO_ROOT, Obj, render, render_error, run_helm

ON: Obj = {"metrics": {"serviceMonitor": {"enabled": True}}}

# Fields of monitoring.coreos.com/v1 ServiceMonitor (the prometheus-operator CRD,
# example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml) the chart may set.
SPEC_FIELDS = {"selector", "namespaceSelector", "endpoints", "jobLabel"}
ENDPOINT_FIELDS = {
    "port",
    "path",
    "scheme",
    "interval",
    "scrapeTimeout",
    "authorization",
    "relabelings",
    "metricRelabelings",
}
# The CRD's pattern of interval and scrapeTimeout.
DURATION = re.compile(
    r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"
)


def _with(**service_monitor: object) -> Obj:
    return {"metrics": {"serviceMonitor": {"enabled": True, **service_monitor}}}


@pytest.mark.parametrize("backend", ["coderun", "kubernetes", "docker", "local"])
def test_service_monitor_is_off_by_default(backend: str) -> None:
    assert render({"backend": backend}).all("ServiceMonitor") == []


def test_plain_manifests_carry_no_service_monitor() -> None:
    for path in sorted((REPO_ROOT / "manifests").glob("isobox-*.yaml")):
        kinds = {obj["kind"] for obj in yaml.safe_load_all(path.read_text()) if obj}
        assert "ServiceMonitor" not in kinds, path.name


def test_service_monitor_scrapes_metrics_on_the_api_service_port() -> None:
    rendered = render(ON)
    monitor = rendered.get("ServiceMonitor")
    service = rendered.get("Service", "-api")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["name"] == service["metadata"]["name"]
    assert monitor["metadata"]["namespace"] == NAMESPACE
    assert monitor["metadata"]["labels"]["app.kubernetes.io/component"] == "api"
    spec = monitor["spec"]
    assert set(spec) <= SPEC_FIELDS
    assert spec["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    # The selector matches the API Service's labels and no other Service of the chart.
    selector = spec["selector"]
    assert set(selector) == {"matchLabels"}
    matched = [
        other["metadata"]["name"]
        for other in rendered.all("Service")
        if selector["matchLabels"].items() <= other["metadata"]["labels"].items()
    ]
    assert matched == [service["metadata"]["name"]]
    (endpoint,) = spec["endpoints"]
    assert set(endpoint) <= ENDPOINT_FIELDS
    assert endpoint["port"] in {port["name"] for port in service["spec"]["ports"]}
    assert endpoint["port"] == "http"
    assert endpoint["path"] == "/metrics"
    assert endpoint["scheme"] == "http"
    assert endpoint["interval"] == "30s"
    assert endpoint["scrapeTimeout"] == "10s"
    for duration in (endpoint["interval"], endpoint["scrapeTimeout"]):
        assert DURATION.match(duration), duration
    assert "authorization" not in endpoint
    assert "relabelings" not in endpoint
    assert "metricRelabelings" not in endpoint


def test_service_monitor_labels_namespace_and_intervals_come_from_values() -> None:
    rendered = render(
        _with(
            namespace="monitoring",
            labels={"release": "prometheus"},
            annotations={"example.com/owner": "sre"},
            interval="1m",
            scrapeTimeout="",
        )
    )
    monitor = rendered.get("ServiceMonitor")
    assert monitor["metadata"]["namespace"] == "monitoring"
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    assert monitor["metadata"]["annotations"] == {"example.com/owner": "sre"}
    # Elsewhere, it still looks for the API Service in the release namespace.
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["interval"] == "1m"
    assert "scrapeTimeout" not in endpoint  # Prometheus' default


def test_service_monitor_sends_an_api_key_from_a_secret() -> None:
    rendered = render(
        {
            "api": {"apiKeys": {"existingSecret": "isobox-keys"}},
            "metrics": {
                "serviceMonitor": {
                    "enabled": True,
                    "authorization": {"secretName": "isobox-scrape", "secretKey": "key"},
                }
            },
        }
    )
    (endpoint,) = rendered.get("ServiceMonitor")["spec"]["endpoints"]
    assert endpoint["authorization"] == {
        "type": "Bearer",
        "credentials": {"name": "isobox-scrape", "key": "key"},
    }


def test_service_monitor_needs_a_key_when_api_keys_are_on() -> None:
    error = render_error({"api": {"apiKeys": {"existingSecret": "isobox-keys"}}, **ON})
    assert "metrics.serviceMonitor.authorization.secretName is required" in error


def test_service_monitor_passes_relabelings_through() -> None:
    drop = {"sourceLabels": ["__name__"], "regex": "isobox_output_bytes_total", "action": "drop"}
    pod = {"sourceLabels": ["__meta_kubernetes_pod_name"], "targetLabel": "pod"}
    rendered = render(_with(relabelings=[pod], metricRelabelings=[drop]))
    (endpoint,) = rendered.get("ServiceMonitor")["spec"]["endpoints"]
    assert endpoint["relabelings"] == [pod]
    assert endpoint["metricRelabelings"] == [drop]


@pytest.mark.parametrize(
    "service_monitor",
    [
        {"interval": 30},
        {"interval": "30 seconds"},
        {"scrapeTimeout": "10"},
        {"namespace": "Monitoring"},
        {"relabelings": [{"source_labels": ["__name__"]}]},
        {"metricRelabelings": [{"action": "delete"}]},
        {"authorization": {"secretName": "s", "secretKey": ""}},
        {"selector": {}},
    ],
)
def test_schema_rejects_bad_service_monitor_values(service_monitor: Obj) -> None:
    render_error(_with(**service_monitor))


def test_helm_lint_strict_is_clean_with_the_service_monitor() -> None:
    values = {
        "api": {"apiKeys": {"existingSecret": "isobox-keys"}},
        "metrics": {
            "serviceMonitor": {
                "enabled": True,
                "labels": {"release": "prometheus"},
                "authorization": {"secretName": "isobox-scrape"},
                "metricRelabelings": [{"sourceLabels": ["__name__"], "action": "keep"}],
            }
        },
    }
    result = run_helm("lint", "--strict", str(CHART), values=values)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[WARNING]" not in result.stdout
    assert "[ERROR]" not in result.stdout
