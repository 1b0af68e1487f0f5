"""Completion callbacks of runs on every real backend: the API tier (never the sandbox) posts
the run's final answer, signed, to a listener this test opens on 127.0.0.1."""

from __future__ import annotations

import json

import pytest

from tests.backends.test_behaviour import behaviour_client
from tests.helpers.backends import BACKENDS
from tests.helpers.callbacks import ON_LOOPBACK, listening, signed, until


@pytest.fixture(scope="module", params=BACKENDS)
async def client(request):
    async with behaviour_client(request, request.param, pool=False, **ON_LOOPBACK) as client:
        yield client


async def test_a_finished_run_is_posted_once_signed_with_its_real_result(client):
    async with listening() as listener:
        submitted = await client.post(
            "/runs",
            json={
                "language": "bash",
                "code": "echo from-the-sandbox; exit 4",
                "callback_url": listener.url,
            },
        )
        assert submitted.status_code == 202, submitted.text
        run_id = submitted.json()["run_id"]

        async def delivered():
            answer = (await client.get(f"/runs/{run_id}")).json()
            return answer if answer.get("callback", {}).get("delivered") else None

        final = await until(delivered, seconds=120)
    (received,) = listener.received
    assert signed(received)
    body = json.loads(received.body)
    assert (body["run_id"], body["status"]) == (run_id, "failed")
    assert (body["result"]["stdout"], body["result"]["exit_code"]) == ("from-the-sandbox\n", 4)
    assert final["callback"]["attempts"] == 1
