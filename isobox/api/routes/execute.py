"""`POST /execute`: run a program and wait for its result."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import StreamingResponse

from isobox.api import sse
from isobox.api.client_limits import limit_client
from isobox.api.deps import ServiceDep
from isobox.api.openapi import errors
from isobox.api.responses import execute_response
from isobox.models import ExecutionRequest
from isobox.wire import ExecuteResponse

router = APIRouter(tags=["execute"])
T = TypeVar("T")

# Not a real HTTP status: nobody is listening any more (nginx uses it the same way).
CLIENT_CLOSED_REQUEST = 499


class ClientGone(Exception):
    """The client disconnected before the run finished."""


STREAMED: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "With `Accept: text/event-stream`: Server-Sent Events `stdout`, "
        "`stderr` (`{text}`), `compile` (`{stream, text}`) as the program writes, then "
        "`result` (this same body) or `error`.",
        "content": {sse.MEDIA_TYPE: {"schema": sse.EVENT_SCHEMA}},
    }
}


@router.post(
    "/execute",
    dependencies=[Depends(limit_client)],
    response_model=ExecuteResponse,
    responses={**errors(400, 401, 413, 422, 429, 503), **STREAMED},
)
async def execute(
    body: ExecutionRequest, service: ServiceDep, request: Request
) -> ExecuteResponse | Response:
    """Run `code` in a fresh sandbox and return its output.

    A program that fails is still a 200 with its stderr and exit code; only a bad request is a
    4xx. If the client disconnects, the run is stopped and its sandbox removed. With `Accept:
    text/event-stream` the output streams as Server-Sent Events while the program runs, under
    the same checks and limits, and the last event is the result.
    """
    if sse.wants_events(request.headers.get("accept", "")):
        spec = service.prepare(body)  # a bad request is still a 4xx, before any event
        return StreamingResponse(
            sse.run_events(service.stream(spec)),
            media_type=sse.MEDIA_TYPE,
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )
    try:
        execution = await unless_client_leaves(request, service.execute(body))
    except ClientGone:
        return Response(status_code=CLIENT_CLOSED_REQUEST)
    return execute_response(execution)


async def unless_client_leaves(request: Request, work: Awaitable[T]) -> T:
    task = asyncio.ensure_future(work)
    watcher = asyncio.create_task(_disconnected(request))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            raise ClientGone
    return task.result()


async def _disconnected(request: Request) -> None:
    # The body is already read, so the next message the server sends is the disconnect.
    while (await request.receive())["type"] != "http.disconnect":
        pass
