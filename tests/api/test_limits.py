"""Beyond a client's rate or in-flight limit: 429 with Retry-After; beyond the service's slots
and queue: 503 at once, never a pile-up. On the real local backend."""

import asyncio

from isobox.settings import Settings
from tests.conftest import api_client

QUICK = {"language": "bash", "code": "echo hi"}
SLOW = {"language": "bash", "code": "sleep 1.5; echo done"}


async def test_a_client_over_its_rate_gets_429_with_retry_after():
    async with api_client(Settings(backend="local", rate_limit_per_minute=3)) as client:
        statuses = [(await client.post("/execute", json=QUICK)).status_code for _ in range(3)]
        refused = await client.post("/execute", json=QUICK)
    assert statuses == [200, 200, 200]
    assert refused.status_code == 429
    assert refused.json()["error"] == "rate_limited"
    assert 1 <= int(refused.headers["retry-after"]) <= 20


async def test_a_client_over_its_in_flight_limit_gets_429():
    async with api_client(Settings(backend="local", max_in_flight_per_client=1)) as client:
        first = asyncio.create_task(client.post("/execute", json=SLOW))
        await asyncio.sleep(0.5)
        second = await client.post("/execute", json=QUICK)
        assert second.status_code == 429
        assert (await first).json()["stdout"] == "done\n"
        assert (await client.post("/execute", json=QUICK)).status_code == 200


async def test_a_saturated_service_answers_503_at_once():
    settings = Settings(backend="local", max_concurrent_runs=1, max_queued_runs=0)
    async with api_client(settings) as client:
        first = asyncio.create_task(client.post("/execute", json=SLOW))
        await asyncio.sleep(0.5)
        second = await client.post("/execute", json=QUICK)
        assert second.status_code == 503
        assert second.json()["error"] == "saturated"
        assert second.headers["retry-after"] == "1"
        assert (await first).status_code == 200


async def test_a_short_queue_waits_instead_of_refusing():
    settings = Settings(backend="local", max_concurrent_runs=1, max_queued_runs=1)
    async with api_client(settings) as client:
        first = asyncio.create_task(client.post("/execute", json=SLOW))
        await asyncio.sleep(0.5)
        queued = await client.post("/execute", json=QUICK)
        assert queued.status_code == 200
        assert (await first).status_code == 200
