"""A listener this test process opens on 127.0.0.1 to receive completion callbacks (never an
outside address), and the settings that let callbacks reach it."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

SECRET = "callback-test-secret"
# Loopback is denied by default; these tests allow 127.0.0.1 by leaving it off the deny list.
ON_LOOPBACK = {
    "callback_allowed_hosts": "127.0.0.1",
    "callback_secret": SECRET,
    "callback_deny_cidrs": "10.96.0.0/12",
    "callback_retry_base_s": 0.05,
}


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Listener:
    """An HTTP listener on 127.0.0.1 answering from `answers` (the last one repeats)."""

    answers: list[tuple[int, dict[str, str]]]
    received: list[Received] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/done"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        method, path, _ = head[0].split(" ")
        headers = {}
        for line in head[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        self.received.append(Received(method, path, headers, body))
        status, extra = self.answers[min(len(self.received), len(self.answers)) - 1]
        lines = [f"HTTP/1.1 {status} X", "Content-Length: 2", "Connection: close"]
        lines += [f"{name}: {value}" for name, value in extra.items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\nok").encode())
        await writer.drain()
        writer.close()


@asynccontextmanager
async def listening() -> AsyncIterator[Listener]:
    found = Listener(answers=[(200, {})])
    server = await asyncio.start_server(found.handle, "127.0.0.1", 0)
    found.port = server.sockets[0].getsockname()[1]
    async with server:
        yield found


async def until(predicate, seconds: float = 10):
    for _ in range(int(seconds / 0.02)):
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(0.02)
    raise AssertionError("timed out")


def signed(received: Received) -> bool:
    expected = "sha256=" + hmac.new(SECRET.encode(), received.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(received.headers["x-isobox-signature"], expected)
