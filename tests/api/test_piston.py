"""The Piston v2 endpoints in process, on the fake backend: they share the service's limits,
metrics and error forms. Real Piston clients against a real server: tests/backends/test_piston_clients.py."""

import pytest

PISTON_HELLO = {"language": "bash", "version": "*", "files": [{"content": "echo hi"}]}


async def test_piston_runs_count_in_metrics_and_client_rate_limits(fake_client_for):
    async with fake_client_for(rate_limit_per_minute=2) as client:
        statuses = [
            (await client.post("/api/v2/execute", json=PISTON_HELLO)).status_code for _ in range(3)
        ]
        refused = await client.post("/execute", json={"language": "bash", "code": "echo hi"})
        metrics = (await client.get("/metrics")).text
    assert statuses == [200, 200, 429]
    assert refused.status_code == 429  # one budget for both APIs
    assert 'isobox_executions_total{backend="fake",language="bash",outcome="ok"} 2.0' in metrics


async def test_a_piston_request_reaches_the_backend_as_a_run(fake_client, fake_backend):
    body = {**PISTON_HELLO, "stdin": "abc", "args": ["x", "y z"]}
    answer = await fake_client.post("/api/v2/execute", json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["run"]["stdout"] == "hi\n"
    (spec,) = fake_backend.specs
    # Piston feeds stdin with a trailing newline; isobox does the same for Piston clients.
    assert (spec.language.name, spec.stdin, spec.args) == ("bash", b"abc\n", ("x", "y z"))


@pytest.fixture
async def in_process(fake_client_for):
    async with fake_client_for(max_timeout_s=30) as client:
        yield client


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"run_timeout": 31_000}, "run_timeout: 31 s exceeds the maximum of 30 s"),
        ({"run_memory_limit": 1024}, "run_memory_limit: must be at least 16 MiB"),
        (
            {"files": [{"content": "echo"}, {"name": "../up", "content": ""}]},
            "files[1].name: '../up' must stay inside the work directory (no leading '/', '.' "
            "or '..')",
        ),
    ],
)
async def test_policy_refusals_are_400_naming_pistons_fields(in_process, fields, message):
    response = await in_process.post("/api/v2/execute", json={**PISTON_HELLO, **fields})
    assert (response.status_code, response.json()) == (400, {"message": message})


async def test_a_body_not_declared_json_is_415_as_in_piston(in_process):
    response = await in_process.post("/api/v2/execute", content=b"{}")
    assert (response.status_code, response.json()) == (
        415,
        {"message": "requests must be of type application/json"},
    )
