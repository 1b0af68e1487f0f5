"""What a hostile client can still make the server do (issue 15), against a real `isobox serve`
where only a real server shows it (memory, connections) and in process otherwise."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from isobox.api.auth import key_digest
from tests.helpers.server import isobox_server

pytestmark = pytest.mark.local

KEY = "hardening-key"
MIB = 1024 * 1024
# A 2 MiB body of empty objects is ~700,000 Python dicts once parsed (~100 MiB): what a
# server that parses before it checks the key spends on a client that has no key.
EMPTY_OBJECTS = b"[" + b"{}," * ((2 * MIB - 4096) // 3) + b"{}]"
RSS_GROWTH_BOUND = 30 * MIB
MAX_CONNECTIONS = 30


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[tuple[str, int]]:
    """A real `isobox serve` on the local backend with an API key and few connections."""
    log = tmp_path_factory.mktemp("hardening") / "serve.log"
    with isobox_server(
        log,
        ISOBOX_BACKEND="local",
        ISOBOX_API_KEY_HASHES=key_digest(KEY),
        ISOBOX_MAX_CONNECTIONS=str(MAX_CONNECTIONS),
    ) as (url, process):
        yield url, process.pid


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


async def post_unauthenticated(url: str, count: int) -> list[int]:
    limits = httpx.Limits(max_connections=count)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        answers = await asyncio.gather(
            *(
                client.post(
                    "/execute",
                    content=EMPTY_OBJECTS,
                    headers={"content-type": "application/json"},
                )
                for _ in range(count)
            )
        )
    return [answer.status_code for answer in answers]


async def test_unauthenticated_bodies_are_refused_before_they_are_read(server):
    url, pid = server
    before = rss_bytes(pid)
    statuses = await post_unauthenticated(url, 20)
    grown = rss_bytes(pid) - before
    print(f"RSS before {before / MIB:.1f} MiB, grown by {grown / MIB:.1f} MiB")
    assert statuses == [401] * 20
    assert grown < RSS_GROWTH_BOUND, f"RSS grew by {grown / MIB:.1f} MiB"
    # The server still answers, and a client with the key still runs.
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        ran = await client.post(
            "/execute", json={"language": "bash", "code": "echo hi"}, headers={"X-API-Key": KEY}
        )
    assert (ran.status_code, ran.json()["stdout"]) == (200, "hi\n")


def test_piston_clients_bare_key_still_works_and_health_needs_none(server):
    url, _ = server
    assert httpx.get(f"{url}/api/v2/runtimes", headers={"Authorization": KEY}).status_code == 200
    assert httpx.get(f"{url}/api/v2/runtimes", headers={"Authorization": "x"}).status_code == 401
    # Bare keys are Piston's dialect only.
    assert httpx.get(f"{url}/languages", headers={"Authorization": KEY}).status_code == 401
    for path in ("/health", "/healthz", "/readyz"):
        assert httpx.get(f"{url}{path}").status_code == 200


def test_headers_that_never_end_are_not_buffered_past_the_bound(server):
    url, _ = server
    port = int(url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        answer = b""
        try:
            connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: ")
            # 64 KiB of a header line that never ends: past ISOBOX_MAX_HEADER_BYTES (16 KiB).
            for _ in range(64):
                connection.sendall(b"p" * 1024)
            answer = connection.recv(4096)
        except (BrokenPipeError, ConnectionResetError):
            answer = b"reset"  # refused while we were still sending: as good
    assert answer.startswith((b"HTTP/1.1 400", b"reset")), answer[:200]
    assert httpx.get(f"{url}/healthz").status_code == 200


def test_connections_beyond_the_bound_are_refused_with_503(server):
    url, _ = server
    port = int(url.rsplit(":", 1)[1])
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(MAX_CONNECTIONS)]
    try:
        crowded = httpx.get(f"{url}/healthz", timeout=10)
        assert crowded.status_code == 503
    finally:
        for connection in idle:
            connection.close()
    assert httpx.get(f"{url}/healthz", timeout=10).status_code == 200
