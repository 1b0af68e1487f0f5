"""A refusal quotes at most a short prefix of what the client sent: a 1 MiB value gets a small
error body that still names the field (isobox's errors, pydantic's, Piston's). HTTP and
policy only, so on the fake backend."""

from __future__ import annotations

import pytest

HUGE = "x" * (1024 * 1024)
SMALL_BODY = 2048


@pytest.fixture
def client(fake_client):
    return fake_client


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/execute", {"language": HUGE, "code": "x"}, "language"),
        ("/runs", {"language": HUGE, "code": "x"}, "language"),
        ("/execute", {"language": "bash", "code": "x", "timeout": HUGE}, "timeout"),
        ("/execute", {"language": "bash", "code": "x", HUGE: 1}, "x" * 64 + "…"),
        (
            "/execute",
            {"language": "bash", "code": "x", "files": [{"name": "a", "content": ""}] * 2},
            "files[1].name",
        ),
    ],
)
async def test_a_huge_value_gets_a_small_422_naming_the_field(client, path, body, field):
    answer = await client.post(path, json=body)
    assert answer.status_code == 422, answer.text[:300]
    assert len(answer.content) < SMALL_BODY
    assert answer.json()["field"] == field


async def test_an_unknown_language_is_quoted_by_a_prefix(client):
    answer = await client.post("/execute", json={"language": HUGE, "code": "x"})
    assert f"unknown language '{'x' * 64}…'" in answer.json()["message"]


@pytest.mark.parametrize(
    "body",
    [
        {"language": HUGE, "version": "*", "files": [{"content": "x"}]},
        {"language": "python", "version": HUGE, "files": [{"content": "x"}]},
        {
            "language": "python",
            "version": "*",
            "files": [{"content": "x"}, {"name": HUGE, "content": "/w==", "encoding": "base64"}],
        },
    ],
)
async def test_piston_refusals_are_small_too(client, body):
    answer = await client.post("/api/v2/execute", json=body)
    assert answer.status_code == 400, answer.text[:300]
    assert len(answer.content) < SMALL_BODY
    assert answer.json()["message"]
