"""What the service knows, as the wire answers (`isobox.wire`) the routes return."""

from __future__ import annotations

from isobox.runstate import RunState
from isobox.service import Execution, ExecutionService
from isobox.wire import ExecuteResponse, LanguageInfo, LanguagesResponse, RunResponse


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


def languages_response(service: ExecutionService) -> LanguagesResponse:
    """What `GET /languages` (and the MCP server's list_languages) answer."""
    return LanguagesResponse(
        backend=service.backend.name,
        runtime=service.backend.runtime,
        languages=[
            LanguageInfo(
                name=language.name,
                version=language.version,
                aliases=list(language.aliases),
                compiled=language.compile is not None,
                file=language.file,
            )
            for language in service.available_languages()
        ],
    )
