"""Liveness and readiness: `/health` (original API), `/healthz`, `/readyz`."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from isobox import __version__
from isobox.api.deps import ServiceDep
from isobox.api.errors import error_response
from isobox.api.readiness import Readiness
from isobox.wire import ErrorResponse, HealthResponse, ReadyResponse

router = APIRouter(tags=["health"])
NOT_READY = "the backend is not ready"


@router.get("/health", response_model=HealthResponse)
async def health() -> HealthResponse:
    """Service identity and liveness, as the original isobox answered it."""
    return HealthResponse(status="healthy", service="isobox", version=__version__)


@router.get("/healthz", response_model=HealthResponse)
async def healthz() -> HealthResponse:
    """The process is alive (Kubernetes liveness probe)."""
    return HealthResponse(status="ok", service="isobox", version=__version__)


@router.get(
    "/readyz",
    response_model=ReadyResponse,
    responses={503: {"model": ErrorResponse, "description": "The backend cannot run anything."}},
)
async def readyz(request: Request, service: ServiceDep) -> ReadyResponse | JSONResponse:
    """The backend answers, so runs can happen (Kubernetes readiness probe). The answer is
    reused for `ISOBOX_READYZ_CACHE_S`; why the backend is not ready is logged, and told only
    to a caller presenting a valid API key."""
    readiness: Readiness = request.app.state.readiness
    problem = await readiness.problem()
    if problem is not None:
        key_holder = bool(getattr(request.state, "client_id", None))
        message = f"{NOT_READY}: {problem}" if key_holder else NOT_READY
        return error_response(503, "backend_unavailable", message)
    limits = "enforced" if service.backend.enforces_resource_limits else "partial"
    backend = service.backend
    return ReadyResponse(
        status="ready", backend=backend.name, resource_limits=limits, runtime=backend.runtime
    )
