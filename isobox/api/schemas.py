"""HTTP response shapes (the request shape is `isobox.models.ExecutionRequest`)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from isobox.models import RunResult


class ExecuteResponse(RunResult):
    """The result of `POST /execute`."""

    run_id: Annotated[
        str, Field(description="Identifier of this run (labels, logs, CodeRun name).")
    ]
    language: Annotated[str, Field(description="Canonical name of the language that ran.")]
    backend: Annotated[str, Field(description="Backend that ran it.")]


class ErrorResponse(BaseModel):
    """Body of every 4xx and 5xx answer."""

    error: Annotated[str, Field(description="Machine-readable code, e.g. invalid_request.")]
    message: Annotated[str, Field(description="What is wrong, in a sentence.")]
    field: Annotated[str | None, Field(description="The offending request field, if any.")] = None


class HealthResponse(BaseModel):
    status: str
    service: str
    version: str


class ReadyResponse(BaseModel):
    status: str
    backend: str
    resource_limits: Annotated[
        str, Field(description="enforced, or partial where the host refuses cgroup limits.")
    ]


class LanguageInfo(BaseModel):
    name: str
    version: str
    aliases: list[str]
    compiled: bool


class LanguagesResponse(BaseModel):
    backend: str
    languages: list[LanguageInfo]
