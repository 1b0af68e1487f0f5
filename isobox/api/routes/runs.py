"""`/runs`: submit a run and come back for it; cancel it on the way."""

from __future__ import annotations

from typing import Annotated, Any, cast

from fastapi import APIRouter, Depends, Header, HTTPException, Request

from isobox.api.client_limits import admit_client
from isobox.api.deps import ClientDep
from isobox.api.responses import run_response
from isobox.models import ExecutionRequest
from isobox.runs import RunStore
from isobox.runstate import RunState
from isobox.wire import ErrorResponse, RunResponse

router = APIRouter(prefix="/runs", tags=["runs"])


def get_runs(request: Request) -> RunStore:
    return cast(RunStore, request.app.state.runs)


RunsDep = Annotated[RunStore, Depends(get_runs)]
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "No such run (or it expired)."}
}


def _found(state: RunState | None) -> RunState:
    if state is None:
        raise HTTPException(404, detail="no such run")
    return state


@router.post(
    "",
    status_code=202,
    response_model=RunResponse,
    responses={422: {"model": ErrorResponse}, 413: {"model": ErrorResponse}},
)
async def submit_run(
    body: ExecutionRequest,
    runs: RunsDep,
    request: Request,
    client: ClientDep,
    idempotency_key: Annotated[str | None, Header(max_length=256)] = None,
) -> RunResponse:
    """Start a run and return its id at once; a repeated `Idempotency-Key` returns the
    first run instead of starting another. The run counts against this client's in-flight
    limit until it ends, and only this client sees it."""
    release = admit_client(request)
    return run_response(await runs.submit(body, client, idempotency_key, on_end=release))


@router.get("/{run_id}", response_model=RunResponse, responses=NOT_FOUND)
async def get_run(run_id: str, runs: RunsDep, client: ClientDep) -> RunResponse:
    """The run's status and, when it has ended, the same result as `POST /execute`."""
    return run_response(_found(await runs.get(run_id, client)))


@router.delete("/{run_id}", response_model=RunResponse, responses=NOT_FOUND)
async def cancel_run(run_id: str, runs: RunsDep, client: ClientDep) -> RunResponse:
    """Stop the run and remove its sandbox; an ended run is left as it is. In coderun mode the
    answer is "cancelled" once the operator confirms (waited for briefly), else "running"
    with the cancel recorded in the CodeRun."""
    return run_response(_found(await runs.cancel(run_id, client)))
