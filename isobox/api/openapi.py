"""The OpenAPI description says what the service enforces, not only what pydantic checks.

The request models stay plain (the policy checks limits, with messages naming the field), so
the limits the policy holds a request to are written into the schema here, from the settings
this app runs with: a client or a fuzzer reading `/openapi.json` learns every bound, and every
status a route can answer is listed with its body.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from isobox.policy import MAX_PATH_BYTES, MIN_MEMORY_MIB
from isobox.settings import Settings
from isobox.wire import ErrorResponse

DESCRIPTIONS = {
    400: "The body is not JSON in UTF-8.",
    401: "A valid API key is required (when keys are configured).",
    404: "No such run, or not this client's, or expired.",
    413: "Code, files, stdin or the body are over their caps.",
    422: "A field is missing, mistyped or refused; `field` names it.",
    429: "This client's rate, in-flight or stored-runs limit; see Retry-After.",
    503: "The backend cannot run anything, or every slot and the queue are full.",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these error statuses, each with isobox's error body."""
    return {
        status: {"model": ErrorResponse, "description": DESCRIPTIONS[status]} for status in statuses
    }


def install_openapi(app: FastAPI, settings: Settings) -> None:
    """Serve a schema carrying the policy's bounds for `settings` (built once, on first use)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                routes=app.routes,
            )
            _add_bounds(schema["components"]["schemas"], settings)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _add_bounds(schemas: dict[str, Any], settings: Settings) -> None:
    request = schemas["ExecutionRequest"]["properties"]
    request["language"]["minLength"] = 1
    # Caps are in UTF-8 bytes; a string within one has at most as many characters (a string
    # of fewer characters can still be too many bytes: that is the 413).
    request["code"]["maxLength"] = settings.max_code_bytes
    request["stdin"]["maxLength"] = settings.max_stdin_bytes
    request["args"]["maxItems"] = settings.max_args
    request["args"]["items"]["maxLength"] = settings.max_arg_bytes
    request["files"]["maxItems"] = settings.max_files
    _number(request["timeout"], exclusive_minimum=0, maximum=settings.max_timeout_s)
    _number(request["compile_timeout"], exclusive_minimum=0, maximum=settings.max_compile_timeout_s)
    for field in ("memory", "compile_memory"):
        _number(request[field], minimum=MIN_MEMORY_MIB, maximum=settings.max_memory_mib)
    source = schemas["SourceFile"]["properties"]
    source["name"].update(minLength=1, maxLength=MAX_PATH_BYTES)
    source["content"]["maxLength"] = settings.max_files_bytes


def _number(optional: dict[str, Any], **bounds: float) -> None:
    """Bound the number branch of an optional number (`anyOf: [number, null]`)."""
    names = {"exclusive_minimum": "exclusiveMinimum"}
    for branch in optional["anyOf"]:
        if branch.get("type") in {"number", "integer"}:
            branch.update({names.get(name, name): value for name, value in bounds.items()})
