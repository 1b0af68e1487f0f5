"""A client that gives up, or a server that stops, leaves no sandbox behind.

These run a real `isobox serve` process, since only a real server sees a client disconnect.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import httpx
import pytest

from tests.helpers import leaks
from tests.helpers.backends import SANDBOX_NAMESPACE
from tests.helpers.processes import stop_process
from tests.helpers.server import isobox_server
from tests.helpers.wait import wait_until

SLOW = {"language": "bash", "code": "echo started; sleep 25; echo finished", "timeout": 30}


@pytest.fixture(
    params=[
        pytest.param("local", marks=pytest.mark.local),
        pytest.param("docker", marks=pytest.mark.docker),
        pytest.param("kubernetes", marks=pytest.mark.cluster),
    ]
)
def server(request, tmp_path):
    if request.param in {"kubernetes", "coderun"}:
        request.getfixturevalue("sandbox_namespace")
    if request.param == "coderun":
        request.getfixturevalue("operator")
    env = {
        "ISOBOX_BACKEND": request.param,
        # Cold: a warm pool's idle sandboxes would look like the run's (test_pool.py covers
        # the warm path's clean-up).
        "ISOBOX_POOL_SIZE": "",
        "ISOBOX_KUBERNETES_NAMESPACE": SANDBOX_NAMESPACE,
        "ISOBOX_KUBERNETES_IMAGE_PULL_POLICY": "Never",
    }
    with isobox_server(tmp_path / "server.log", **env) as (url, process):
        yield request.param, url, process


def test_a_client_disconnect_removes_the_sandbox(server):
    backend, url, _ = server
    since = time.time()
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{url}/execute", json=SLOW, timeout=httpx.Timeout(6, connect=5))
    wait_until(
        lambda: not leaks.run_sandboxes(backend, "sleep 25", since),
        30,
        "the sandbox to be removed",
        detail=lambda: leaks.run_sandboxes(backend, "sleep 25", since),
    )


def test_a_server_shutdown_removes_the_sandbox(server):
    backend, url, process = server
    since = time.time()
    client = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import httpx, sys; httpx.post(sys.argv[1] + '/execute', json={'language': 'bash', "
                "'code': 'sleep 25', 'timeout': 30}, timeout=60)"
            ),
            url,
        ],
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: leaks.run_sandboxes(backend, "sleep 25", since), 60, "the run to start")
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)  # the run would take 25 s: it is stopped, not awaited
        wait_until(
            lambda: not leaks.run_sandboxes(backend, "sleep 25", since),
            30,
            "the sandbox to be removed",
            detail=lambda: leaks.run_sandboxes(backend, "sleep 25", since),
        )
    finally:
        stop_process(client)
