"""`/readyz` is open to anyone: it asks the backend at most once per ISOBOX_READYZ_CACHE_S and
tells why it is not ready only to a caller with a valid key (HTTP-only, so in process)."""

from __future__ import annotations

import asyncio
import logging

from isobox.api.auth import key_digest
from isobox.backends.base import Backend
from isobox.errors import BackendUnavailable
from isobox.models import RunResult
from isobox.settings import Settings
from isobox.spec import RunSpec
from tests.helpers.app import api_client

SECRET = "cannot reach https://10.96.0.1:443 as system:serviceaccount:isobox:api"
KEY = "readiness-key"


class CountedBackend(Backend):
    """Counts readiness checks; unready with SECRET as its reason when `failing`."""

    name = "counted"

    def __init__(self, failing: bool) -> None:
        self.failing = failing
        self.checks = 0

    async def check(self) -> None:
        self.checks += 1
        await asyncio.sleep(0.01)
        if self.failing:
            raise BackendUnavailable(SECRET)

    async def run(self, spec: RunSpec, on_output: object = None) -> RunResult:
        raise AssertionError("not used")


async def test_probes_reuse_one_answer_for_the_cache_time():
    backend = CountedBackend(failing=False)
    async with api_client(Settings(readyz_cache_s=0.5), backend=backend) as client:
        answers = await asyncio.gather(*(client.get("/readyz") for _ in range(20)))
        answers += [await client.get("/readyz") for _ in range(20)]
        assert {answer.status_code for answer in answers} == {200}
        assert backend.checks == 1
        await asyncio.sleep(0.6)
        assert (await client.get("/readyz")).status_code == 200
        assert backend.checks == 2


async def test_the_reason_is_logged_and_told_only_to_key_holders(caplog):
    backend = CountedBackend(failing=True)
    settings = Settings(readyz_cache_s=0, api_key_hashes=key_digest(KEY))
    with caplog.at_level(logging.WARNING):
        async with api_client(settings, backend=backend) as client:
            anonymous = await client.get("/readyz")
            wrong_key = await client.get("/readyz", headers={"X-API-Key": "nope"})
            holder = await client.get("/readyz", headers={"X-API-Key": KEY})
    for answer in (anonymous, wrong_key):
        assert answer.status_code == 503
        assert answer.json() == {
            "error": "backend_unavailable",
            "message": "the backend is not ready",
            "field": None,
        }
        assert "10.96" not in answer.text
    assert holder.status_code == 503
    assert SECRET in holder.json()["message"]
    assert SECRET in caplog.text


async def test_without_keys_nobody_is_told_the_reason():
    async with api_client(Settings(), backend=CountedBackend(failing=True)) as client:
        answer = await client.get("/readyz")
    assert (answer.status_code, answer.json()["message"]) == (503, "the backend is not ready")
