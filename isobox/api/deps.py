"""Dependencies shared by the routes, declared once as `Annotated` aliases."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request

from isobox.api.client_limits import client_id
from isobox.service import ExecutionService


def get_service(request: Request) -> ExecutionService:
    return cast(ExecutionService, request.app.state.service)


ServiceDep = Annotated[ExecutionService, Depends(get_service)]

ClientDep = Annotated[str, Depends(client_id)]
"""The requesting client's id (API key digest, else address): what runs and limits count by."""
