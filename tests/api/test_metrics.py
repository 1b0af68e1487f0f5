"""GET /metrics counts what really ran, on the real local backend."""

import pytest
from prometheus_client.parser import text_string_to_metric_families

from isobox.settings import Settings
from tests.conftest import api_client


@pytest.fixture(scope="module")
async def client():
    async with api_client(Settings(backend="local")) as client:
        yield client


def samples(text: str) -> dict[tuple[str, tuple], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def executions(found, outcome: str, language: str = "python") -> float:
    key = (
        "isobox_executions_total",
        (("backend", "local"), ("language", language), ("outcome", outcome)),
    )
    return found.get(key, 0.0)


async def test_metrics_count_outcomes_latency_and_output(client):
    await client.post("/execute", json={"language": "python", "code": "print('abc')"})
    await client.post("/execute", json={"language": "python", "code": "raise SystemExit(3)"})
    await client.post(
        "/execute", json={"language": "python", "code": "while True: pass", "timeout": 1}
    )
    await client.post("/execute", json={"language": "cobol", "code": "x"})
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    found = samples(response.text)
    assert executions(found, "ok") == 1
    assert executions(found, "error") == 1
    assert executions(found, "timeout") == 1
    assert executions(found, "rejected", language="cobol") == 1
    assert found[("isobox_run_seconds_count", (("backend", "local"),))] == 3
    assert found[("isobox_output_bytes_total", (("stream", "stdout"),))] >= len("abc\n")
    assert found[("isobox_runs_in_flight", ())] == 0
