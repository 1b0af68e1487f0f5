"""Output that arrives while the program runs, on every backend, through a real server (an
in-process ASGI client buffers whole responses, so it cannot show streaming)."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from tests.helpers import leaks
from tests.helpers.backends import BACKENDS, SANDBOX_NAMESPACE
from tests.helpers.server import isobox_server
from tests.helpers.wait import wait_until

TWO_LINES = "import time\nprint('one', flush=True)\ntime.sleep(1)\nprint('two', flush=True)\n"
EVENTS = {"accept": "text/event-stream"}


@pytest.fixture(scope="module", params=BACKENDS)
def server(request, tmp_path_factory):
    env = {"ISOBOX_BACKEND": request.param, "ISOBOX_POOL_SIZE": ""}
    if request.param in {"kubernetes", "coderun"}:
        request.getfixturevalue("sandbox_namespace")
        env |= {
            "ISOBOX_KUBERNETES_NAMESPACE": SANDBOX_NAMESPACE,
            "ISOBOX_KUBERNETES_IMAGE_PULL_POLICY": "Never",
        }
    if request.param == "coderun":
        request.getfixturevalue("operator")
    log = tmp_path_factory.mktemp("serve") / f"{request.param}.log"
    with isobox_server(log, **env) as (url, _):
        yield url, request.param


def sse(method: str, url: str, **request) -> list[tuple[float, str, dict]]:
    """Each Server-Sent Event of one answer, with the seconds since the request went out."""
    started, seen, name = time.monotonic(), [], ""
    with httpx.stream(method, url, timeout=180, **request) as answer:
        assert answer.status_code == 200, answer.read()
        assert answer.headers["content-type"].startswith("text/event-stream")
        for line in answer.iter_lines():
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                seen.append((time.monotonic() - started, name, json.loads(line[6:])))
    return seen


def events(url: str, body: dict) -> list[tuple[float, str, dict]]:
    return sse("POST", f"{url}/execute", json=body, headers=EVENTS)


def test_output_arrives_while_the_program_runs(server):
    url, _ = server
    seen = events(url, {"language": "python", "code": TWO_LINES})
    printed = [(at, data["text"]) for at, name, data in seen if name == "stdout"]
    assert "".join(text for _, text in printed) == "one\ntwo\n"
    first = next(at for at, text in printed if "one" in text)
    second = next(at for at, text in printed if "two" in text)
    assert second - first >= 0.7, printed  # the second line came a second later, not together
    name, result = seen[-1][1], seen[-1][2]
    assert name == "result"
    assert (result["stdout"], result["exit_code"], result["verdict"]) == (
        "one\ntwo\n",
        0,
        "accepted",
    )


def test_a_compile_step_streams_as_compile_events(server):
    url, _ = server
    seen = events(url, {"language": "c", "code": "int main(void) { return nope; }"})
    compiled = [data for _, name, data in seen if name == "compile"]
    assert any("nope" in data["text"] for data in compiled if data["stream"] == "stderr")
    assert seen[-1][1] == "result"
    assert seen[-1][2]["verdict"] == "compilation_error"


def test_the_stream_is_cut_at_the_output_limit_too(server):
    url, _ = server
    code = "import sys\nsys.stdout.write('x' * (3 * 2**20))\n"
    seen = events(url, {"language": "python", "code": code})
    streamed = "".join(data["text"] for _, name, data in seen if name == "stdout")
    result = seen[-1][2]
    assert result["stdout_truncated"]
    assert streamed == result["stdout"]  # the stream shows what the result keeps, no more
    assert len(streamed) >= 2**18  # the output limit (a CodeRun's is 256 KiB)


def test_a_bad_request_is_still_a_4xx_before_any_event(server):
    url, _ = server
    answer = httpx.post(
        f"{url}/execute", json={"language": "cobol", "code": "x"}, headers=EVENTS, timeout=30
    )
    assert answer.status_code == 422
    assert answer.json()["field"] == "language"


def test_a_client_that_leaves_mid_stream_stops_the_run_and_its_sandbox(server):
    url, backend = server
    since = time.time() - 1
    body = {
        "language": "python",
        "code": "import time\nprint('go', flush=True)\ntime.sleep(60)\n",
        "timeout": 60,
    }
    with httpx.stream("POST", f"{url}/execute", json=body, headers=EVENTS, timeout=120) as answer:
        for line in answer.iter_lines():
            if line.startswith("data: ") and "go" in line:
                break

    def sandbox_gone() -> bool:
        if backend == "local":
            return not leaks.sandbox_processes(since)
        if backend == "docker":
            return not leaks.sandbox_containers(since)
        return not leaks.sandbox_pods(since)

    wait_until(sandbox_gone, 30, f"the {backend} sandbox of the abandoned stream to go")


def run_events(url: str, run_id: str) -> list[tuple[float, str, dict]]:
    return sse("GET", f"{url}/runs/{run_id}/events")


def test_an_async_run_streams_while_it_runs_and_replays_after(server):
    url, _ = server
    submitted = httpx.post(
        f"{url}/runs", json={"language": "python", "code": TWO_LINES}, timeout=60
    )
    assert submitted.status_code == 202, submitted.text
    run_id = submitted.json()["run_id"]
    live = run_events(url, run_id)
    printed = [(at, data["text"]) for at, name, data in live if name == "stdout"]
    assert "".join(text for _, text in printed) == "one\ntwo\n"
    first = next(at for at, text in printed if "one" in text)
    second = next(at for at, text in printed if "two" in text)
    assert second - first >= 0.7, printed
    name, body = live[-1][1], live[-1][2]
    assert (name, body["status"], body["result"]["stdout"]) == ("result", "succeeded", "one\ntwo\n")
    again = run_events(url, run_id)  # an ended run replays its output, then its state
    assert "".join(d["text"] for _, n, d in again if n == "stdout") == "one\ntwo\n"
    assert again[-1][1] == "result"


def test_events_of_an_unknown_run_are_404(server):
    url, _ = server
    answer = httpx.get(f"{url}/runs/0123456789abcdef0123/events", timeout=30)
    assert answer.status_code == 404
