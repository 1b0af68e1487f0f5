"""Asynchronous runs over HTTP, on the fake backend: submit, poll, idempotency, cancel. That a
cancel removes a real sandbox: tests/backends/test_runs.py."""

import asyncio

import pytest

from tests.helpers.wait import async_wait_until


@pytest.fixture
def client(fake_client):
    return fake_client


async def until_ended(client, run_id: str) -> dict:
    async def ended() -> dict | None:
        body = (await client.get(f"/runs/{run_id}")).json()
        return body if body["status"] != "running" else None

    return await async_wait_until(ended, 30, f"run {run_id} to end")


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


async def test_cancel_stops_the_run_in_the_backend(client, fake_backend):
    submitted = await client.post(
        "/runs", json={"language": "bash", "code": "sleep 30", "timeout": 40}
    )
    run_id = submitted.json()["run_id"]
    await asyncio.sleep(0.5)
    assert fake_backend.in_flight == {run_id}
    cancelled = await client.delete(f"/runs/{run_id}")
    assert cancelled.json()["status"] == "cancelled"
    assert (await client.get(f"/runs/{run_id}")).json()["status"] == "cancelled"
    # The backend's run was cancelled (which is how it removes its sandbox) and has ended.
    assert (fake_backend.cancelled, fake_backend.in_flight) == ([run_id], set())


async def test_unknown_runs_are_404_and_bad_submissions_422(client):
    assert (await client.get("/runs/nope")).status_code == 404
    assert (await client.delete("/runs/nope")).status_code == 404
    refused = await client.post("/runs", json={"language": "cobol", "code": "x"})
    assert (refused.status_code, refused.json()["field"]) == (422, "language")
