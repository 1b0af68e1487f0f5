"""`/runs`: submit a run and come back for it; cancel it on the way."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import APIRouter, Depends, Header, HTTPException, Request

from isobox.api.client_limits import admit_client
from isobox.api.deps import ClientDep
from isobox.api.openapi import errors
from isobox.api.responses import run_response
from isobox.models import ExecutionRequest
from isobox.runs import RunStore
from isobox.runstate import RunState
from isobox.wire import RunResponse

router = APIRouter(prefix="/runs", tags=["runs"])


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
    response_model=RunResponse,
    responses=errors(400, 401, 413, 422, 429, 503),
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


@router.get("/{run_id}", response_model=RunResponse, responses=ONE_RUN)
async def get_run(run_id: str, runs: RunsDep, client: ClientDep) -> RunResponse:
    """The run's status and, when it has ended, the same result as `POST /execute`."""
    return run_response(_found(await runs.get(run_id, client)))


@router.delete("/{run_id}", response_model=RunResponse, responses=ONE_RUN)
async def cancel_run(run_id: str, runs: RunsDep, client: ClientDep) -> RunResponse:
    """Stop the run and remove its sandbox; an ended run is left as it is. In coderun mode the
    answer is "cancelled" once the operator confirms (waited for briefly), else "running"
    with the cancel recorded in the CodeRun."""
    return run_response(_found(await runs.cancel(run_id, client)))
