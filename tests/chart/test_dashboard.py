"""The optional Grafana dashboard: off by default; when on, one ConfigMap with the sidecar's
label holding dashboards/isobox.json, valid JSON whose every panel queries isobox metrics.

That each metric it queries is one GET /metrics serves is proven against the app itself in
tests/api/test_dashboard_metrics.py.
"""

from __future__ import annotations

import json

import pytest

from .helm import CHART, NAMESPACE, Obj, render, render_error

DASHBOARD = CHART / "dashboards" / "isobox.json"


def _on(**dashboard: object) -> Obj:
    return {"metrics": {"grafanaDashboard": {"enabled": True, **dashboard}}}


def _configmap(values: Obj) -> Obj:
    maps = [
        obj
        for obj in render(values).all("ConfigMap")
        if obj["metadata"]["name"].endswith("-dashboard")
    ]
    assert len(maps) == 1, [obj["metadata"]["name"] for obj in maps]
    return maps[0]


def _exprs(dashboard: Obj) -> list[str]:
    panels = [panel for panel in dashboard["panels"] if panel["type"] != "row"]
    return [target["expr"] for panel in panels for target in panel["targets"]]


@pytest.mark.parametrize("backend", ["coderun", "kubernetes", "docker", "local"])
def test_dashboard_is_off_by_default(backend: str) -> None:
    names = [obj["metadata"]["name"] for obj in render({"backend": backend}).all("ConfigMap")]
    assert not [name for name in names if name.endswith("-dashboard")], names


def test_dashboard_configmap_carries_the_sidecar_label_and_the_file() -> None:
    configmap = _configmap(_on())
    assert configmap["metadata"]["namespace"] == NAMESPACE
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert configmap["metadata"]["labels"]["app.kubernetes.io/part-of"] == "isobox"
    assert list(configmap["data"]) == ["isobox.json"]
    assert json.loads(configmap["data"]["isobox.json"]) == json.loads(DASHBOARD.read_text())


def test_dashboard_label_namespace_and_annotations_are_configurable() -> None:
    configmap = _configmap(
        _on(
            label="grafana.example/dashboard",
            labelValue="isobox",
            namespace="monitoring",
            labels={"team": "sandbox"},
            annotations={"grafana_folder": "isobox"},
        )
    )
    labels = configmap["metadata"]["labels"]
    assert labels["grafana.example/dashboard"] == "isobox"
    assert "grafana_dashboard" not in labels
    assert labels["team"] == "sandbox"
    assert configmap["metadata"]["namespace"] == "monitoring"
    assert configmap["metadata"]["annotations"] == {"grafana_folder": "isobox"}


@pytest.mark.parametrize(
    ("dashboard", "where"),
    [
        ({"label": ""}, "label"),
        ({"labelValue": "not a value"}, "labelValue"),
        ({"enable": True}, "enable"),
    ],
)
def test_dashboard_values_are_checked(dashboard: Obj, where: str) -> None:
    assert where in render_error(_on(**dashboard))


def test_dashboard_is_a_grafana_dashboard_of_isobox_metrics() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "isobox"
    assert {"title", "panels", "templating", "schemaVersion"} <= set(dashboard)
    panels = [panel for panel in dashboard["panels"] if panel["type"] != "row"]
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])
    for panel in panels:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"], panel["title"]
        assert all("isobox_" in target["expr"] for target in panel["targets"]), panel["title"]
    exprs = "\n".join(_exprs(dashboard))
    for wanted in [
        "isobox_executions_total",
        "histogram_quantile(0.95, sum by (le, backend) (rate(isobox_run_seconds_bucket",
        "histogram_quantile(0.95, sum by (le) (rate(isobox_queue_seconds_bucket",
        "histogram_quantile(0.95, sum by (le, backend) (rate(isobox_startup_seconds_bucket",
        "isobox_runs_in_flight",
        "isobox_pool_ready",
        "sum by (warm) (rate(isobox_pool_claims_total",
        "isobox_pool_provision_seconds_bucket",
        "isobox_pool_discarded_total",
    ]:
        assert wanted in exprs, wanted
    for expr in _exprs(dashboard):
        assert expr.count("(") == expr.count(")"), expr
        assert expr.count("{") == expr.count("}"), expr
