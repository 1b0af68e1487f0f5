"""The wire shapes: what a user sends and what every backend answers.

`ExecutionRequest` is what a user asks for (from HTTP or a CodeRun spec); the policy turns it
into a `isobox.spec.RunSpec` that every backend can trust; every backend answers with a
`RunResult`. Nothing here depends on the server, so the client can use these alone.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class SourceFile(BaseModel):
    """An extra file placed beside the main file in the sandbox work directory."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(description="Relative path inside the work directory.")]
    content: Annotated[str, Field(description="File content (UTF-8 text).")]


class ExecutionRequest(BaseModel):
    """One program to run, as a user sends it."""

    model_config = ConfigDict(extra="forbid")

    language: Annotated[str, Field(description="Language name or alias, see GET /languages.")]
    code: Annotated[str, Field(description="Source of the main file.")]
    stdin: Annotated[str, Field(description="Text fed to the program's standard input.")] = ""
    args: Annotated[list[str], Field(description="Command-line arguments.")] = []
    files: Annotated[list[SourceFile], Field(description="Extra files beside the main file.")] = []
    timeout: Annotated[
        float | None, Field(description="Wall-clock limit in seconds (server default if unset).")
    ] = None
    memory: Annotated[
        int | None, Field(description="Memory limit in MiB (server default if unset).")
    ] = None
    compile_timeout: Annotated[
        float | None,
        Field(description="Wall-clock limit of the compile step in seconds (compiled languages)."),
    ] = None
    compile_memory: Annotated[
        int | None,
        Field(description="Memory limit of the compile step in MiB (compiled languages)."),
    ] = None
    cpu_time: Annotated[
        float | None,
        Field(
            description="CPU-time limit of the program in seconds, over its whole process "
            "tree (besides the wall-clock `timeout`); unset: none."
        ),
    ] = None
    compile_cpu_time: Annotated[
        float | None,
        Field(description="CPU-time limit of the compile step in seconds; unset: none."),
    ] = None


class StageResult(BaseModel):
    """What one stage (compile or run) of a program produced."""

    stdout: str = ""
    stderr: str = ""
    exit_code: int | None = None
    signal: str | None = None
    timed_out: bool = False
    oom_killed: bool = False
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    duration_ms: int = 0
    cpu_time_ms: Annotated[
        int, Field(description="User + system CPU of the stage's whole process tree.")
    ] = 0
    memory_peak_kib: Annotated[
        int, Field(description="Peak resident memory of the stage's process tree, KiB.")
    ] = 0
    cpu_time_exceeded: Annotated[
        bool, Field(description="The stage went past its CPU-time limit (`cpu_time`).")
    ] = False


class RunResult(StageResult):
    """The outcome of one execution, as every backend reports it."""

    compile: StageResult | None = None
    runtime: Annotated[
        str,
        Field(description="What isolated the program: runc, runsc (gVisor) or bubblewrap."),
    ] = ""
    warm: Annotated[
        bool,
        Field(description="Whether the run got a warm sandbox (provisioned ahead, used once)."),
    ] = False
