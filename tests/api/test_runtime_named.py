"""The runtime that isolates programs is named where a client looks before running anything:
`/readyz` and `GET /languages` say the backend's `runtime` (bubblewrap, runc, runsc). Real
backends' values are proven in tests/backends/test_runtime_named.py."""

from __future__ import annotations

import pytest

from isobox.wire import LanguagesResponse, ReadyResponse


@pytest.mark.parametrize("runtime", ["runsc", "runc", "bubblewrap"])
async def test_readyz_and_languages_name_the_backends_runtime(
    fake_backend, fake_client_for, runtime: str
):
    fake_backend.runtime = runtime
    async with fake_client_for() as client:
        ready = await client.get("/readyz")
        languages = await client.get("/languages")
    assert ready.status_code == languages.status_code == 200
    assert ready.json() == {
        "status": "ready",
        "backend": "fake",
        "resource_limits": "enforced",
        "runtime": runtime,
    }
    assert languages.json()["runtime"] == runtime
    assert languages.json()["backend"] == "fake"
    assert ReadyResponse.model_validate(ready.json()).runtime == runtime
    assert LanguagesResponse.model_validate(languages.json()).runtime == runtime


async def test_an_unready_backend_names_no_runtime(fake_backend, fake_client_for):
    fake_backend.runtime = "runsc"
    fake_backend.unavailable = "no engine"
    async with fake_client_for() as client:
        ready = await client.get("/readyz")
    assert ready.status_code == 503
    assert "runtime" not in ready.json()


async def test_the_openapi_document_describes_the_runtime_field(fake_client):
    schemas = (await fake_client.get("/openapi.json")).json()["components"]["schemas"]
    for model in ("ReadyResponse", "LanguagesResponse"):
        assert "runsc" in schemas[model]["properties"]["runtime"]["description"], model


def test_an_older_servers_answer_still_parses():
    """Clients read servers that predate the field: it defaults to empty."""
    assert ReadyResponse(status="ready", backend="docker", resource_limits="enforced").runtime == ""
    assert LanguagesResponse(backend="docker", languages=[]).runtime == ""
