"""Piston's v2 API (`/api/v2/runtimes`, `/api/v2/execute`), so Piston clients work unchanged.

The translation lives in `isobox.api.piston`; runs go through the same `ExecutionService`
(policy, slots, metrics) and the same API keys and per-client limits as `POST /execute`.
Refusals answer Piston's way, 400 `{"message": ...}`; the shared dependencies (401, 429) and
service failures (503) keep isobox's body, which carries a `message` too. The API key check
(`isobox.api.auth`) also takes the bare `Authorization: KEY` Piston clients send.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request, Response
from fastapi.responses import JSONResponse

from isobox.api import piston
from isobox.api.client_limits import limit_client
from isobox.api.deps import ServiceDep
from isobox.api.openapi import errors
from isobox.api.routes.execute import CLIENT_CLOSED_REQUEST, ClientGone, unless_client_leaves
from isobox.errors import PolicyError, RequestProblem, excerpt
from isobox.wire import ErrorResponse

PISTON_EXAMPLE = {
    "language": "python",
    "version": "*",
    "files": [{"name": "main.py", "content": "print(input())"}],
    "stdin": "hello",
    "args": [],
    "run_timeout": 3000,
    "run_memory_limit": -1,
}


router = APIRouter(prefix="/api/v2", tags=["piston"])
# Piston's own refusals have Piston's body; the key check, client limits and service failures
# (and a body over the server's cap) have isobox's.
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": piston.PistonMessage, "description": "Piston would refuse it too."},
    413: {
        "model": piston.PistonMessage | ErrorResponse,
        "description": "Code, files, stdin or body too large.",
    },
    415: {"model": piston.PistonMessage, "description": "The body is not declared JSON."},
    **errors(401, 429, 503),
}


def _message(status: int, message: str) -> JSONResponse:
    """Piston's error body (a backstop keeps it short, whatever the message quotes)."""
    return JSONResponse(status_code=status, content={"message": excerpt(message, 512)})


# Piston (Express) also answers with a trailing slash, and some clients send one.
@router.get(
    "/runtimes",
    response_model=list[piston.PistonRuntime],
    response_model_exclude_unset=True,
    responses=errors(401),
)
@router.get("/runtimes/", include_in_schema=False, response_model_exclude_unset=True)
async def runtimes(service: ServiceDep) -> list[piston.PistonRuntime]:
    """The languages this backend can run, as Piston lists its runtimes."""
    return piston.runtimes(service.available_languages())


@router.post(
    "/execute",
    dependencies=[Depends(limit_client)],
    response_model=piston.PistonExecuteResponse,
    response_model_exclude_unset=True,
    responses=ERRORS,
)
@router.post(
    "/execute/",
    dependencies=[Depends(limit_client)],
    include_in_schema=False,
    response_model=piston.PistonExecuteResponse,
    response_model_exclude_unset=True,
)
async def execute(
    request: Request,
    service: ServiceDep,
    body: Annotated[
        Any,
        Body(
            description="A Piston v2 execute request: a JSON object.",
            examples=[PISTON_EXAMPLE],
            json_schema_extra={"type": "object"},
        ),
    ] = None,
) -> piston.PistonExecuteResponse | Response:
    """Run a Piston v2 execute request: `{language, version, files, stdin, args, limits}`.

    Times are milliseconds and memory bytes, as in Piston (`-1`: the server's default). The
    answer is Piston's `{language, version, run, compile?}`; `output` is stdout then stderr.
    """
    if not request.headers.get("content-type", "").startswith("application/json"):
        return _message(415, "requests must be of type application/json")
    try:
        job = piston.parse_execute(body, service.available_languages())
    except piston.PistonBadRequest as error:
        return _message(400, str(error))
    try:
        execution = await unless_client_leaves(request, service.execute(job.request))
    except PolicyError as error:
        status = 413 if error.problem is RequestProblem.TOO_LARGE else 400
        return _message(status, piston.policy_message(error, job))
    except ClientGone:
        return Response(status_code=CLIENT_CLOSED_REQUEST)
    return piston.execute_response(execution.language, execution.result)
