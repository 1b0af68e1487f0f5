"""API-layer tests run on the fake backend (tests/helpers/fake_backend.py): no sandbox, no
Docker, no cluster. What a real backend does is proven in tests/backends.

Fixtures:
  fake_backend     a fresh FakeBackend for the test (add scripts, read .specs, .cancelled)
  fake_app         factory: fake_app(**settings_fields) -> the FastAPI app on fake_backend
  fake_client_for  factory: `async with fake_client_for(**settings_fields) as client`, the
                   app started (lifespan) behind an in-process httpx client
  fake_client      fake_client_for() with default settings, started for the test

An app in these tests that would start a real backend fails at once (`no_real_backend`): such a
test belongs in tests/backends, where every backend's behaviour is proven on the real thing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from isobox.api import app as app_module
from isobox.api.app import create_app
from isobox.settings import Settings
from tests.helpers.app import api_client
from tests.helpers.fake_backend import FakeBackend


@pytest.fixture(autouse=True)
def no_real_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    """`make unit` runs where there is no bubblewrap, Docker or cluster: an app here gets its
    backend passed in (the fake), never from the settings."""

    def refuse(settings: Settings) -> None:
        raise AssertionError(
            f"tests/api runs on the fake backend, not {settings.backend!r}: use the fake_client "
            "or fake_client_for fixture (or create_app(settings, backend=FakeBackend())), or "
            "move the test to tests/backends"
        )

    monkeypatch.setattr(app_module, "create_backend", refuse)


@pytest.fixture
def fake_backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
def fake_app(fake_backend: FakeBackend) -> Callable[..., FastAPI]:
    def make(**fields: Any) -> FastAPI:
        return create_app(Settings(**fields), backend=fake_backend)

    return make


@pytest.fixture
def fake_client_for(
    fake_backend: FakeBackend,
) -> Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]:
    def open_client(**fields: Any) -> AbstractAsyncContextManager[httpx.AsyncClient]:
        return api_client(Settings(**fields), backend=fake_backend)

    return open_client


@pytest.fixture
async def fake_client(
    fake_client_for: Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]],
) -> AsyncIterator[httpx.AsyncClient]:
    async with fake_client_for() as client:
        yield client
