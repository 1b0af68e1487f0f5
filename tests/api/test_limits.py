"""Beyond a client's rate or in-flight limit: 429 with Retry-After; beyond the service's slots
and queue: 503 at once, never a pile-up. On the fake backend, whose SLOW program takes 1.5 s."""

import asyncio

QUICK = {"language": "bash", "code": "echo hi"}
SLOW = {"language": "bash", "code": "sleep 1.5; echo done"}


async def test_a_client_over_its_rate_gets_429_with_retry_after(fake_client_for):
    async with fake_client_for(rate_limit_per_minute=3) as client:
        statuses = [(await client.post("/execute", json=QUICK)).status_code for _ in range(3)]
        refused = await client.post("/execute", json=QUICK)
    assert statuses == [200, 200, 200]
    assert refused.status_code == 429
    assert refused.json()["error"] == "rate_limited"
    assert 1 <= int(refused.headers["retry-after"]) <= 20


async def test_a_client_over_its_in_flight_limit_gets_429(fake_client_for):
    async with fake_client_for(max_in_flight_per_client=1) as client:
        first = asyncio.create_task(client.post("/execute", json=SLOW))
        await asyncio.sleep(0.5)
        second = await client.post("/execute", json=QUICK)
        assert second.status_code == 429
        assert (await first).json()["stdout"] == "done\n"
        assert (await client.post("/execute", json=QUICK)).status_code == 200


async def test_a_saturated_service_answers_503_at_once(fake_client_for):
    async with fake_client_for(max_concurrent_runs=1, max_queued_runs=0) as client:
        first = asyncio.create_task(client.post("/execute", json=SLOW))
        await asyncio.sleep(0.5)
        second = await client.post("/execute", json=QUICK)
        assert second.status_code == 503
        assert second.json()["error"] == "saturated"
        assert second.headers["retry-after"] == "1"
        assert (await first).status_code == 200


async def test_a_short_queue_waits_instead_of_refusing(fake_client_for):
    async with fake_client_for(max_concurrent_runs=1, max_queued_runs=1) as client:
        first = asyncio.create_task(client.post("/execute", json=SLOW))
        await asyncio.sleep(0.5)
        queued = await client.post("/execute", json=QUICK)
        assert queued.status_code == 200
        assert (await first).status_code == 200
