"""What a client can hold in the API process's memory through `POST /runs`, on the real local
backend: a capped number of runs per client and in total (the oldest finished go first), runs
that count against the in-flight limit until they end, and runs only their client sees."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from isobox.api.app import create_app
from isobox.api.auth import key_digest
from isobox.backends.base import Backend
from isobox.models import RunResult
from isobox.settings import Settings
from isobox.spec import RunSpec
from tests.helpers.app import api_client

pytestmark = pytest.mark.local

QUICK = {"language": "bash", "code": "echo quick"}
SLOW = {"language": "bash", "code": "sleep 29.3", "timeout": 40}
KEYS = {"alpha": "alpha-key-1", "beta": "beta-key-2"}


def keyed(**fields: object) -> Settings:
    digests = ",".join(key_digest(key) for key in KEYS.values())
    return Settings(backend="local", api_key_hashes=digests, **fields)  # type: ignore[arg-type]


def as_(name: str) -> dict[str, str]:
    return {"X-API-Key": KEYS[name]}


async def until_ended(client: httpx.AsyncClient, run_id: str, headers: dict[str, str]) -> dict:
    for _ in range(300):
        body = (await client.get(f"/runs/{run_id}", headers=headers)).json()
        if body["status"] != "running":
            return body
        await asyncio.sleep(0.05)
    raise AssertionError(f"run {run_id} never ended")


async def submit(client: httpx.AsyncClient, body: dict, who: str) -> httpx.Response:
    return await client.post("/runs", json=body, headers=as_(who))


async def test_over_the_per_client_cap_the_oldest_finished_go_then_running_ones_refuse():
    async with api_client(keyed(max_stored_runs=3, max_stored_runs_per_client=2)) as client:
        finished = []
        for _ in range(2):
            run_id = (await submit(client, QUICK, "alpha")).json()["run_id"]
            await until_ended(client, run_id, as_("alpha"))
            finished.append(run_id)
        first_slow = await submit(client, SLOW, "alpha")
        assert first_slow.status_code == 202
        assert (await client.get(f"/runs/{finished[0]}", headers=as_("alpha"))).status_code == 404
        assert (await client.get(f"/runs/{finished[1]}", headers=as_("alpha"))).status_code == 200
        assert (await submit(client, SLOW, "alpha")).status_code == 202
        assert (await client.get(f"/runs/{finished[1]}", headers=as_("alpha"))).status_code == 404

        refused = await submit(client, QUICK, "alpha")
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"] == "too_many_runs"
        assert 30 <= int(refused.headers["retry-after"]) <= 40  # the first slow run's limit
        # The total cap (3) counts every client: one more running run fills it.
        assert (await submit(client, SLOW, "beta")).status_code == 202
        full = await submit(client, QUICK, "beta")
        assert full.status_code == 503, full.text
        assert full.json()["error"] == "saturated"
        assert int(full.headers["retry-after"]) >= 1

        await client.delete(f"/runs/{first_slow.json()['run_id']}", headers=as_("alpha"))
        assert (await submit(client, QUICK, "alpha")).status_code == 202  # room again


async def test_a_running_async_run_counts_against_the_in_flight_limit_until_it_ends():
    async with api_client(Settings(backend="local", max_in_flight_per_client=1)) as client:
        first = await client.post("/runs", json=SLOW)
        assert first.status_code == 202
        second = await client.post("/runs", json=QUICK)
        assert second.status_code == 429, second.text
        assert second.headers["retry-after"]
        assert (await client.post("/execute", json=QUICK)).status_code == 429
        await client.delete(f"/runs/{first.json()['run_id']}")
        quick = await client.post("/runs", json=QUICK)
        assert quick.status_code == 202
        await until_ended(client, quick.json()["run_id"], {})
        # An ended run releases its slot: the next one is admitted.
        assert (await client.post("/execute", json=QUICK)).status_code == 200


async def test_a_repeated_idempotency_key_does_not_hold_a_slot():
    async with api_client(Settings(backend="local", max_in_flight_per_client=1)) as client:
        headers = {"Idempotency-Key": "k1"}
        first = await client.post("/runs", json=QUICK, headers=headers)
        await until_ended(client, first.json()["run_id"], {})
        again = await client.post("/runs", json=QUICK, headers=headers)
        assert again.json()["run_id"] == first.json()["run_id"]
        assert (await client.post("/execute", json=QUICK)).status_code == 200


async def test_another_key_cannot_see_or_cancel_a_run():
    async with api_client(keyed()) as client:
        submitted = await submit(client, SLOW, "alpha")
        run_id = submitted.json()["run_id"]
        for answer in (
            await client.get(f"/runs/{run_id}", headers=as_("beta")),
            await client.delete(f"/runs/{run_id}", headers=as_("beta")),
        ):
            assert answer.status_code == 404, answer.text
            assert answer.json() == {
                "error": "not_found",
                "message": "no such run",
                "field": None,
            }
        mine = await client.get(f"/runs/{run_id}", headers=as_("alpha"))
        assert mine.json()["status"] == "running"  # beta's DELETE stopped nothing
        cancelled = await client.delete(f"/runs/{run_id}", headers=as_("alpha"))
        assert cancelled.json()["status"] == "cancelled"


@asynccontextmanager
async def clients_at(*addresses: str) -> AsyncIterator[list[httpx.AsyncClient]]:
    """One app, seen from several client addresses (keys off)."""
    app = create_app(Settings(backend="local"))
    async with app.router.lifespan_context(app):
        clients = [
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app, client=(address, 40000)),
                base_url="http://isobox",
            )
            for address in addresses
        ]
        try:
            yield clients
        finally:
            for client in clients:
                await client.aclose()


async def test_without_keys_runs_and_idempotency_keys_belong_to_the_address():
    async with clients_at("192.0.2.1", "192.0.2.2") as (one, two):
        headers = {"Idempotency-Key": "same"}
        mine = await one.post("/runs", json=QUICK, headers=headers)
        theirs = await two.post("/runs", json=QUICK, headers=headers)
        assert mine.json()["run_id"] != theirs.json()["run_id"]
        assert (await two.get(f"/runs/{mine.json()['run_id']}")).status_code == 404
        assert (await one.get(f"/runs/{mine.json()['run_id']}")).status_code == 200


class Exploding(Exception):
    """What the failing backend raises; a weak reference tells whether it is still alive."""


class FailingBackend(Backend):
    """Fails every run with an exception whose traceback's frames hold the RunSpec."""

    name = "failing"

    def __init__(self) -> None:
        self.raised: list[weakref.ref[Exploding]] = []

    async def check(self) -> None:
        pass

    async def run(self, spec: RunSpec, on_output: object = None) -> RunResult:
        error = Exploding(f"the sandbox broke ({len(spec.files)} files)")
        self.raised.append(weakref.ref(error))
        raise error


async def test_a_failed_run_keeps_its_message_but_not_its_exception():
    backend = FailingBackend()
    async with api_client(Settings(backend="local"), backend=backend) as client:
        submitted = await client.post("/runs", json=QUICK)
        ended = await until_ended(client, submitted.json()["run_id"], {})
        assert (ended["status"], ended["error"]) == ("error", "the sandbox broke (1 files)")
        gc.collect()
        # Its traceback would keep the request (code, files, stdin) alive for an hour.
        assert [ref() for ref in backend.raised] == [None]
