"""What the service knows, as the wire answers (`isobox.wire`) the routes return."""

from __future__ import annotations

from isobox.runstate import RunState
from isobox.service import Execution
from isobox.wire import ExecuteResponse, RunResponse


def execute_response(execution: Execution) -> ExecuteResponse:
    return ExecuteResponse(
        **execution.result.model_dump(),
        run_id=execution.run_id,
        language=execution.language.name,
        backend=execution.backend,
    )


def run_response(state: RunState) -> RunResponse:
    result = None
    if state.result is not None:
        result = ExecuteResponse(
            **state.result.model_dump(),
            run_id=state.run_id,
            language=state.language,
            backend=state.backend,
        )
    return RunResponse(run_id=state.run_id, status=state.status, result=result, error=state.error)
