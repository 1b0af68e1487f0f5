"""The application factory: settings in, a FastAPI app out, no work done at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from isobox import __version__
from isobox.api.auth import DOCUMENT_API_KEY, ApiKeyCheck
from isobox.api.body_limit import BodySizeLimit
from isobox.api.client_limits import ClientLimits
from isobox.api.errors import install_error_handlers
from isobox.api.mcp_endpoint import router as mcp_router
from isobox.api.openapi import install_openapi
from isobox.api.readiness import Readiness
from isobox.api.routes import (
    execute,
    health,
    judge0,
    languages,
    metrics,
    piston,
    playground,
    runs,
)
from isobox.backends.base import Backend
from isobox.backends.factory import create_backend
from isobox.languages import LanguageRegistry
from isobox.metrics import Metrics
from isobox.runs import create_run_store
from isobox.service import ExecutionService
from isobox.settings import Settings


def create_app(settings: Settings, backend: Backend | None = None) -> FastAPI:
    """Build the API; `backend` replaces the configured one (tests)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        registry = LanguageRegistry.load(settings.languages_file)
        chosen = backend or create_backend(settings)
        await chosen.start()
        app.state.service = ExecutionService(settings, registry, chosen, Metrics())
        await app.state.service.start()
        app.state.runs = create_run_store(app.state.service)
        app.state.readiness = Readiness(chosen, settings.readyz_cache_s)
        try:
            yield
        finally:
            await app.state.runs.close()
            await app.state.service.close()
            await chosen.close()

    app = FastAPI(
        title="isobox",
        version=__version__,
        summary="Run untrusted code safely.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    install_openapi(app, settings)
    app.state.client_limits = ClientLimits.from_settings(settings)
    app.include_router(health.router)
    for module in (execute, runs, languages, metrics, piston, judge0):
        app.include_router(module.router, dependencies=DOCUMENT_API_KEY)
    app.include_router(mcp_router)  # /mcp: the MCP server, its sessions in the lifespan
    app.include_router(playground.router)  # the page needs no key; what it calls does
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    # Added last, so outermost: a request without a valid key is refused before anything,
    # its body included, is read.
    app.add_middleware(ApiKeyCheck, digests=settings.api_key_digests())
    return app
