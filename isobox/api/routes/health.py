"""Liveness and readiness: `/health` (original API), `/healthz`, `/readyz`."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from isobox import __version__
from isobox.api.deps import ServiceDep
from isobox.api.errors import error_response
from isobox.errors import BackendUnavailable
from isobox.wire import ErrorResponse, HealthResponse, ReadyResponse

router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthResponse)
async def health() -> HealthResponse:
    """Service identity and liveness, as the original isobox answered it."""
    return HealthResponse(status="healthy", service="isobox", version=__version__)


@router.get("/healthz", response_model=HealthResponse)
async def healthz() -> HealthResponse:
    """The process is alive (Kubernetes liveness probe)."""
    return HealthResponse(status="ok", service="isobox", version=__version__)


@router.get("/readyz", response_model=ReadyResponse, responses={503: {"model": ErrorResponse}})
async def readyz(service: ServiceDep) -> ReadyResponse | JSONResponse:
    """The backend answers, so runs can happen (Kubernetes readiness probe)."""
    try:
        await service.backend.check()
    except BackendUnavailable as error:
        return error_response(503, "backend_unavailable", str(error))
    limits = "enforced" if service.backend.enforces_resource_limits else "partial"
    return ReadyResponse(status="ready", backend=service.backend.name, resource_limits=limits)
