"""`GET /metrics`: Prometheus exposition of the execution metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST

from isobox.api.deps import ServiceDep
from isobox.api.openapi import errors

router = APIRouter(tags=["metrics"])


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {"schema": {"type": "string"}}}},
        **errors(401),
    },
)
async def metrics(service: ServiceDep) -> Response:
    """Executions by language, backend and outcome; queue, run, start-up and program latency;
    runs in flight; output bytes."""
    return Response(service.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
