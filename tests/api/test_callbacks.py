"""Completion callbacks (isobox/api/callbacks.py) on the fake backend, delivered to a listener
this test opens on 127.0.0.1 (never an outside address): signed, retried, recorded, never
redirected, and refused for hosts that are not listed or resolve where callbacks may not go."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator

import pytest

from isobox.api.callbacks import CallbackRefused, Dispatcher, Guard
from isobox.settings import Settings
from tests.helpers.callbacks import (
    ON_LOOPBACK,
    SECRET,
    Listener,
    listening,
    signed,
    until,
)


@pytest.fixture
async def listener() -> AsyncIterator[Listener]:
    async with listening() as found:
        yield found


async def test_a_run_callback_is_signed_retried_after_a_500_and_recorded(fake_client_for, listener):
    listener.answers = [(500, {}), (200, {})]
    async with fake_client_for(**ON_LOOPBACK) as client:
        submitted = await client.post(
            "/runs",
            json={"language": "python", "code": "print('abc')", "callback_url": listener.url},
        )
        assert submitted.status_code == 202, submitted.text
        run_id = submitted.json()["run_id"]

        async def delivered():
            answer = (await client.get(f"/runs/{run_id}")).json()
            return answer if answer["callback"]["delivered"] else None

        final = await until(delivered)
    assert final["callback"] == {
        "url": listener.url,
        "delivered": True,
        "attempts": 2,
        "last_error": None,
    }
    first, second = listener.received
    assert (first.method, second.method, second.path) == ("POST", "POST", "/done")
    assert all(signed(received) for received in listener.received)
    body = json.loads(second.body)
    del final["callback"]
    assert body == final  # what GET /runs/{id} answers
    assert body["result"]["stdout"] == "abc\n"


async def test_a_redirect_is_not_followed(fake_client_for, listener):
    elsewhere = f"http://127.0.0.1:{listener.port}/elsewhere"
    listener.answers = [(302, {"Location": elsewhere})]
    async with fake_client_for(**ON_LOOPBACK, callback_max_attempts=2) as client:
        submitted = await client.post(
            "/runs",
            json={"language": "python", "code": "print('abc')", "callback_url": listener.url},
        )
        run_id = submitted.json()["run_id"]

        async def gave_up():
            callback = (await client.get(f"/runs/{run_id}")).json()["callback"]
            return callback if callback["attempts"] == 2 and callback["last_error"] else None

        callback = await until(gave_up)
    assert callback["delivered"] is False
    assert "redirect" in callback["last_error"]
    assert [received.path for received in listener.received] == ["/done", "/done"]


async def test_an_unlisted_host_is_a_422_at_submission(fake_client_for, listener):
    async with fake_client_for(**ON_LOOPBACK) as client:
        refused = await client.post(
            "/runs",
            json={
                "language": "python",
                "code": "print('abc')",
                "callback_url": f"http://localhost:{listener.port}/done",
            },
        )
        judge0 = await client.post(
            "/judge0/submissions",
            json={
                "source_code": "print('abc')",
                "language_id": 92,
                "callback_url": "http://example.test/done",
            },
        )
    assert refused.status_code == 422
    assert refused.json()["field"] == "callback_url"
    assert "is not one callbacks may go to" in refused.json()["message"]
    assert judge0.status_code == 422
    assert list(judge0.json()) == ["callback_url"]
    assert listener.received == []


async def test_a_judge0_callback_is_judge0s_put_of_the_default_fields(fake_client_for, listener):
    async with fake_client_for(**ON_LOOPBACK) as client:
        created = await client.post(
            "/judge0/submissions",
            json={
                "source_code": "print('abc')",
                "language_id": 92,
                "expected_output": "abc",
                "callback_url": listener.url,
            },
        )
        assert created.status_code == 201, created.text
        await until(lambda: asyncio.sleep(0, result=bool(listener.received)))
    (received,) = listener.received
    assert received.method == "PUT"
    assert signed(received)
    body = json.loads(received.body)
    assert body["token"] == created.json()["token"]
    assert body["status"] == {"id": 3, "description": "Accepted"}
    assert base64.b64decode(body["stdout"]) == b"abc\n"  # Base64, as Judge0 sends it


async def names(table: dict[str, list[str]], host: str, port: int) -> list[str]:
    del port
    return table[host]


def guard(resolved: dict[str, list[str]], **fields) -> Guard:
    settings = Settings(callback_secret=SECRET, **fields)
    return Guard(settings, resolver=lambda host, port: names(resolved, host, port))


async def test_by_default_loopback_is_refused_by_address_by_localhost_and_by_any_name():
    hosts = "127.0.0.1,localhost,rebind.test"
    strict = Guard(Settings(callback_allowed_hosts=hosts, callback_secret=SECRET))
    for url in ("http://127.0.0.1:9/x", "http://localhost:9/x"):
        with pytest.raises(CallbackRefused, match="denied by ISOBOX_CALLBACK_DENY_CIDRS"):
            await strict.check(url)
    pointed = guard({"rebind.test": ["127.0.0.1"]}, callback_allowed_hosts=hosts)
    with pytest.raises(CallbackRefused, match=r"resolves to 127\.0\.0\.1"):
        await pointed.check("http://rebind.test/x")


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("169.254.169.254", "metadata"),
        ("169.254.1.1", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("::ffff:127.0.0.1", "DENY_CIDRS"),
        ("10.1.2.3", "private"),
        ("192.168.1.1", "private"),
        ("10.96.0.10", "DENY_CIDRS"),  # the cluster's service range, even with private allowed
    ],
)
async def test_addresses_callbacks_never_go_to(address, reason):
    allow_private = reason != "private"
    checked = guard(
        {"hook.test": [address]},
        callback_allowed_hosts="hook.test",
        callback_allow_private=allow_private,
    )
    with pytest.raises(CallbackRefused, match=reason):
        await checked.check("https://hook.test/x")


async def test_a_name_that_rebinds_to_loopback_after_submission_gets_nothing(listener):
    answers = iter([["192.0.2.10"], ["127.0.0.1"]])

    async def rebinding(host: str, port: int) -> list[str]:
        return next(answers)

    settings = Settings(
        callback_allowed_hosts="hook.test", callback_secret=SECRET, callback_max_attempts=1
    )
    dispatcher = Dispatcher(settings, resolver=rebinding)
    url = f"http://hook.test:{listener.port}/done"
    await dispatcher.guard.check(url)  # at submission: a public address
    dispatcher.send_when_ended("r1", url, "POST", lambda: asyncio.sleep(0, result=b"{}"))
    state = await until(lambda: asyncio.sleep(0, result=dispatcher.state("r1").last_error))
    assert "resolves to 127.0.0.1" in state
    assert listener.received == []
    await dispatcher.close()


def test_callbacks_need_a_secret():
    with pytest.raises(ValueError, match="callback_secret"):
        Settings(callback_allowed_hosts="hooks.example.com")
