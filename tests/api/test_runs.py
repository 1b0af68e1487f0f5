"""Asynchronous runs on the real local backend: submit, poll, idempotency, cancel."""

import asyncio

import pytest

from isobox.settings import Settings
from tests.conftest import api_client


@pytest.fixture(scope="module")
async def client():
    async with api_client(Settings(backend="local")) as client:
        yield client


async def until_ended(client, run_id: str) -> dict:
    for _ in range(300):
        body = (await client.get(f"/runs/{run_id}")).json()
        if body["status"] != "running":
            return body
        await asyncio.sleep(0.1)
    raise AssertionError("the run never ended")


async def test_a_run_answers_at_once_then_gives_the_execute_result(client):
    submitted = await client.post(
        "/runs", json={"language": "bash", "code": "sleep 0.5; echo later"}
    )
    assert submitted.status_code == 202
    assert submitted.json()["status"] == "running"
    ended = await until_ended(client, submitted.json()["run_id"])
    assert ended["status"] == "succeeded"
    assert ended["result"]["stdout"] == "later\n"
    assert ended["result"]["run_id"] == submitted.json()["run_id"]


async def test_a_failing_program_is_a_failed_run(client):
    submitted = await client.post("/runs", json={"language": "bash", "code": "exit 4"})
    ended = await until_ended(client, submitted.json()["run_id"])
    assert (ended["status"], ended["result"]["exit_code"]) == ("failed", 4)


async def test_the_same_idempotency_key_returns_the_same_run(client):
    headers = {"Idempotency-Key": "order-42"}
    body = {"language": "bash", "code": "echo once"}
    first = (await client.post("/runs", json=body, headers=headers)).json()
    again = (await client.post("/runs", json=body, headers=headers)).json()
    other = (await client.post("/runs", json=body)).json()
    assert first["run_id"] == again["run_id"] != other["run_id"]


async def test_cancel_stops_the_run_and_its_sandbox(client):
    submitted = await client.post(
        "/runs", json={"language": "bash", "code": "sleep 31.7", "timeout": 40}
    )
    run_id = submitted.json()["run_id"]
    await asyncio.sleep(0.5)
    cancelled = await client.delete(f"/runs/{run_id}")
    assert cancelled.json()["status"] == "cancelled"
    assert (await client.get(f"/runs/{run_id}")).json()["status"] == "cancelled"
    assert await gone("sleep 31.7")


async def gone(pattern: str) -> bool:
    for _ in range(50):
        search = await asyncio.create_subprocess_exec(
            "pgrep", "-f", pattern, stdout=asyncio.subprocess.DEVNULL
        )
        if await search.wait() == 1:
            return True
        await asyncio.sleep(0.1)
    return False


async def test_unknown_runs_are_404_and_bad_submissions_422(client):
    assert (await client.get("/runs/nope")).status_code == 404
    assert (await client.delete("/runs/nope")).status_code == 404
    refused = await client.post("/runs", json={"language": "cobol", "code": "x"})
    assert (refused.status_code, refused.json()["field"]) == (422, "language")
