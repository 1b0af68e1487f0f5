"""Every metric the chart's Grafana dashboard (charts/isobox/dashboards/isobox.json) queries is
one GET /metrics serves: names taken from the dashboard's PromQL and from the exposition's
`# TYPE` lines and sample names, compared without the `_bucket`/`_count`/`_sum`/`_total`
suffixes. The pool families are exposed (HELP and TYPE) before any pool has a sample.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

DASHBOARD = Path(__file__).resolve().parents[2] / "charts" / "isobox" / "dashboards" / "isobox.json"
SUFFIX = re.compile(r"_(bucket|count|sum|total|created)$")
METRIC = re.compile(r"\bisobox_[a-zA-Z0-9_]+")


def _base(name: str) -> str:
    return SUFFIX.sub("", name)


def dashboard_metrics() -> set[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    queries = [variable.get("definition", "") for variable in dashboard["templating"]["list"]]
    return {_base(name) for text in exprs + queries for name in METRIC.findall(text)}


def exposed_metrics(text: str) -> set[str]:
    names = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            names.add(line.split()[2])
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return {_base(name) for name in names}


async def test_every_metric_the_dashboard_queries_is_served(fake_client):
    await fake_client.post("/execute", json={"language": "python", "code": "print(1)"})
    response = await fake_client.get("/metrics")
    assert response.status_code == 200
    queried, served = dashboard_metrics(), exposed_metrics(response.text)
    assert len(queried) >= 9, queried
    assert queried <= served, sorted(queried - served)


def test_the_comparison_sees_a_missing_metric():
    assert not {"isobox_nope"} <= exposed_metrics("# TYPE isobox_runs_in_flight gauge\n")
    assert (
        _base("isobox_run_seconds_bucket")
        == _base("isobox_run_seconds_sum")
        == "isobox_run_seconds"
    )
