"""GET /metrics counts what ran: the plumbing, on the fake backend (its scripts take real time)."""

import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from isobox.metrics import startup_seconds
from isobox.models import RunResult, StageResult


@pytest.fixture
def client(fake_client):
    return fake_client


def samples(text: str) -> dict[tuple[str, tuple], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def executions(found, outcome: str, language: str = "python") -> float:
    key = (
        "isobox_executions_total",
        (("backend", "fake"), ("language", language), ("outcome", outcome)),
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
    assert found[("isobox_run_seconds_count", (("backend", "fake"),))] == 3
    assert found[("isobox_startup_seconds_count", (("backend", "fake"),))] == 3
    assert found[("isobox_output_bytes_total", (("stream", "stdout"),))] >= len("abc\n")
    assert found[("isobox_runs_in_flight", ())] == 0


async def test_startup_time_is_the_run_time_outside_the_program(client):
    """One observation per run: the backend's wall time less the program's, at least 0."""
    fake = (("backend", "fake"),)

    def delta(before, after, name: str) -> float:
        return after[(name, fake)] - before.get((name, fake), 0.0)

    for code in ("print('abc')", "import time; time.sleep(0.2)"):
        before = samples((await client.get("/metrics")).text)
        began = time.monotonic()
        response = await client.post("/execute", json={"language": "python", "code": code})
        wall_s = time.monotonic() - began
        assert response.status_code == 200, response.text
        after = samples((await client.get("/metrics")).text)
        assert delta(before, after, "isobox_startup_seconds_count") == 1
        startup_s = delta(before, after, "isobox_startup_seconds_sum")
        ran_s = delta(before, after, "isobox_run_seconds_sum")
        program_s = response.json()["duration_ms"] / 1000
        assert 0 <= startup_s < ran_s <= wall_s
        assert startup_s == pytest.approx(max(0.0, ran_s - program_s), abs=1e-6)


def test_startup_time_leaves_out_the_compile_stage_and_is_never_negative():
    compiled = RunResult(duration_ms=300, compile=StageResult(duration_ms=500))
    assert startup_seconds(compiled, ran_s=1.0) == pytest.approx(0.2)
    assert startup_seconds(RunResult(duration_ms=1500), ran_s=1.0) == 0.0
