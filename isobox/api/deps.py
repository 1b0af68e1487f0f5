"""Dependencies shared by the routes, declared once as `Annotated` aliases."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request

from isobox.service import ExecutionService


def get_service(request: Request) -> ExecutionService:
    return cast(ExecutionService, request.app.state.service)


ServiceDep = Annotated[ExecutionService, Depends(get_service)]
