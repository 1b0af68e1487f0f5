"""One API client per real backend; every behaviour test runs on each of them."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from isobox.settings import Settings
from tests.conftest import api_client

# Marks select backends: `-m local`, `-m docker`, `-m cluster`.
BACKENDS = [
    pytest.param("local", marks=pytest.mark.local, id="local"),
    pytest.param("docker", marks=pytest.mark.docker, id="docker"),
]


def backend_settings(name: str) -> Settings:
    return Settings(backend=name, max_timeout_s=30, max_concurrent_runs=32)  # type: ignore[arg-type]


@pytest.fixture(scope="session", params=BACKENDS)
async def client(request):
    async with api_client(backend_settings(request.param)) as client:
        client.backend_name = request.param
        yield client


@pytest.fixture(scope="session", autouse=True)
def temp_entries_at_start() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).iterdir()}
