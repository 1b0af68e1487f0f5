"""Server-Sent Events of a run: its output as it comes, then the result `/execute` returns.

`event: stdout` / `event: stderr` carry `{"text": ...}` of the program; `event: compile`
carries `{"stream": "stdout"|"stderr", "text": ...}` of a compile step; the last event is
`event: result` with exactly the `/execute` body, or `event: error` with isobox's error body
when the run could not happen (the status line, 200, was sent before that was known).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from isobox.api.errors import MAX_MESSAGE_CHARS
from isobox.api.responses import execute_response, run_response
from isobox.errors import BackendUnavailable, IsoboxError, SandboxError, Saturated, excerpt
from isobox.runstate import OutputChunk, RunEvent
from isobox.service import Execution

log = logging.getLogger(__name__)
MEDIA_TYPE = "text/event-stream"
# One event of such a stream, as OpenAPI describes a stream's items (`data` is JSON text).
EVENT_SCHEMA = {
    "type": "object",
    "properties": {
        "event": {"type": "string", "enum": ["stdout", "stderr", "compile", "result", "error"]},
        "data": {"type": "string"},
    },
    "required": ["event", "data"],
}
ERROR_CODES: tuple[tuple[type[IsoboxError], str], ...] = (
    (SandboxError, "sandbox_failure"),
    (BackendUnavailable, "backend_unavailable"),
    (Saturated, "saturated"),
)


def wants_events(accept: str) -> bool:
    return MEDIA_TYPE in accept.lower()


def event(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def chunk_event(chunk: OutputChunk) -> bytes:
    if chunk.stage == "compile":
        return event("compile", {"stream": chunk.stream, "text": chunk.text})
    return event(chunk.stream, {"text": chunk.text})


async def followed_run_events(items: AsyncIterator[RunEvent]) -> AsyncIterator[bytes]:
    """The event stream of an asynchronous run, ending with its `GET /runs/{id}` body."""
    async for item in items:
        if isinstance(item, OutputChunk):
            yield chunk_event(item)
        else:
            yield event("result", run_response(item).model_dump(mode="json"))


async def run_events(items: AsyncIterator[OutputChunk | Execution]) -> AsyncIterator[bytes]:
    """The event stream of one run, ending with its result or the error that stopped it."""
    try:
        async for item in items:
            if isinstance(item, OutputChunk):
                yield chunk_event(item)
            else:
                yield event("result", execute_response(item).model_dump(mode="json"))
    except IsoboxError as error:
        code = next((name for kind, name in ERROR_CODES if isinstance(error, kind)), "error")
        log.warning("streamed run failed: %s", error)
        message = excerpt(str(error), MAX_MESSAGE_CHARS)
        yield event("error", {"error": code, "message": message, "field": None})
