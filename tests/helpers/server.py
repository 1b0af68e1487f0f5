"""A real `isobox serve` process, for what only a real server sees (disconnects, signals, TCP
clients), and a free TCP port to put it on."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.helpers.environment import clean_environment
from tests.helpers.processes import stop_process
from tests.helpers.wait import wait_until


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def isobox_server(log_path: Path, **env: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`isobox serve` on a free port, in this environment without isobox settings plus `env`;
    yields its URL, once /readyz answers, and the process, which is stopped afterwards unless
    the test already did."""
    port = free_port()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "isobox", "serve"],
            env=clean_environment(**env, PORT=str(port)),
            stdout=log,
            stderr=log,
        )
    url = f"http://127.0.0.1:{port}"
    try:

        def ready() -> bool:
            assert process.poll() is None, log_path.read_text()
            return _ready(url)

        wait_until(ready, 60, f"isobox serve at {url}", detail=log_path.read_text)
        yield url, process
    finally:
        stop_process(process)


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
