"""API keys: off by default; when on, everything but health needs a valid key, and a missing
and a wrong key get the same 401 (on the fake backend)."""

import pytest

from isobox.api.auth import key_digest
from isobox.errors import ConfigError
from isobox.settings import Settings

KEY = "s3cret-key-for-tests"
HELLO = {"language": "bash", "code": "echo hi"}


@pytest.fixture
async def client(fake_client_for, tmp_path):
    keys_file = tmp_path / "digests"
    keys_file.write_text(key_digest("second-key") + "\n")
    async with fake_client_for(
        api_key_hashes=key_digest(KEY), api_key_hashes_file=keys_file
    ) as client:
        yield client


@pytest.mark.parametrize("path", ["/health", "/healthz", "/readyz"])
async def test_health_needs_no_key(client, path):
    assert (await client.get(path)).status_code == 200


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"X-API-Key": "wrong"}])
async def test_missing_and_wrong_keys_get_the_same_401(client, headers):
    responses = [
        await client.post("/execute", json=HELLO, headers=headers),
        await client.get("/languages", headers=headers),
        await client.get("/metrics", headers=headers),
    ]
    assert {r.status_code for r in responses} == {401}
    assert {r.json()["message"] for r in responses} == {"a valid API key is required"}
    assert responses[0].headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "headers", [{"Authorization": f"Bearer {KEY}"}, {"X-API-Key": KEY}, {"X-API-Key": "second-key"}]
)
async def test_a_valid_key_runs(client, headers):
    response = await client.post("/execute", json=HELLO, headers=headers)
    assert response.status_code == 200
    assert response.json()["stdout"] == "hi\n"


async def test_keys_are_off_by_default(fake_client):
    assert (await fake_client.post("/execute", json=HELLO)).status_code == 200


def test_only_sha256_digests_are_accepted_as_configuration():
    with pytest.raises(ConfigError, match="SHA-256"):
        Settings(api_key_hashes="plaintext-key").api_key_digests()
