"""Piston's v2 API, translated: Piston JSON in, an `ExecutionRequest` out; a `RunResult` back.

Piston clients (Discord bots, editors, judges) speak `engineer-man/piston`'s v2 format; these pure
functions let them run on isobox unchanged. The checks and messages follow Piston's own
`api/src/api/v2.js` (`get_job`) and `api/src/job.js`; limits stay the isobox policy's business
(a `PolicyError` is only renamed into Piston's field names here). Nothing here performs I/O.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, Field

from isobox.errors import PolicyError, excerpt
from isobox.languages import Language
from isobox.models import ExecutionRequest, RunResult, SourceFile, StageResult
from isobox.outcome import Ending, signal_number, stage_ending

MIB = 1024 * 1024
# Beyond any limit in ms or bytes, and within a float: larger numbers are refused outright.
MAX_LIMIT = 2**53
ENCODINGS = ("utf8", "base64", "hex")
# Version selector components that match any component, as in semver's X-ranges.
WILDCARDS = frozenset({"*", "x", "X"})
# Piston's limit fields, in the order its get_job checks them.
LIMIT_FIELDS = tuple(
    f"{stage}_{limit}"
    for limit in ("memory_limit", "timeout", "cpu_time")
    for stage in ("compile", "run")
)
POLICY_FIELDS = {
    "timeout": "run_timeout",
    "memory": "run_memory_limit",
    "compile_timeout": "compile_timeout",
    "compile_memory": "compile_memory_limit",
}
EXTRA_FILE_FIELD = re.compile(r"^files\[(\d+)\](.*)$")


class PistonBadRequest(Exception):
    """A request Piston itself would refuse; answered 400 `{"message": ...}`."""


class PistonRuntime(BaseModel):
    """One entry of `GET /api/v2/runtimes`."""

    language: str
    version: str
    aliases: list[str]
    runtime: Annotated[
        str | None,
        Field(
            description="Piston names the runtime only when several provide a language; "
            "isobox never does, so it is left out."
        ),
    ] = None


class PistonStage(BaseModel):
    """One stage (`run` or `compile`) as Piston reports it."""

    stdout: str
    stderr: str
    output: Annotated[
        str,
        Field(
            description="Piston interleaves the streams; isobox keeps them apart, so this is "
            "stdout followed by stderr."
        ),
    ]
    code: Annotated[int | None, Field(description="Exit code; null when signalled.")]
    signal: Annotated[str | None, Field(description='e.g. "SIGKILL"; null when exited.')]
    message: Annotated[str | None, Field(description="Sandbox note, not for machines.")]
    status: Annotated[
        str | None,
        Field(
            description="RE exit code not 0, SG signal, TO time limit, OL/EL stdout/stderr "
            "over the output limit; null when all went well."
        ),
    ]
    memory: Annotated[int | None, Field(description="Peak resident bytes of the stage's tree.")]
    cpu_time: Annotated[float | None, Field(description="CPU ms of the stage's process tree.")]
    wall_time: Annotated[int | None, Field(description="Milliseconds the stage ran.")]


class PistonExecuteResponse(BaseModel):
    """The answer to `POST /api/v2/execute`; `compile` is left out for interpreted languages."""

    language: str
    version: str
    run: PistonStage
    compile: PistonStage | None = None


class PistonMessage(BaseModel):
    """Piston's error body."""

    message: str


@dataclass(frozen=True)
class PistonJob:
    """A translated request, and where each isobox file came from in Piston's `files`."""

    request: ExecutionRequest
    main_index: int
    extra_indices: tuple[int, ...]


# --- runtimes ---------------------------------------------------------------------------------


def runtimes(languages: Iterable[Language]) -> list[PistonRuntime]:
    """The runtime list; `runtime` stays unset, so it is left out of the JSON as Piston does."""
    return [
        PistonRuntime(language=lang.name, version=lang.version, aliases=list(lang.aliases))
        for lang in languages
    ]


def version_matches(selector: str, version: str) -> bool:
    """Whether a Piston version selector picks `version`.

    Piston matches a semver range against full versions; isobox's are short ("3.11"), so a
    selector matches when it is "*", the version itself, or a prefix of it by components
    ("3" picks "3.11", "3.1" does not), each of "*", "x", "X" matching any one component.
    Other semver ranges (^, ~, >=) are not understood.
    """
    wanted = selector.strip().split(".")
    have = version.split(".")
    for index, part in enumerate(wanted):
        if part in WILDCARDS:
            continue
        if index >= len(have) or have[index] != part:
            return False
    return True


def find_runtime(languages: Iterable[Language], name: str, selector: str) -> Language | None:
    """The language named `name` (or an alias) whose version `selector` picks."""
    key = name.strip().lower()
    for language in languages:
        if key == language.name or key in language.aliases:
            return language if version_matches(selector, language.version) else None
    return None


# --- execute: request -------------------------------------------------------------------------


def parse_execute(body: Any, languages: Sequence[Language]) -> PistonJob:
    """Check a Piston execute body in Piston's order, with its messages, and translate it.

    `run_cpu_time` and `compile_cpu_time` (ms) are CPU-time limits over the stage's process
    tree, as isobox's `cpu_time`. Unknown fields are ignored, as Piston ignores them.
    """
    fields = body if isinstance(body, dict) else {}
    language_name = _required_string(fields, "language")
    selector = _required_string(fields, "version")
    files = fields.get("files")
    if not isinstance(files, list):
        raise PistonBadRequest("files is required as an array")
    for index, entry in enumerate(files):
        if not isinstance(_get(entry, "content"), str):
            raise PistonBadRequest(f"files[{index}].content is required as a string")
    language = find_runtime(languages, language_name, selector)
    if language is None:
        raise PistonBadRequest(f"{excerpt(language_name)}-{excerpt(selector)} runtime is unknown")
    main_index = _main_index(files)
    limits = {name: _limit(fields, name) for name in LIMIT_FIELDS}
    extra_indices = [index for index in range(len(files)) if index != main_index]
    request = ExecutionRequest(
        language=language.name,
        code=files[main_index]["content"],
        stdin=_stdin(fields.get("stdin")),
        args=_args(fields.get("args")),
        files=[_source_file(index, files[index]) for index in extra_indices],
        timeout=_seconds(limits["run_timeout"]),
        memory=_mebibytes(limits["run_memory_limit"]),
        compile_timeout=_seconds(limits["compile_timeout"]),
        compile_memory=_mebibytes(limits["compile_memory_limit"]),
        cpu_time=_seconds(limits["run_cpu_time"]),
        compile_cpu_time=_seconds(limits["compile_cpu_time"]),
    )
    return PistonJob(request, main_index, tuple(extra_indices))


def _get(entry: object, key: str) -> object:
    return entry.get(key) if isinstance(entry, dict) else None


def _required_string(fields: dict[str, Any], name: str) -> str:
    value = fields.get(name)
    if not isinstance(value, str) or not value:
        raise PistonBadRequest(f"{name} is required as a string")
    return value


def _js_falsy(value: object) -> bool:
    # Piston skips a limit that is falsy in JavaScript: missing, null, false, 0, "" or NaN.
    if value is None or value is False or value == "":
        return True
    return isinstance(value, int | float) and (value == 0 or math.isnan(value))


def _limit(fields: dict[str, Any], name: str) -> float | None:
    """A limit in Piston's units, None when unset; Piston's type and sign checks."""
    value = fields.get(name)
    if _js_falsy(value):
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PistonBadRequest(f"If specified, {name} must be a number")
    if abs(value) > MAX_LIMIT:  # infinity too
        raise PistonBadRequest(f"{name} is out of range")
    if value < 0 and not name.endswith("memory_limit"):
        raise PistonBadRequest(f"{name} must be non-negative")
    return value


def _seconds(milliseconds: float | None) -> float | None:
    return None if milliseconds is None else milliseconds / 1000


def _mebibytes(limit_bytes: float | None) -> int | None:
    """Bytes rounded up to whole MiB; -1 (any negative) is Piston's "no limit": the server's
    default, since isobox always limits memory."""
    if limit_bytes is None or limit_bytes < 0:
        return None
    if isinstance(limit_bytes, int):
        return -(-limit_bytes // MIB)
    return math.ceil(limit_bytes / MIB)


def _stdin(value: object) -> str:
    text = "" if value is None else value
    if not isinstance(text, str):
        raise PistonBadRequest("stdin must be a string")
    # Piston's job.js appends a newline unless stdin already ends with one (even when empty).
    return text if text.endswith("\n") else text + "\n"


def _args(value: object) -> list[str]:
    args = [] if value is None else value
    if not isinstance(args, list) or not all(isinstance(arg, str) for arg in args):
        raise PistonBadRequest("args must be an array of strings")
    return args


def _encoding(entry: dict[str, Any]) -> str:
    # Piston falls back to utf8 for a missing or unknown encoding.
    encoding = entry.get("encoding")
    return encoding if encoding in ENCODINGS else "utf8"


def _main_index(files: list[dict[str, Any]]) -> int:
    """Piston runs the first utf8 file; the others (any encoding) lie beside it."""
    for index, entry in enumerate(files):
        if _encoding(entry) == "utf8":
            return index
    raise PistonBadRequest("files must include at least one utf8 encoded file")


def _source_file(index: int, entry: dict[str, Any]) -> SourceFile:
    name = entry.get("name") or f"file{index}.code"  # Piston's name for an unnamed file
    if not isinstance(name, str):
        raise PistonBadRequest(f"files[{index}].name must be a string")
    return SourceFile(name=name, content=_decoded(index, name, entry))


def _decoded(index: int, name: str, entry: dict[str, Any]) -> str:
    content: str = entry["content"]
    encoding = _encoding(entry)
    if encoding == "utf8":
        return content
    try:
        data = _base64(content) if encoding == "base64" else bytes.fromhex(content)
    except (binascii.Error, ValueError) as error:
        raise PistonBadRequest(f"files[{index}].content is not valid {encoding}") from error
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise PistonBadRequest(
            f"files[{index}].content: {excerpt(name)!r} is binary, not UTF-8 text once "
            f"{encoding}-decoded; isobox files are text"
        ) from error


def _base64(text: str) -> bytes:
    # Node's decoder takes the URL-safe alphabet and missing padding; so does this one.
    compact = "".join(text.split()).replace("-", "+").replace("_", "/")
    return base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)


# --- execute: errors and result ---------------------------------------------------------------


def policy_message(error: PolicyError, job: PistonJob) -> str:
    """The policy's refusal, naming the field as the Piston request did."""
    return f"{piston_field(error.field, job)}: {error.message}"


def piston_field(field: str, job: PistonJob) -> str:
    """The Piston request field behind an isobox field name (`code` is the main file...)."""
    if field == "code":
        return f"files[{job.main_index}].content"
    match = EXTRA_FILE_FIELD.match(field)
    if match is not None and int(match[1]) < len(job.extra_indices):
        return f"files[{job.extra_indices[int(match[1])]}]{match[2]}"
    return POLICY_FIELDS.get(field, field)


def execute_response(language: Language, result: RunResult) -> PistonExecuteResponse:
    """Piston's answer. As in Piston, a failed compile step is also reported as `run`."""
    compiled = None if result.compile is None else stage(result.compile)
    run = compiled if compiled is not None and compiled.code != 0 else stage(result)
    response = PistonExecuteResponse(language=language.name, version=language.version, run=run)
    if compiled is not None:
        # Set only here, so that the answer for an interpreted language leaves `compile` out.
        response.compile = compiled
    return response


def stage(result: StageResult) -> PistonStage:
    """One stage in Piston's terms; its status and message are what isolate would write."""
    status, message = _status(result)
    return PistonStage(
        stdout=result.stdout,
        stderr=result.stderr,
        output=result.stdout + result.stderr,
        # isolate writes no exit code for a run it stopped, and Piston reports its SIGKILL.
        code=None if result.timed_out else result.exit_code,
        signal="SIGKILL" if result.timed_out else result.signal,
        message=message,
        status=status,
        memory=result.memory_peak_kib * 1024,
        cpu_time=result.cpu_time_ms,
        wall_time=result.duration_ms,
    )


def _status(result: StageResult) -> tuple[str | None, str | None]:
    # Piston's own output limits win, then isolate's order: time limit, then how it ended.
    # isobox keeps running past the output limit (it drops the excess), so unlike Piston the
    # program was not killed for it: code and signal stay what they were.
    if result.stdout_truncated:
        return "OL", "stdout length exceeded"
    if result.stderr_truncated:
        return "EL", "stderr length exceeded"
    if result.timed_out:
        return "TO", "Time limit exceeded (wall clock)"
    if result.signal is not None:
        note = " (out of memory)" if result.oom_killed else ""
        return "SG", f"Caught fatal signal {signal_number(result.signal) or result.signal}{note}"
    if result.exit_code not in (0, None):
        return "RE", f"Exited with error status {result.exit_code}"
    if stage_ending(result) is Ending.OOM:
        # isolate would have seen nothing (the program exited 0); isobox's one vocabulary
        # calls a run with an OOM kill inside failed, so Piston hears of it as well.
        return "SG", "Caught fatal signal 9 (out of memory: a process of the program)"
    return None, None
