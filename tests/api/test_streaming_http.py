"""The HTTP shape of a streamed run, on the fake backend (a real backend's incremental delivery
is proven in tests/backends/test_streaming.py): events, their order and the 4xx before them."""

import json

from tests.helpers.fake_backend import Script


def parse(body: str) -> list[tuple[str, dict]]:
    events = []
    for block in body.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


async def test_a_streamed_run_is_events_then_the_execute_result(fake_backend, fake_client_for):
    fake_backend.scripts["streamed"] = Script(stdout="hi\n", stderr="warn\n", exit_code=3)
    async with fake_client_for() as client:
        answer = await client.post(
            "/execute",
            json={"language": "python", "code": "streamed"},
            headers={"accept": "text/event-stream"},
        )
        plain = await client.post("/execute", json={"language": "python", "code": "streamed"})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/event-stream")
    events = parse(answer.text)
    assert events[:2] == [("stdout", {"text": "hi\n"}), ("stderr", {"text": "warn\n"})]
    name, result = events[-1]
    assert name == "result"
    expected = plain.json()
    ignored = {"run_id", "duration_ms"}
    assert {k: v for k, v in result.items() if k not in ignored} == {
        k: v for k, v in expected.items() if k not in ignored
    }
    assert result["verdict"] == "runtime_error"


async def test_a_bad_streamed_request_is_a_4xx_not_an_event(fake_client_for):
    async with fake_client_for() as client:
        answer = await client.post(
            "/execute",
            json={"language": "python", "code": "x", "timeout": 10_000},
            headers={"accept": "text/event-stream"},
        )
    assert answer.status_code == 422
    assert answer.json()["field"] == "timeout"
