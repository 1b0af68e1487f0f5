"""The request and result shapes every layer shares.

`ExecutionRequest` is what a user asks for (from HTTP or a CodeRun spec); the policy turns it
into a `RunSpec` that every backend can trust; every backend answers with a `RunResult`.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from isobox.languages import Language


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


class Limits(BaseModel):
    """Resource limits one run gets, already checked against the server maxima."""

    model_config = ConfigDict(frozen=True)

    timeout_s: float
    memory_mib: int
    cpus: float
    pids: int
    output_bytes: int
    scratch_mib: int
    compile_timeout_s: float
    compile_memory_mib: int

    def sandbox_memory_mib(self, compiles: bool) -> int:
        """The memory of the whole sandbox: enough for its largest stage.

        The launcher holds the smaller stage to its own limit inside it.
        """
        return max(self.memory_mib, self.compile_memory_mib) if compiles else self.memory_mib


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


class RunResult(StageResult):
    """The outcome of one execution, as every backend reports it."""

    compile: StageResult | None = None


class WorkFile(BaseModel):
    """A file as it is written into the sandbox work directory."""

    model_config = ConfigDict(frozen=True)

    path: str
    content: bytes


class RunSpec(BaseModel):
    """A validated run: what a backend executes, trusting every field."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    language: Language
    files: tuple[WorkFile, ...]
    """The main file first, then the extra files."""
    args: tuple[str, ...]
    stdin: bytes
    limits: Limits

    @property
    def run_command(self) -> list[str]:
        return self.language.run_command(list(self.args))

    @property
    def compile_command(self) -> list[str] | None:
        return self.language.compile_command()

    @property
    def sandbox_memory_mib(self) -> int:
        return self.limits.sandbox_memory_mib(self.compile_command is not None)
