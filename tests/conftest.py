"""Shared fixtures: an in-process API client on a real backend, and host facts for isolation tests."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from isobox.api.app import create_app
from isobox.settings import Settings


@asynccontextmanager
async def api_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The real app (lifespan included) behind an in-process HTTP client."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://isobox", timeout=120
        ) as client:
            yield client


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def host_ipv4_addresses() -> list[str]:
    """This machine's own IPv4 addresses: listeners the sandbox must not reach live here."""
    lines = subprocess.run(
        ["ip", "-4", "-o", "addr", "show"], check=True, capture_output=True, text=True
    ).stdout.splitlines()
    return [line.split()[3].split("/")[0] for line in lines]
