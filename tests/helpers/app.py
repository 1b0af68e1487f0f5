"""The app (lifespan included) behind an in-process HTTP client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from isobox.api.app import create_app
from isobox.backends.base import Backend
from isobox.settings import Settings


@asynccontextmanager
async def api_client(
    settings: Settings, backend: Backend | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """`create_app(settings, backend)` started, behind an httpx client; without `backend`, the
    one `settings` names (a real one)."""
    app = create_app(settings, backend=backend)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://isobox", timeout=120
        ) as client:
            yield client
