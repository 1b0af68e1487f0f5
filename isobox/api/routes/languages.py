"""`GET /languages`: what this service can run."""

from __future__ import annotations

from fastapi import APIRouter

from isobox.api.deps import ServiceDep
from isobox.api.openapi import errors
from isobox.wire import LanguageInfo, LanguagesResponse

router = APIRouter(tags=["languages"])


@router.get("/languages", response_model=LanguagesResponse, responses=errors(401))
async def languages(service: ServiceDep) -> LanguagesResponse:
    """Languages the configured backend can run, with versions, aliases and main file names,
    and the runtime that isolates them (bubblewrap, runc, runsc)."""
    return LanguagesResponse(
        backend=service.backend.name,
        runtime=service.backend.runtime,
        languages=[
            LanguageInfo(
                name=language.name,
                version=language.version,
                aliases=list(language.aliases),
                compiled=language.compile is not None,
                file=language.file,
            )
            for language in service.available_languages()
        ],
    )
