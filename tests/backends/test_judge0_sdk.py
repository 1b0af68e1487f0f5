"""The official Judge0 Python SDK (PyPI `judge0`), unchanged, runs programs on isobox through
/judge0: a run, a compile error, a wrong answer, a time limit, a batch of test cases and an
asynchronous submission. It needs a live TCP server, so the module starts a real
`isobox serve` on the local backend, with an API key the SDK sends as Judge0 clients do,
`X-Auth-Token`.

The SDK polls `GET /submissions/{token}?fields=*&base64_encoded=true` and parses every field
(a field it does not know fails it), resolves `LanguageAlias` by `GET /about`'s version, and
reads `GET /config_info` into its typed Config: so this also holds those answers to Judge0's.
"""

from __future__ import annotations

import judge0
import pytest

from isobox.api.auth import key_digest
from tests.helpers.server import isobox_server

pytestmark = pytest.mark.local

KEY = "judge0-sdk-key"
PYTHON = 92  # Judge0 CE's Python (3.11.2): isobox's Python 3.11


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    log_path = tmp_path_factory.mktemp("judge0") / "server.log"
    env = {"ISOBOX_BACKEND": "local", "ISOBOX_API_KEY_HASHES": key_digest(KEY)}
    with isobox_server(log_path, **env) as (url, _):
        yield judge0.Client(f"{url}/judge0", headers={"X-Auth-Token": KEY})


def test_a_run(client):
    result = judge0.run(client=client, source_code='print("Hello from isobox!")', language=PYTHON)
    assert result.status == judge0.Status.ACCEPTED
    assert result.stdout == "Hello from isobox!\n"
    assert result.time is not None
    assert result.time < 5
    assert result.memory
    assert result.memory > 0
    assert client.get_language(PYTHON).name == "Python (3.11)"


def test_a_compile_error(client):
    # LanguageAlias.C resolves through /about's version to Judge0 CE's C id, isobox's gcc.
    result = judge0.run(
        client=client,
        source_code="int main(void) { return undefined_name; }",
        language=judge0.LanguageAlias.C,
    )
    assert result.status == judge0.Status.COMPILATION_ERROR
    assert "undefined_name" in result.compile_output
    assert result.stdout is None


def test_a_wrong_answer(client):
    result = judge0.run(
        client=client,
        source_code="print(int(input()) * 2)",
        language=PYTHON,
        test_cases=judge0.TestCase(input="21", expected_output="43"),
    )
    assert result.status == judge0.Status.WRONG_ANSWER
    assert result.stdout == "42\n"


def test_a_time_limit(client):
    result = judge0.run(
        client=client, source_code="while True: pass", language=PYTHON, cpu_time_limit=1
    )
    assert result.status == judge0.Status.TIME_LIMIT_EXCEEDED
    assert 0.9 <= result.time < 3  # killed at the limit (the kernel's RLIMIT_CPU or the watchdog)


def test_a_batch_of_test_cases(client):
    results = judge0.run(
        client=client,
        source_code="print(int(input()) + 1)",
        language=PYTHON,
        test_cases=[("1", "2"), ("2", "3"), ("3", "5")],
    )
    assert [result.status for result in results] == [
        judge0.Status.ACCEPTED,
        judge0.Status.ACCEPTED,
        judge0.Status.WRONG_ANSWER,
    ]
    assert [result.stdout for result in results] == ["2\n", "3\n", "4\n"]


def test_an_asynchronous_submission(client):
    submission = judge0.async_run(
        client=client, source_code="import time; time.sleep(0.5); print('later')", language=PYTHON
    )
    assert submission.token is not None
    assert not submission.is_done()
    judge0.wait(client=client, submissions=submission)
    assert submission.status == judge0.Status.ACCEPTED
    assert submission.stdout == "later\n"
    assert submission.wall_time >= 0.5
