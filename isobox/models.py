"""The wire shapes: what a user sends and what every backend answers.

`ExecutionRequest` is what a user asks for (from HTTP or a CodeRun spec); the policy turns it
into a `isobox.spec.RunSpec` that every backend can trust; every backend answers with a
`RunResult`. Nothing here depends on the server, so the client can use these alone.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

CompareMode = Literal["exact", "trailing_whitespace", "tokens"]


class Verdict(StrEnum):
    """A judge's word for a result (`RunResult.verdict`, `CaseResult.verdict`); `wrong_answer`
    needs an expected output to compare with, `internal_error` is a run isobox could not carry
    out. (Re-exported by `isobox.outcome`, which derives it.)"""

    ACCEPTED = "accepted"
    WRONG_ANSWER = "wrong_answer"
    TIME_LIMIT_EXCEEDED = "time_limit_exceeded"
    MEMORY_LIMIT_EXCEEDED = "memory_limit_exceeded"
    OUTPUT_LIMIT_EXCEEDED = "output_limit_exceeded"
    RUNTIME_ERROR = "runtime_error"
    COMPILATION_ERROR = "compilation_error"
    INTERNAL_ERROR = "internal_error"


class SourceFile(BaseModel):
    """An extra file placed beside the main file in the sandbox work directory."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(description="Relative path inside the work directory.")]
    content: Annotated[
        str | None, Field(description="File content (UTF-8 text); or give `content_b64`.")
    ] = None
    content_b64: Annotated[
        str | None,
        Field(description="File content as base64 (any bytes); exactly one of the two."),
    ] = None


class CaseInput(BaseModel):
    """One test case: the program runs once per case, from the same compiled work directory."""

    model_config = ConfigDict(extra="forbid")

    stdin: Annotated[str, Field(description="The case's standard input.")] = ""
    args: Annotated[
        list[str], Field(description="Arguments of this case, after the request's `args`.")
    ] = []
    expected_output: Annotated[
        str | None,
        Field(description="The stdout that passes (by `compare`); unset: any clean run passes."),
    ] = None


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
    tests: Annotated[
        list[CaseInput] | None,
        Field(
            description="Test cases: compile once, run once per case, each from a clean copy "
            "of the work directory and an empty /tmp, with this request's limits each."
        ),
    ] = None
    compare: Annotated[
        CompareMode,
        Field(
            description="How stdout is compared with `expected_output`: exact bytes; "
            "trailing_whitespace ignores spaces, tabs and CRs at line ends and newlines at "
            "the end; tokens compares the whitespace-separated words."
        ),
    ] = "trailing_whitespace"
    stop_on_failure: Annotated[
        bool, Field(description="Run no case after the first one that fails.")
    ] = False
    outputs: Annotated[
        list[str],
        Field(
            description="Globs (relative to the work directory; `*`, `?`, `[...]` within one "
            "path element) of files to send back after the run, regular files only."
        ),
    ] = []


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


class CaseResult(StageResult):
    """What one test case produced, and its verdict."""

    index: Annotated[int, Field(description="The case's position in `tests`, from 0.")]
    verdict: Annotated[
        Verdict | None, Field(description="The case's verdict (set once judged).")
    ] = None


class OutputFile(BaseModel):
    """A file the program left in the work directory that matched `outputs`."""

    name: Annotated[str, Field(description="Path relative to the work directory.")]
    size: Annotated[int, Field(description="The file's size in the sandbox, bytes.")]
    content_b64: Annotated[str, Field(description="Its content (maybe cut), base64.")] = ""
    truncated: Annotated[
        bool, Field(description="Cut at the output files' byte limit (or a record's budget).")
    ] = False


class SkippedFile(BaseModel):
    """A match of `outputs` that was not sent back, and why (a symlink, not a regular file,
    more than the file limit)."""

    name: str
    reason: str


class RunResult(StageResult):
    """The outcome of one execution, as every backend reports it.

    With test cases, the run fields (stdout ... cpu_time_exceeded) are those of the first
    case (`tests[0]`); every case is in `tests`, and the verdict is the first failing one's."""

    compile: StageResult | None = None
    tests: Annotated[
        list[CaseResult] | None,
        Field(description="Per case, in order, the cases that ran (none after a stop)."),
    ] = None
    passed: Annotated[int | None, Field(description="Cases accepted (with `tests`).")] = None
    total: Annotated[int | None, Field(description="Cases asked for (with `tests`).")] = None
    files: Annotated[list[OutputFile], Field(description="Files matching `outputs`, by name.")] = []
    files_skipped: Annotated[
        list[SkippedFile], Field(description="Matches of `outputs` not sent back.")
    ] = []
    runtime: Annotated[
        str,
        Field(description="What isolated the program: runc, runsc (gVisor) or bubblewrap."),
    ] = ""
    warm: Annotated[
        bool,
        Field(description="Whether the run got a warm sandbox (provisioned ahead, used once)."),
    ] = False
