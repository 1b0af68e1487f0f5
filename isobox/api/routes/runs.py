"""`/runs`: submit a run and come back for it; cancel it on the way."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import APIRouter, Depends, Header, HTTPException, Request
from fastapi.responses import StreamingResponse
from pydantic import Field

from isobox.api import sse
from isobox.api.callbacks import (
    CallbackRefused,
    EndSignal,
    RunWithCallback,
    dispatcher_of,
    lifespan,
    run_body,
    wait_for_end,
)
from isobox.api.client_limits import admit_client
from isobox.api.deps import ClientDep
from isobox.api.openapi import errors
from isobox.api.responses import run_response
from isobox.errors import PolicyError
from isobox.models import ExecutionRequest
from isobox.runs import RunStore
from isobox.runstate import RunState

# The lifespan holds the completion-callback dispatcher (also used by the Judge0 routes).
router = APIRouter(prefix="/runs", tags=["runs"], lifespan=lifespan)


class RunSubmission(ExecutionRequest):
    """A run to start, and where to send its result when it ends."""

    callback_url: Annotated[
        str | None,
        Field(
            description="http(s) URL the final `GET /runs/{id}` body is POSTed to once the run "
            "ends, signed `X-Isobox-Signature: sha256=<HMAC>`; its host must be one of "
            "ISOBOX_CALLBACK_ALLOWED_HOSTS."
        ),
    ] = None


def get_runs(request: Request) -> RunStore:
    return cast(RunStore, request.app.state.runs)


RunsDep = Annotated[RunStore, Depends(get_runs)]
# 422 is listed so that FastAPI's default body for it (not isobox's) is not; 503: the
# coderun backend's API server did not answer.
ONE_RUN = errors(401, 404, 422, 503)


def _found(state: RunState | None) -> RunState:
    if state is None:
        raise HTTPException(404, detail="no such run")
    return state


@router.post(
    "",
    status_code=202,
    response_model=RunWithCallback,
    responses=errors(400, 401, 413, 422, 429, 503),
)
async def submit_run(
    body: RunSubmission,
    runs: RunsDep,
    request: Request,
    client: ClientDep,
    idempotency_key: Annotated[str | None, Header(max_length=256)] = None,
) -> RunWithCallback:
    """Start a run and return its id at once; a repeated `Idempotency-Key` returns the
    first run instead of starting another. The run counts against this client's in-flight
    limit until it ends, and only this client sees it. With `callback_url`, its final
    result is POSTed there once it ends (see `callback` in `GET /runs/{id}`)."""
    callbacks = dispatcher_of(request)
    url = body.callback_url
    if url is not None:
        try:
            await callbacks.guard.check(url)
        except CallbackRefused as refused:
            raise PolicyError("callback_url", str(refused)) from refused
    signal = EndSignal(admit_client(request))
    plain = ExecutionRequest.model_validate(body.model_dump(exclude={"callback_url"}))
    state = await runs.submit(plain, client, idempotency_key, on_end=signal)
    signal.arm()
    if url is not None and callbacks.state(state.run_id) is None:  # not for a repeated key

        async def final_body() -> bytes | None:
            ended = await wait_for_end(runs, state.run_id, client, signal)
            return None if ended is None else run_body(ended)

        callbacks.send_when_ended(state.run_id, url, "POST", final_body)
    return _with_callback(request, state)


@router.get("/{run_id}", response_model=RunWithCallback, responses=ONE_RUN)
async def get_run(
    run_id: str, runs: RunsDep, client: ClientDep, request: Request
) -> RunWithCallback:
    """The run's status and, when it has ended, the same result as `POST /execute`; with a
    callback, how its delivery went (`callback: {url, delivered, attempts, last_error}`)."""
    return _with_callback(request, _found(await runs.get(run_id, client)))


@router.get(
    "/{run_id}/events",
    responses={
        **ONE_RUN,
        200: {
            "description": "Server-Sent Events: `stdout`, `stderr`, `compile` as for a streamed "
            "`POST /execute` (all output so far first), then `result` with the `GET /runs/{id}` "
            "body once the run has ended.",
            "content": {sse.MEDIA_TYPE: {"schema": sse.EVENT_SCHEMA}},
        },
    },
)
async def run_events(run_id: str, runs: RunsDep, client: ClientDep) -> StreamingResponse:
    """Follow an asynchronous run as Server-Sent Events, from whenever the client asks (in
    coderun mode: its pod's log while it runs, then its CodeRun)."""
    events = await runs.events(run_id, client)
    if events is None:
        raise HTTPException(404, detail="no such run")
    return StreamingResponse(
        sse.followed_run_events(events),
        media_type=sse.MEDIA_TYPE,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.delete("/{run_id}", response_model=RunWithCallback, responses=ONE_RUN)
async def cancel_run(
    run_id: str, runs: RunsDep, client: ClientDep, request: Request
) -> RunWithCallback:
    """Stop the run and remove its sandbox; an ended run is left as it is. In coderun mode the
    answer is "cancelled" once the operator confirms (waited for briefly), else "running"
    with the cancel recorded in the CodeRun."""
    return _with_callback(request, _found(await runs.cancel(run_id, client)))


def _with_callback(request: Request, state: RunState) -> RunWithCallback:
    callback = dispatcher_of(request).state(state.run_id)
    return RunWithCallback(**dict(run_response(state)), callback=callback)
