"""The Judge0 endpoints in process, on the fake backend: submissions are runs of the run store,
with its ownership and the client limits, answered in Judge0's shapes. The official Judge0
SDK against a real server: tests/backends/test_judge0_sdk.py."""

from __future__ import annotations

import asyncio
import base64

from isobox.api.auth import key_digest

PYTHON = 92
ABC = {"source_code": "print('abc')", "language_id": PYTHON}


async def finished(client, token: str, **params) -> dict:
    """The submission once it left In Queue and Processing."""
    for _ in range(200):
        answer = await client.get(f"/judge0/submissions/{token}", params=params)
        assert answer.status_code == 200, answer.text
        if answer.json()["status"]["id"] not in (1, 2):
            return answer.json()
        await asyncio.sleep(0.02)
    raise AssertionError(f"submission {token} did not finish")


async def test_a_submission_is_a_run_read_back_by_its_token(fake_client, fake_backend):
    created = await fake_client.post("/judge0/submissions", json={**ABC, "stdin": "x"})
    assert created.status_code == 201
    assert list(created.json()) == ["token"]
    answer = await finished(fake_client, created.json()["token"])
    assert set(answer) == {
        "token",
        "time",
        "memory",
        "stdout",
        "stderr",
        "compile_output",
        "message",
        "status",
    }
    assert answer["stdout"] == "abc\n"
    assert answer["status"] == {"id": 3, "description": "Accepted"}
    (spec,) = fake_backend.specs
    assert (spec.language.name, spec.stdin, spec.limits.cpu_time_s) == ("python", b"x", 5.0)


async def test_wait_true_answers_the_finished_submission_with_a_verdict(fake_client):
    wrong = await fake_client.post(
        "/judge0/submissions",
        params={"wait": "true", "fields": "status,stdout,expected_output"},
        json={**ABC, "expected_output": "abd"},
    )
    assert wrong.status_code == 201
    assert wrong.json() == {
        "status": {"id": 4, "description": "Wrong Answer"},
        "stdout": "abc\n",
        "expected_output": "abd",
    }
    timed_out = await fake_client.post(
        "/judge0/submissions",
        params={"wait": "true"},
        json={"source_code": "sleep 30", "language_id": 46, "wall_time_limit": 1},
    )
    assert timed_out.json()["status"] == {"id": 5, "description": "Time Limit Exceeded"}


async def test_base64_in_and_out_and_every_field(fake_client):
    created = await fake_client.post(
        "/judge0/submissions",
        params={"base64_encoded": "true"},
        json={"source_code": base64.b64encode(b"print('abc')").decode(), "language_id": PYTHON},
    )
    answer = await finished(fake_client, created.json()["token"], base64_encoded="true", fields="*")
    assert base64.b64decode(answer["stdout"]) == b"abc\n"
    assert base64.b64decode(answer["source_code"]) == b"print('abc')"
    assert answer["language"] == {"id": PYTHON, "name": "Python (3.11)"}
    assert answer["created_at"].endswith("Z")
    assert answer["cpu_time_limit"] == "5.0"
    assert answer["memory_limit"] == 256 * 1024


async def test_refusals_are_judge0s_shapes(fake_client):
    invalid = await fake_client.post("/judge0/submissions", json={"language_id": 71})
    assert (invalid.status_code, invalid.json()) == (
        422,
        {
            "source_code": ["can't be blank"],
            "language_id": ["language with id 71 doesn't exist"],
        },
    )
    fields = await fake_client.get(f"/judge0/submissions/{'0' * 8}?fields=stdout,bogus")
    assert (fields.status_code, fields.json()) == (400, {"error": "invalid fields: [bogus]"})
    missing = await fake_client.get("/judge0/submissions/4d1c0b52-2a8e-4e61-9a3c-0c1b9b1f0e11")
    assert missing.status_code == 404
    callback = await fake_client.post(
        "/judge0/submissions", json={**ABC, "callback_url": "http://example.test/done"}
    )
    assert callback.json() == {"callback_url": ["setting callback is not allowed"]}
    big = await fake_client.post(
        "/judge0/submissions", json={"source_code": "x" * 300_000, "language_id": PYTHON}
    )
    assert big.status_code == 413
    assert list(big.json()) == ["source_code"]


async def test_batches_create_and_read_in_order_with_null_for_unknown(fake_client):
    created = await fake_client.post(
        "/judge0/submissions/batch",
        json={"submissions": [ABC, {"language_id": PYTHON}, {**ABC, "stdin": "2"}]},
    )
    assert created.status_code == 201
    first, invalid, third = created.json()
    assert invalid == {"source_code": ["can't be blank"]}
    unknown = "4d1c0b52-2a8e-4e61-9a3c-0c1b9b1f0e11"
    await finished(fake_client, first["token"])
    await finished(fake_client, third["token"])
    read = await fake_client.get(
        "/judge0/submissions/batch",
        params={"tokens": f"{first['token']},{unknown},{third['token']}", "fields": "stdout"},
    )
    assert read.json() == {"submissions": [{"stdout": "abc\n"}, None, {"stdout": "abc\n"}]}
    empty = await fake_client.post("/judge0/submissions/batch", json={"submissions": []})
    assert (empty.status_code, empty.json()) == (
        400,
        {"error": "there should be at least one submission in a batch"},
    )


async def test_submissions_belong_to_their_key_sent_as_x_auth_token(fake_client_for):
    keys = f"{key_digest('alice')},{key_digest('bob')}"
    async with fake_client_for(api_key_hashes=keys) as client:
        refused = await client.post("/judge0/submissions", json=ABC)
        alice = await client.post(
            "/judge0/submissions", json=ABC, headers={"X-Auth-Token": "alice"}
        )
        token = alice.json()["token"]
        own = await client.get(f"/judge0/submissions/{token}", headers={"X-Auth-Token": "alice"})
        other = await client.get(f"/judge0/submissions/{token}", headers={"X-Auth-Token": "bob"})
        elsewhere = await client.get("/languages", headers={"X-Auth-Token": "alice"})
    assert (refused.status_code, alice.status_code, own.status_code) == (401, 201, 200)
    assert other.status_code == 404
    assert elsewhere.status_code == 401  # X-Auth-Token is a key on /judge0 only


async def test_submissions_share_the_clients_limits(fake_client_for):
    async with fake_client_for(rate_limit_per_minute=1) as client:
        first = await client.post("/judge0/submissions", json=ABC)
        second = await client.post("/judge0/submissions", json=ABC)
        batch = await client.post("/judge0/submissions/batch", json={"submissions": [ABC]})
    assert first.status_code == 201
    assert (second.status_code, second.json()) == (
        429,
        {"error": "at most 1 executions per minute"},
    )
    assert second.headers["Retry-After"]
    assert (batch.status_code, batch.json()) == (
        429,
        [{"error": "at most 1 executions per minute"}],
    )


async def test_languages_are_those_the_backend_offers(fake_client_for, fake_backend):
    fake_backend.languages = {"python", "c"}
    async with fake_client_for() as client:
        listed = (await client.get("/judge0/languages")).json()
        one = await client.get("/judge0/languages/103")
        gone = await client.get("/judge0/languages/93")
        info = (await client.get("/judge0/config_info")).json()
        about = (await client.get("/judge0/about")).json()
    assert listed == [{"id": 103, "name": "C (GCC 12.2)"}, {"id": 92, "name": "Python (3.11)"}]
    assert one.json()["source_file"] == "main.c"
    assert gone.status_code == 404
    assert info["enable_callbacks"] is False
    assert info["max_submission_batch_size"] == 20
    assert about["version"] == "1.14.0"
