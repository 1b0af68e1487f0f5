"""Cancelling an asynchronous run removes its real sandbox, on each backend whose runs the API
process keeps (the coderun backend's runs are CodeRuns: tests/backends/test_coderun_runs.py).

The HTTP side of runs (status codes, idempotency, polling) is tests/api/test_runs.py."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.helpers import leaks
from tests.helpers.app import api_client
from tests.helpers.backends import BACKENDS, backend_settings
from tests.helpers.wait import wait_until

PROGRAM = "sleep 25.7"


@pytest.fixture(params=[backend for backend in BACKENDS if backend.id != "coderun"])
async def runs(request):
    if request.param == "kubernetes":
        request.getfixturevalue("sandbox_namespace")
    # Cold: a warm pool's idle sandboxes would look like the run's (test_pool.py covers the
    # warm path's clean-up).
    async with api_client(backend_settings(request.param, pool=False)) as client:
        client.backend_name = request.param
        yield client


async def test_cancel_stops_the_run_and_removes_its_sandbox(runs):
    since = time.time()
    submitted = await runs.post("/runs", json={"language": "bash", "code": PROGRAM, "timeout": 30})
    assert submitted.status_code == 202, submitted.text
    run_id = submitted.json()["run_id"]
    await asyncio.to_thread(
        wait_until,
        lambda: leaks.run_sandboxes(runs.backend_name, PROGRAM, since),
        60,
        "the sandbox",
    )
    cancelled = await runs.delete(f"/runs/{run_id}")
    assert cancelled.json()["status"] == "cancelled"
    assert (await runs.get(f"/runs/{run_id}")).json()["status"] == "cancelled"
    await asyncio.to_thread(
        wait_until,
        lambda: not leaks.run_sandboxes(runs.backend_name, PROGRAM, since),
        30,
        "the sandbox to be removed",
        detail=lambda: leaks.run_sandboxes(runs.backend_name, PROGRAM, since),
    )
