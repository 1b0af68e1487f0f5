"""The shapes of the API's answers, shared by the server and the client.

A leaf beside `isobox.models` (the request and result shapes): it depends on pydantic, the
models and the outcome vocabulary only, so `import isobox.client` loads none of the server
(policy, settings, metrics, FastAPI). The server fills these in `isobox.api.responses`.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, computed_field

from isobox.models import RunResult
from isobox.outcome import RunStatus, Verdict, verdict


class ExecuteResponse(RunResult):
    """The result of `POST /execute`."""

    run_id: Annotated[
        str, Field(description="Identifier of this run (labels, logs, CodeRun name).")
    ]
    language: Annotated[str, Field(description="Canonical name of the language that ran.")]
    backend: Annotated[str, Field(description="Backend that ran it.")]

    @computed_field(  # type: ignore[prop-decorator]
        description="accepted, time_limit_exceeded (CPU or wall clock), memory_limit_exceeded, "
        "runtime_error (signal or exit code), output_limit_exceeded, compilation_error: how "
        "the run ended in a judge's words, the same on every backend and endpoint."
    )
    @property
    def verdict(self) -> Verdict:
        return verdict(self)


class RunResponse(BaseModel):
    """An asynchronous run: its state and, once it ended, the same result as /execute."""

    run_id: str
    status: Annotated[
        RunStatus,
        Field(
            description="succeeded: exit 0 with no signal, timeout or OOM kill; failed: any "
            "other ending of the program (a failed compile too); error: it could not run."
        ),
    ]
    result: ExecuteResponse | None = None
    error: Annotated[str | None, Field(description="Why the sandbox could not run it.")] = None


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
    runtime: Annotated[
        str,
        Field(
            description="What isolates the programs this backend runs: bubblewrap (local), "
            "runc or runsc (gVisor) for docker, kubernetes and coderun."
        ),
    ] = ""


class LanguageInfo(BaseModel):
    name: str
    version: str
    aliases: list[str]
    compiled: bool
    file: Annotated[
        str,
        Field(
            description="Main file name in the work directory, e.g. main.py; its extension is "
            "how `isobox run` recognises the language of a file."
        ),
    ]


class LanguagesResponse(BaseModel):
    backend: str
    languages: list[LanguageInfo]
    runtime: Annotated[
        str,
        Field(
            description="What isolates the programs run in: bubblewrap (local), runc or runsc "
            "(gVisor) for docker, kubernetes and coderun."
        ),
    ] = ""
