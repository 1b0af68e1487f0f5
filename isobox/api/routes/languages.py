"""`GET /languages`: what this service can run."""

from __future__ import annotations

from fastapi import APIRouter

from isobox.api.deps import ServiceDep
from isobox.api.openapi import errors
from isobox.api.responses import languages_response
from isobox.wire import LanguagesResponse

router = APIRouter(tags=["languages"])


@router.get("/languages", response_model=LanguagesResponse, responses=errors(401))
async def languages(service: ServiceDep) -> LanguagesResponse:
    """Languages the configured backend can run, with versions, aliases and main file names,
    and the runtime that isolates them (bubblewrap, runc, runsc)."""
    return languages_response(service)
