"""Turn isobox's errors and FastAPI's validation errors into clear JSON 4xx/5xx answers."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from isobox.errors import (
    BackendUnavailable,
    PolicyError,
    RequestProblem,
    SandboxError,
    Saturated,
    TooManyRuns,
    excerpt,
)
from isobox.wire import ErrorResponse

log = logging.getLogger(__name__)

# Backstops: whatever a message quotes, a body stays small.
MAX_MESSAGE_CHARS = 512
MAX_FIELD_CHARS = 128

PROBLEM_STATUS = {
    RequestProblem.INVALID: 422,
    RequestProblem.TOO_LARGE: 413,
    RequestProblem.UNKNOWN_LANGUAGE: 422,
}


def error_response(status: int, error: str, message: str, field: str | None = None) -> JSONResponse:
    """The one builder of isobox's error body (`ErrorResponse`), for every 4xx and 5xx."""
    body = ErrorResponse(
        error=error,
        message=excerpt(message, MAX_MESSAGE_CHARS),
        field=None if field is None else excerpt(field, MAX_FIELD_CHARS),
    )
    return JSONResponse(status_code=status, content=body.model_dump())


def _field_name(location: tuple[Any, ...]) -> str:
    # An unknown field's name is the client's text: quote a prefix of it only.
    parts = [excerpt(str(part)) for part in location if part != "body"]
    name = ""
    for part in parts:
        name += f"[{part}]" if part.isdigit() else (f".{part}" if name else part)
    return name or "body"


async def _validation_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    first = error.errors()[0]
    if first.get("type") == "json_invalid":
        return error_response(400, "invalid_json", "the body is not valid JSON in UTF-8", "body")
    field = _field_name(tuple(first.get("loc", ())))
    message = f"{field}: {first.get('msg', 'invalid')}"
    if first.get("type") == "missing":
        message = f"{field} is required"
    elif first.get("type") == "extra_forbidden":
        message = f"{field} is not a known field"
    return error_response(422, "invalid_request", message, field)


async def _http_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HTTPException)
    if error.status_code == 400:
        # FastAPI's only own 400: the body could not be decoded before validation.
        return error_response(400, "invalid_json", "the body is not valid JSON in UTF-8", "body")
    codes = {
        401: "unauthorized",
        404: "not_found",
        405: "method_not_allowed",
        429: "rate_limited",
    }
    response = error_response(
        error.status_code, codes.get(error.status_code, "http_error"), str(error.detail)
    )
    response.headers.update(error.headers or {})
    return response


async def _policy_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, PolicyError)
    return error_response(
        PROBLEM_STATUS[error.problem], error.problem.value, str(error), error.field
    )


async def _backend_unavailable(_: Request, error: Exception) -> JSONResponse:
    log.warning("backend unavailable: %s", error)
    return error_response(503, "backend_unavailable", str(error))


async def _saturated(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, Saturated)
    response = error_response(503, "saturated", str(error))
    response.headers["Retry-After"] = str(error.retry_after_s)
    return response


async def _too_many_runs(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, TooManyRuns)
    response = error_response(429, "too_many_runs", str(error))
    response.headers["Retry-After"] = str(error.retry_after_s)
    return response


async def _sandbox_error(_: Request, error: Exception) -> JSONResponse:
    log.error("sandbox failure: %s", error)
    return error_response(503, "sandbox_failure", str(error))


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(PolicyError, _policy_error)
    app.add_exception_handler(BackendUnavailable, _backend_unavailable)
    app.add_exception_handler(SandboxError, _sandbox_error)
    app.add_exception_handler(Saturated, _saturated)
    app.add_exception_handler(TooManyRuns, _too_many_runs)
