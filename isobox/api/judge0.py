"""Judge0 CE's submission API, translated: Judge0 JSON in, an `ExecutionRequest` out; a run's
state back as a Judge0 submission.

Judge0 clients (online judges, editors, the official SDK) speak `judge0/judge0`'s API; these
pure functions let them run on isobox unchanged. The rules, messages, field names and status
ids follow Judge0's own sources: `app/models/submission.rb` (validations and their Rails
messages), `app/controllers/submissions_controller.rb` (base64, fields, batches),
`app/jobs/isolate_job.rb` (`determine_status`, the `strip` comparison with `expected_output`,
what a failed compile leaves), `app/enumerations/status.rb`, `app/serializers/*` and
`app/helpers/config.rb`. Limits stay the isobox policy's business; Judge0's units (seconds of
CPU, KB of memory) are converted here. Nothing here performs I/O.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any

from isobox.errors import PolicyError, excerpt
from isobox.languages import Language
from isobox.models import ExecutionRequest, RunResult, StageResult
from isobox.outcome import RunStatus, Verdict, signal_number, stage_failed, verdict
from isobox.runstate import RunState
from isobox.settings import Settings

KIB = 1024
# The Judge0 release whose language ids and submission fields this API follows (the SDK picks
# its language table by `GET /about`'s version).
JUDGE0_VERSION = "1.14.0"
MAX_OPTION_CHARS = 512  # compiler_options, command_line_arguments (submission.rb)
MAX_CPU_EXTRA_TIME_S = 5.0  # Judge0's MAX_CPU_EXTRA_TIME default
MAX_NUMBER_OF_RUNS = 1
# isolate_job.rb strips these from command_line_arguments before bash sees them.
SHELL_SPECIALS = re.compile(r"[$&;<>|`]")


class Status(IntEnum):
    """Judge0's statuses (`app/enumerations/status.rb`): id and description."""

    IN_QUEUE = 1
    PROCESSING = 2
    ACCEPTED = 3
    WRONG_ANSWER = 4
    TIME_LIMIT_EXCEEDED = 5
    COMPILATION_ERROR = 6
    RUNTIME_ERROR_SIGSEGV = 7
    RUNTIME_ERROR_SIGXFSZ = 8
    RUNTIME_ERROR_SIGFPE = 9
    RUNTIME_ERROR_SIGABRT = 10
    RUNTIME_ERROR_NZEC = 11
    RUNTIME_ERROR_OTHER = 12
    INTERNAL_ERROR = 13
    EXEC_FORMAT_ERROR = 14

    @property
    def description(self) -> str:
        return DESCRIPTIONS[self]


DESCRIPTIONS = {
    Status.IN_QUEUE: "In Queue",
    Status.PROCESSING: "Processing",
    Status.ACCEPTED: "Accepted",
    Status.WRONG_ANSWER: "Wrong Answer",
    Status.TIME_LIMIT_EXCEEDED: "Time Limit Exceeded",
    Status.COMPILATION_ERROR: "Compilation Error",
    Status.RUNTIME_ERROR_SIGSEGV: "Runtime Error (SIGSEGV)",
    Status.RUNTIME_ERROR_SIGXFSZ: "Runtime Error (SIGXFSZ)",
    Status.RUNTIME_ERROR_SIGFPE: "Runtime Error (SIGFPE)",
    Status.RUNTIME_ERROR_SIGABRT: "Runtime Error (SIGABRT)",
    Status.RUNTIME_ERROR_NZEC: "Runtime Error (NZEC)",
    Status.RUNTIME_ERROR_OTHER: "Runtime Error (Other)",
    Status.INTERNAL_ERROR: "Internal Error",
    Status.EXEC_FORMAT_ERROR: "Exec Format Error",
}
# Status.find_runtime_error_by_status_code: signal number -> status; any other is Other.
SIGNAL_STATUS = {
    11: Status.RUNTIME_ERROR_SIGSEGV,
    25: Status.RUNTIME_ERROR_SIGXFSZ,
    8: Status.RUNTIME_ERROR_SIGFPE,
    6: Status.RUNTIME_ERROR_SIGABRT,
}

# Judge0 CE's id for each isobox language: the same language at the nearest version Judge0
# lists (its ids are fixed per version). The name gives the version isobox really runs.
LANGUAGE_IDS = {
    "python": (92, "Python ({})"),  # Judge0: Python (3.11.2)
    "node": (93, "JavaScript (Node.js {})"),  # JavaScript (Node.js 18.15.0)
    "bash": (46, "Bash ({})"),  # Bash (5.0.0), Judge0's only Bash
    "ruby": (72, "Ruby ({})"),  # Ruby (2.7.0), Judge0's only Ruby
    "c": (103, "C (GCC {})"),  # C (GCC 14.1.0); the others are GCC 7.4, 8.3, 9.2
    "cpp": (105, "C++ (GCC {})"),  # C++ (GCC 14.1.0)
    "go": (95, "Go ({})"),  # Go (1.18.5); the others are 1.13.5, 1.22.0, 1.23.5
    "java": (91, "Java (JDK {})"),  # Java (JDK 17.0.6)
    "rust": (108, "Rust ({})"),  # Rust (1.85.0); the other is 1.40.0
}

# The submission serializer's attributes in Judge0 CE 1.14.0 (what `fields=*` returns), and
# the default set (`SubmissionSerializer.default_fields`).
FIELDS = (
    "source_code",
    "language_id",
    "stdin",
    "expected_output",
    "stdout",
    "status_id",
    "created_at",
    "finished_at",
    "time",
    "memory",
    "stderr",
    "token",
    "number_of_runs",
    "cpu_time_limit",
    "cpu_extra_time",
    "wall_time_limit",
    "memory_limit",
    "stack_limit",
    "max_processes_and_or_threads",
    "enable_per_process_and_thread_time_limit",
    "enable_per_process_and_thread_memory_limit",
    "max_file_size",
    "compile_output",
    "exit_code",
    "exit_signal",
    "message",
    "wall_time",
    "compiler_options",
    "command_line_arguments",
    "redirect_stderr_to_stdout",
    "callback_url",
    "additional_files",
    "enable_network",
    "post_execution_filesystem",
    "status",
    "language",
)
DEFAULT_FIELDS = (
    "token",
    "time",
    "memory",
    "stdout",
    "stderr",
    "compile_output",
    "message",
    "status",
)
# Sent Base64-encoded when `base64_encoded=true` (the serializer's object_decoder and message).
ENCODED_FIELDS = frozenset(
    {"source_code", "stdin", "expected_output", "stdout", "stderr", "compile_output", "message"}
)
# ActiveModel's boolean cast: these strings (and 0) are false, "" is nil, anything else true.
FALSE_STRINGS = frozenset({"0", "f", "F", "false", "FALSE", "off", "OFF"})

Errors = dict[str, list[str]]


class Judge0Invalid(Exception):
    """A submission Judge0 would not save: 422 with Rails' errors hash `{field: [message]}`
    (413 when the problem is a size cap)."""

    def __init__(self, errors: Errors, status: int = 422) -> None:
        super().__init__(errors)
        self.errors = errors
        self.status = status


class Judge0BadRequest(Exception):
    """A request Judge0 answers 400 `{"error": message}` (fields, batch sizes)."""


@dataclass(frozen=True)
class Limits:
    """The server's bounds in Judge0's units (`GET /config_info`)."""

    cpu_time_limit: float
    max_cpu_time_limit: float
    wall_time_limit: float
    max_wall_time_limit: float
    memory_limit: int
    min_memory_limit: int
    max_memory_limit: int
    max_expected_output_bytes: int
    max_processes: int
    max_batch_size: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            cpu_time_limit=min(settings.judge0_cpu_time_limit_s, settings.max_timeout_s),
            max_cpu_time_limit=settings.max_timeout_s,
            wall_time_limit=settings.default_timeout_s,
            max_wall_time_limit=settings.max_timeout_s,
            memory_limit=settings.default_memory_mib * KIB,
            min_memory_limit=16 * KIB,
            max_memory_limit=settings.max_memory_mib * KIB,
            max_expected_output_bytes=settings.output_limit_bytes,
            max_processes=settings.pids_limit,
            max_batch_size=settings.judge0_max_batch_size,
        )


@dataclass(frozen=True)
class Submission:
    """What Judge0 keeps of a submission's request (and shows back), in Judge0's units."""

    language_id: int
    source_code: str
    stdin: str | None
    expected_output: str | None
    cpu_time_limit: float
    cpu_extra_time: float
    wall_time_limit: float
    memory_limit: int
    command_line_arguments: str | None
    callback_url: str | None
    created_at: float = 0.0


@dataclass(frozen=True)
class Job:
    """A translated submission: the isobox request and the Judge0 submission behind it."""

    request: ExecutionRequest
    submission: Submission


# --- languages, statuses, about, config --------------------------------------------------------


def judge0_id(language: Language) -> int | None:
    entry = LANGUAGE_IDS.get(language.name)
    return None if entry is None else entry[0]


def language_name(language: Language) -> str:
    return LANGUAGE_IDS[language.name][1].format(language.version)


def offered(languages: Iterable[Language]) -> dict[int, Language]:
    """The languages this backend runs that have a Judge0 id, by id."""
    return {
        number: language for language in languages if (number := judge0_id(language)) is not None
    }


def language_list(languages: Iterable[Language]) -> list[dict[str, Any]]:
    """`GET /languages`: `[{id, name}]`, sorted by name as Judge0 sorts them."""
    entries = [{"id": n, "name": language_name(lang)} for n, lang in offered(languages).items()]
    return sorted(entries, key=lambda entry: entry["name"])


def language_detail(number: int, language: Language) -> dict[str, Any]:
    """`GET /languages/{id}` (LanguageSerializer's attributes)."""
    compile_cmd = None
    if language.compile is not None:
        compile_cmd = shlex.join(part.replace("{file}", language.file) for part in language.compile)
    return {
        "id": number,
        "name": language_name(language),
        "is_archived": False,
        "source_file": language.file,
        "compile_cmd": compile_cmd,
        "run_cmd": shlex.join(part.replace("{file}", language.file) for part in language.run),
    }


def statuses() -> list[dict[str, Any]]:
    return [{"id": int(status), "description": status.description} for status in Status]


def about(isobox_version: str) -> dict[str, Any]:
    """`GET /about`: the Judge0 version this API follows; the rest says it is isobox."""
    return {
        "version": JUDGE0_VERSION,
        "homepage": None,
        "source_code": None,
        "maintainer": f"isobox {isobox_version} (Judge0 CE {JUDGE0_VERSION} compatible API)",
    }


def config_info(limits: Limits, settings: Settings, callbacks_on: bool) -> dict[str, Any]:
    """`GET /config_info`, with the values that hold on this server (`app/helpers/config.rb`'s
    keys). Options isobox refuses are reported disabled or fixed."""
    return {
        "maintenance_mode": False,
        "enable_wait_result": True,
        "enable_compiler_options": False,
        "allowed_languages_for_compile_options": [],
        "enable_command_line_arguments": True,
        "enable_submission_delete": False,
        "enable_callbacks": callbacks_on,
        "callbacks_max_tries": settings.callback_max_attempts,
        "callbacks_timeout": settings.callback_timeout_s,
        "enable_additional_files": False,
        "max_queue_size": settings.max_queued_runs,
        "cpu_time_limit": limits.cpu_time_limit,
        "max_cpu_time_limit": limits.max_cpu_time_limit,
        "cpu_extra_time": 0.0,
        "max_cpu_extra_time": MAX_CPU_EXTRA_TIME_S,
        "wall_time_limit": limits.wall_time_limit,
        "max_wall_time_limit": limits.max_wall_time_limit,
        "memory_limit": limits.memory_limit,
        "max_memory_limit": limits.max_memory_limit,
        # isobox sets no stack or file-size limit of its own (memory and scratch space bound them).
        "stack_limit": 0,
        "max_stack_limit": 0,
        "max_processes_and_or_threads": limits.max_processes,
        "max_max_processes_and_or_threads": limits.max_processes,
        "enable_per_process_and_thread_time_limit": False,
        "allow_enable_per_process_and_thread_time_limit": False,
        "enable_per_process_and_thread_memory_limit": False,
        "allow_enable_per_process_and_thread_memory_limit": False,
        "max_file_size": settings.scratch_mib * KIB,
        "max_max_file_size": settings.scratch_mib * KIB,
        "number_of_runs": 1,
        "max_number_of_runs": MAX_NUMBER_OF_RUNS,
        "redirect_stderr_to_stdout": False,
        "max_extract_size": 0,
        "enable_batched_submissions": True,
        "max_submission_batch_size": limits.max_batch_size,
        "submission_cache_duration": 0.0,
        "use_docs_as_homepage": False,
        "allow_enable_network": False,
        "enable_network": False,
        "disable_implicit_base64_encoding": True,
    }


# --- tokens ------------------------------------------------------------------------------------


def token_for(run_id: str, expects_output: bool) -> str:
    """A UUID (version 4 layout, as Judge0's tokens) carrying the 20-hex-digit run id, whether
    the submission has an expected output, and a check that refuses other UUIDs."""
    if not re.fullmatch(r"[0-9a-f]{20}", run_id):
        raise ValueError(f"run id {run_id!r} is not 20 hex digits")
    flags = 1 if expects_output else 0
    digits = (
        run_id[:12]
        + "4"
        + run_id[12:15]
        + format(8 | flags, "x")
        + run_id[15:]
        + _check(run_id, flags)
    )
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


def run_of(token: str) -> tuple[str, bool] | None:
    """The run id and expected-output flag of a token this API issued; None for any other."""
    digits = token.strip().lower().replace("-", "")
    if not re.fullmatch(r"[0-9a-f]{32}", digits) or digits[12] != "4":
        return None
    variant = int(digits[16], 16)
    if variant & 0b1100 != 0b1000:
        return None
    flags = variant & 0b0011
    run_id = digits[:12] + digits[13:16] + digits[17:22]
    if digits[22:] != _check(run_id, flags) or flags > 1:
        return None
    return run_id, bool(flags)


def _check(run_id: str, flags: int) -> str:
    return hashlib.sha256(f"isobox-judge0-token\0{run_id}\0{flags}".encode()).hexdigest()[:10]


# --- submissions: request ----------------------------------------------------------------------


def parse_submission(
    body: object, languages: Sequence[Language], limits: Limits, base64_encoded: bool
) -> Job:
    """Check a submission as Judge0's model validations do, with their messages, and
    translate it. Fields Judge0 knows but isobox cannot honour are refused, never ignored;
    fields Judge0 does not know are ignored, as Rails' `permit` drops them."""
    if not isinstance(body, dict):
        raise Judge0Invalid({"submission": ["must be a JSON object"]})
    errors: Errors = {}

    def add(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    def text(field: str, decode: bool) -> str | None:
        value = body.get(field)
        if value is None:
            return None
        if not isinstance(value, str):
            add(field, "must be a string")
            return None
        if decode and base64_encoded:
            try:
                return _base64_text(value)
            except ValueError as error:
                add(field, str(error))
                return None
        return value

    source_code = text("source_code", decode=True)
    stdin = text("stdin", decode=True)
    expected_output = text("expected_output", decode=True)
    if (source_code is None or not source_code.strip()) and "source_code" not in errors:
        add("source_code", "can't be blank")
    if expected_output is not None and len(expected_output.encode()) > (
        limits.max_expected_output_bytes
    ):
        add(
            "expected_output",
            f"is {len(expected_output.encode())} bytes; the output kept of a run is at most "
            f"{limits.max_expected_output_bytes} (ISOBOX_OUTPUT_LIMIT_BYTES)",
        )

    language = _language(body.get("language_id"), languages, add)
    number_of_runs = _number(body, "number_of_runs", add, above=0, at_most=MAX_NUMBER_OF_RUNS)
    cpu_time_limit = _number(
        body, "cpu_time_limit", add, at_least=0, at_most=limits.max_cpu_time_limit
    )
    cpu_extra_time = _number(body, "cpu_extra_time", add, at_least=0, at_most=MAX_CPU_EXTRA_TIME_S)
    wall_time_limit = _number(
        body, "wall_time_limit", add, at_least=1, at_most=limits.max_wall_time_limit
    )
    memory_limit = _number(
        body,
        "memory_limit",
        add,
        at_least=limits.min_memory_limit,
        at_most=limits.max_memory_limit,
    )
    del number_of_runs  # 1 (or unset) is all isobox does
    for field, reason in UNSUPPORTED.items():
        if body.get(field) is not None:
            add(field, reason)
    for field in (
        "enable_per_process_and_thread_time_limit",
        "enable_per_process_and_thread_memory_limit",
    ):
        if _boolean(body.get(field)):
            add(field, "this option cannot be enabled")
    if _boolean(body.get("redirect_stderr_to_stdout")):
        add("redirect_stderr_to_stdout", "cannot be enabled: isobox keeps stdout and stderr apart")
    compiler_options = text("compiler_options", decode=False)
    arguments = text("command_line_arguments", decode=False)
    for field, value in (
        ("compiler_options", compiler_options),
        ("command_line_arguments", arguments),
    ):
        if value is not None and len(value) > MAX_OPTION_CHARS:
            add(field, f"is too long (maximum is {MAX_OPTION_CHARS} characters)")
    if compiler_options is not None and compiler_options.strip():
        add("compiler_options", "setting compiler options is not allowed")
    callback_url = text("callback_url", decode=False)
    if body.get("additional_files") not in (None, ""):
        add("additional_files", "setting additional files is not allowed")
    if _boolean(body.get("enable_network")):
        add("enable_network", "enabling network is not allowed")
    args = _arguments(arguments, add)
    if errors:
        raise Judge0Invalid(errors)
    assert language is not None
    assert source_code is not None
    number, chosen = language
    cpu = limits.cpu_time_limit if cpu_time_limit is None else cpu_time_limit
    extra = cpu_extra_time or 0.0
    wall = limits.wall_time_limit if wall_time_limit is None else wall_time_limit
    memory_kb = limits.memory_limit if memory_limit is None else memory_limit
    request = ExecutionRequest(
        language=chosen.name,
        code=source_code,
        stdin=stdin or "",
        args=args,
        timeout=wall,
        memory=math.ceil(memory_kb / KIB),
        # 0 is isolate's "no CPU limit"; Judge0's extra time lets a program run on past its
        # limit (it is still judged against the limit itself).
        cpu_time=None if cpu == 0 else min(cpu + extra, limits.max_cpu_time_limit),
    )
    submission = Submission(
        language_id=number,
        source_code=source_code,
        stdin=stdin,
        expected_output=expected_output,
        cpu_time_limit=cpu,
        cpu_extra_time=extra,
        wall_time_limit=wall,
        memory_limit=int(memory_kb),
        command_line_arguments=arguments,
        callback_url=callback_url or None,
    )
    return Job(request, submission)


UNSUPPORTED = {
    "stack_limit": "cannot be set on isobox: the stack is bounded by memory_limit only",
    "max_processes_and_or_threads": "cannot be set on isobox: every run may have the "
    "server's ISOBOX_PIDS_LIMIT processes and threads (see config_info)",
    "max_file_size": "cannot be set on isobox: files are bounded by the work directory's "
    "size (ISOBOX_SCRATCH_MIB)",
}


def _language(
    value: object, languages: Sequence[Language], add: Any
) -> tuple[int, Language] | None:
    if value is None or value == "":
        add("language_id", "can't be blank")
        return None
    number = _integer(value)
    language = None if number is None else offered(languages).get(number)
    if number is None or language is None:
        add("language_id", f"language with id {excerpt(str(value))} doesn't exist")
        return None
    return number, language


def _integer(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d{1,18}\s*", value):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _number(
    body: Mapping[str, Any],
    field: str,
    add: Any,
    *,
    above: float | None = None,
    at_least: float | None = None,
    at_most: float | None = None,
) -> float | None:
    """Rails' numericality check (nil allowed, as `||=` then sets the default)."""
    value = body.get(field)
    if value is None or value == "":
        return None
    number: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            number = None
    if number is None or not math.isfinite(number):
        add(field, "is not a number")
        return None
    if above is not None and number <= above:
        add(field, f"must be greater than {_ruby_number(above)}")
    elif at_least is not None and number < at_least:
        add(field, f"must be greater than or equal to {_ruby_number(at_least)}")
    elif at_most is not None and number > at_most:
        add(field, f"must be less than or equal to {_ruby_number(at_most)}")
    else:
        return number
    return None


def _ruby_number(value: float) -> str:
    # Rails prints the bound as configured: 1 for an integer, 15.0 for a float.
    return str(value)


def _boolean(value: object) -> bool:
    """ActiveModel's cast of a boolean attribute, true or not (nil and "" are not)."""
    if value is None or value == "" or value is False or value == 0:
        return False
    return not (isinstance(value, str) and value in FALSE_STRINGS)


def _arguments(text: str | None, add: Any) -> list[str]:
    """`command_line_arguments` as bash splits them after Judge0 strips `$&;<>|` and backquotes."""
    if text is None:
        return []
    try:
        return shlex.split(SHELL_SPECIALS.sub("", text.strip()))
    except ValueError:
        add("command_line_arguments", "has an unclosed quote")
        return []


def _base64_text(value: str) -> str:
    compact = "".join(value.split())
    try:
        data = base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)
    except (binascii.Error, ValueError) as error:
        raise ValueError("is not valid Base64 (base64_encoded=true)") from error
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError("is not UTF-8 text once Base64-decoded; isobox runs text") from error


def policy_errors(error: PolicyError) -> Errors:
    """The isobox policy's refusal, under the Judge0 field it concerns."""
    return {POLICY_FIELDS.get(error.field.split("[")[0], error.field): [error.message]}


POLICY_FIELDS = {
    "code": "source_code",
    "stdin": "stdin",
    "args": "command_line_arguments",
    "timeout": "wall_time_limit",
    "memory": "memory_limit",
    "cpu_time": "cpu_time_limit",
}


# --- fields and base64 -------------------------------------------------------------------------


def requested_fields(fields: str | None) -> tuple[str, ...]:
    """`Fields::Submission`: `*` is every field, none (or only invalid ones) the defaults;
    an unknown name is a 400 naming every unknown one."""
    names = [name for name in (fields or "").split(",") if name]
    invalid = [name for name in names if name != "*" and name not in FIELDS]
    if invalid:
        shown = ", ".join(excerpt(name, 32) for name in invalid[:20])
        raise Judge0BadRequest(f"invalid fields: [{shown}]")
    if "*" in names:
        return FIELDS
    return tuple(dict.fromkeys(names)) or DEFAULT_FIELDS


def ruby_base64(text: str | None) -> str | None:
    """Ruby's `Base64.encode64`, which Judge0 uses: lines of 60 characters, each ending in a
    newline."""
    if text is None:
        return None
    encoded = base64.b64encode(text.encode()).decode()
    return "".join(encoded[i : i + 60] + "\n" for i in range(0, len(encoded), 60))


def render(view: Mapping[str, Any], fields: Sequence[str], base64_encoded: bool) -> dict[str, Any]:
    """The submission's `fields`, text Base64-encoded when asked, as the serializer does."""
    rendered: dict[str, Any] = {}
    for field in fields:
        value = view.get(field)
        if base64_encoded and field in ENCODED_FIELDS:
            value = ruby_base64(value)
        rendered[field] = value
    return rendered


# --- submissions: result -----------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """How Judge0 would describe a run now."""

    status: Status
    message: str | None = None
    stdout: str | None = None
    stderr: str | None = None
    compile_output: str | None = None
    exit_code: int | None = None
    exit_signal: int | None = None
    time_ms: int | None = None
    wall_time_ms: int | None = None
    memory_kib: int | None = None


def outcome(state: RunState, submission: Submission | None, expects_output: bool) -> Outcome:
    """The run's Judge0 status and output. `submission` is None when this process no longer
    knows the request (a CodeRun-backed run read after a restart); `expects_output` says,
    from the token, whether it had an expected output to compare with."""
    if state.status is RunStatus.RUNNING:
        return Outcome(Status.PROCESSING)
    if state.status is RunStatus.CANCELLED:
        return Outcome(Status.INTERNAL_ERROR, message="the run was cancelled before it ended")
    if state.result is None:
        return Outcome(
            Status.INTERNAL_ERROR, message=state.error or "the run could not be carried out"
        )
    result = state.result
    compile_output = _joined(result.compile) if result.compile is not None else None
    if result.compile is not None and stage_failed(result.compile):
        if result.compile.timed_out or result.compile.cpu_time_exceeded:
            compile_output = "Compilation time limit exceeded."
        return Outcome(Status.COMPILATION_ERROR, compile_output=compile_output)
    status, message = _run_status(result, submission, expects_output)
    return Outcome(
        status,
        message=message,
        stdout=result.stdout or None,
        stderr=result.stderr or None,
        compile_output=compile_output,
        # isolate writes no exit code for a signalled program; Judge0 then reports 0.
        exit_code=result.exit_code if result.exit_code is not None else 0,
        exit_signal=(signal_number(result.signal) or None) if result.signal else None,
        time_ms=result.cpu_time_ms,
        wall_time_ms=result.duration_ms,
        memory_kib=result.memory_peak_kib,
    )


def _joined(stage: StageResult) -> str | None:
    # Judge0 compiles with --stderr-to-stdout; isobox kept them apart, so stdout then stderr.
    return (stage.stdout + stage.stderr) or None


def _run_status(
    result: RunResult, submission: Submission | None, expects_output: bool
) -> tuple[Status, str | None]:
    judged = verdict(result)
    signal = signal_number(result.signal) if result.signal else 0
    limit_ms = None if submission is None else submission.cpu_time_limit * 1000
    if judged is Verdict.TIME_LIMIT_EXCEEDED or (
        judged is Verdict.ACCEPTED and limit_ms and result.cpu_time_ms > limit_ms
    ):
        if result.timed_out:
            return Status.TIME_LIMIT_EXCEEDED, "Time limit exceeded (wall clock)"
        return Status.TIME_LIMIT_EXCEEDED, "Time limit exceeded"
    if judged in (Verdict.MEMORY_LIMIT_EXCEEDED, Verdict.RUNTIME_ERROR) and signal:
        note = " (out of memory)" if judged is Verdict.MEMORY_LIMIT_EXCEEDED else ""
        status = SIGNAL_STATUS.get(signal, Status.RUNTIME_ERROR_OTHER)
        return status, f"Caught fatal signal {signal}{note}"
    if judged is Verdict.MEMORY_LIMIT_EXCEEDED:
        return (
            Status.RUNTIME_ERROR_OTHER,
            "Caught fatal signal 9 (out of memory: a process of the program)",
        )
    if judged is Verdict.RUNTIME_ERROR:
        return Status.RUNTIME_ERROR_NZEC, f"Exited with error status {result.exit_code}"
    if judged is Verdict.OUTPUT_LIMIT_EXCEEDED:
        # Judge0's file-size limit kills a program that writes too much (SIGXFSZ); isobox
        # cut the output and let it run on.
        return Status.RUNTIME_ERROR_SIGXFSZ, "Output limit exceeded: the output was cut"
    if submission is None and expects_output:
        return Status.INTERNAL_ERROR, (
            "the expected output of this submission is no longer known (the API replica "
            "that accepted it restarted); resubmit it"
        )
    expected = None if submission is None else submission.expected_output
    if expected is None or judge0_strip(expected) == judge0_strip(result.stdout or None):
        return Status.ACCEPTED, None
    return Status.WRONG_ANSWER, None


def judge0_strip(text: str | None) -> str | None:
    """isolate_job.rb's `strip`: each line's trailing whitespace and the trailing blank
    lines go; leading whitespace counts. An empty output is nil, which equals nothing but
    nil (so an empty expected output is a wrong answer for a program that prints nothing,
    as in Judge0)."""
    if text is None:
        return None
    lines = text.split("\n")
    while lines and lines[-1] == "":
        lines.pop()  # Ruby's split drops trailing empty fields
    return "\n".join(line.rstrip(RUBY_SPACE) for line in lines).rstrip(RUBY_SPACE)


RUBY_SPACE = " \t\n\v\f\r\0"


def view(
    token: str,
    state: RunState,
    submission: Submission | None,
    expects_output: bool,
    finished_at: float | None,
    languages: Iterable[Language],
) -> dict[str, Any]:
    """Every field of the submission (plain text), as `render` selects from."""
    result = outcome(state, submission, expects_output)
    known = submission
    names = {number: language_name(lang) for number, lang in offered(languages).items()}
    number = known.language_id if known is not None else LANGUAGE_BY_NAME.get(state.language)
    fields: dict[str, Any] = {name: None for name in FIELDS}
    fields.update(
        token=token,
        status_id=int(result.status),
        status={"id": int(result.status), "description": result.status.description},
        stdout=result.stdout,
        stderr=result.stderr,
        compile_output=result.compile_output,
        message=result.message,
        exit_code=result.exit_code,
        exit_signal=result.exit_signal,
        time=_seconds(result.time_ms),
        wall_time=_seconds(result.wall_time_ms),
        memory=result.memory_kib,
        number_of_runs=1,
        enable_per_process_and_thread_time_limit=False,
        enable_per_process_and_thread_memory_limit=False,
        redirect_stderr_to_stdout=False,
        enable_network=False,
        finished_at=None if state.status is RunStatus.RUNNING else _timestamp(finished_at),
    )
    if known is not None:
        fields.update(
            source_code=known.source_code,
            stdin=known.stdin,
            expected_output=known.expected_output,
            created_at=_timestamp(known.created_at),
            cpu_time_limit=_decimal(known.cpu_time_limit),
            cpu_extra_time=_decimal(known.cpu_extra_time),
            wall_time_limit=_decimal(known.wall_time_limit),
            memory_limit=known.memory_limit,
            command_line_arguments=known.command_line_arguments,
            callback_url=known.callback_url,
        )
    if number is not None:
        fields.update(language_id=number, language={"id": number, "name": names.get(number)})
    return fields


LANGUAGE_BY_NAME = {name: number for name, (number, _) in LANGUAGE_IDS.items()}


def _seconds(milliseconds: int | None) -> str | None:
    return None if milliseconds is None else _decimal(milliseconds / 1000)


def _decimal(value: float) -> str:
    """A Rails decimal column as JSON: a string, at least one decimal ("5.0", "0.152")."""
    text = f"{value:.3f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def _timestamp(epoch: float | None) -> str | None:
    """Rails' JSON time: ISO 8601 in UTC with milliseconds and `Z`."""
    if epoch is None or epoch <= 0:
        return None
    moment = datetime.fromtimestamp(epoch, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
