"""Request policy: turn what a user asked for into a `RunSpec` every backend can trust.

Each check names the offending field, so the API can answer with a 4xx that says exactly what
to fix. Nothing here performs I/O.
"""

from __future__ import annotations

import base64
import binascii
import math
from pathlib import PurePosixPath

from isobox.errors import PolicyError, RequestProblem, excerpt
from isobox.ids import new_run_id
from isobox.languages import LanguageRegistry
from isobox.models import ExecutionRequest, SourceFile
from isobox.settings import Settings
from isobox.spec import CaseSpec, Limits, RunSpec, WorkFile

MAX_PATH_BYTES = 255
MAX_PATH_DEPTH = 8
MIN_MEMORY_MIB = 16


def build_run_spec(
    request: ExecutionRequest,
    registry: LanguageRegistry,
    settings: Settings,
    run_id: str | None = None,
) -> RunSpec:
    """Validate `request` against the registry and the server maxima."""
    language = registry.get(request.language)
    if language is None:
        raise PolicyError(
            "language",
            f"unknown language {excerpt(request.language)!r}; "
            f"available: {', '.join(registry.names())}",
            RequestProblem.UNKNOWN_LANGUAGE,
        )
    main = WorkFile(
        path=language.file, content=_encoded_within("code", request.code, settings.max_code_bytes)
    )
    args = _checked_args(request.args, settings)
    return RunSpec(
        run_id=run_id or new_run_id(),
        language=language,
        files=(main, *_extra_files(request, language.file, settings)),
        args=tuple(args),
        stdin=_encoded_within("stdin", request.stdin, settings.max_stdin_bytes),
        limits=_limits(request, settings),
        tests=_checked_tests(request, len(args), settings),
        compare=request.compare,
        stop_on_failure=request.stop_on_failure,
        outputs=_checked_outputs(request, settings),
    )


def _checked_tests(
    request: ExecutionRequest, common_args: int, settings: Settings
) -> tuple[CaseSpec, ...]:
    """The test cases: each stdin within the stdin cap and all of them within their total,
    each case's args within the args caps together with the request's, each expected output
    within what a stream can carry."""
    if request.tests is None:
        return ()
    if not request.tests:
        raise PolicyError("tests", "must have at least one case (or be left out)")
    if len(request.tests) > settings.max_tests:
        raise PolicyError(
            "tests", f"has {len(request.tests)} cases; the limit is {settings.max_tests}"
        )
    if request.stdin:
        raise PolicyError("stdin", "must be empty with tests: each case has its own stdin")
    cases: list[CaseSpec] = []
    stdin_total = expected_total = 0
    for index, case in enumerate(request.tests):
        field = f"tests[{index}]"
        stdin = _encoded_within(f"{field}.stdin", case.stdin, settings.max_stdin_bytes)
        stdin_total += len(stdin)
        if stdin_total > settings.max_tests_stdin_bytes:
            raise PolicyError(
                "tests",
                f"stdin totals more than {settings.max_tests_stdin_bytes} bytes",
                RequestProblem.TOO_LARGE,
            )
        if common_args + len(case.args) > settings.max_args:
            raise PolicyError(
                f"{field}.args",
                f"has {len(case.args)} entries, {common_args} more with args; "
                f"the limit is {settings.max_args}",
            )
        for arg_index, arg in enumerate(case.args):
            if "\x00" in arg:
                raise PolicyError(f"{field}.args[{arg_index}]", "must not contain NUL")
            _encoded_within(f"{field}.args[{arg_index}]", arg, settings.max_arg_bytes)
        if case.expected_output is not None:
            expected = _encoded_within(
                f"{field}.expected_output", case.expected_output, settings.output_limit_bytes
            )
            expected_total += len(expected)
            if expected_total > settings.max_tests_expected_bytes:
                raise PolicyError(
                    "tests",
                    f"expected_output totals more than {settings.max_tests_expected_bytes} bytes",
                    RequestProblem.TOO_LARGE,
                )
        cases.append(
            CaseSpec(stdin=stdin, args=tuple(case.args), expected_output=case.expected_output)
        )
    return tuple(cases)


def _checked_outputs(request: ExecutionRequest, settings: Settings) -> tuple[str, ...]:
    """Output globs: relative, inside the work directory, at most max_output_files."""
    if not request.outputs:
        return ()
    if request.tests is not None:
        raise PolicyError("outputs", "cannot be combined with tests")
    if len(request.outputs) > settings.max_output_files:
        raise PolicyError(
            "outputs",
            f"has {len(request.outputs)} globs; the limit is {settings.max_output_files}",
        )
    globs: list[str] = []
    for index, glob in enumerate(request.outputs):
        field = f"outputs[{index}]"
        path = checked_relative_path(field, glob)
        for part in path.split("/"):
            if part.count("[") != part.count("]") or "**" in part:
                raise PolicyError(
                    field, f"{excerpt(glob)!r} is not a glob of *, ? and [...] (no **)"
                )
        globs.append(path)
    return tuple(dict.fromkeys(globs))


def _encoded_within(field: str, text: str, limit: int) -> bytes:
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise PolicyError(field, "must be valid UTF-8 text (lone surrogates are not)") from error
    if len(data) > limit:
        raise PolicyError(
            field, f"is {len(data)} bytes; the limit is {limit}", RequestProblem.TOO_LARGE
        )
    return data


def _extra_files(request: ExecutionRequest, main_name: str, settings: Settings) -> list[WorkFile]:
    if len(request.files) > settings.max_files:
        raise PolicyError(
            "files", f"has {len(request.files)} entries; the limit is {settings.max_files}"
        )
    files: list[WorkFile] = []
    seen = {main_name}
    total = 0
    for index, entry in enumerate(request.files):
        field = f"files[{index}]"
        path = checked_relative_path(f"{field}.name", entry.name)
        if path in seen:
            raise PolicyError(
                f"{field}.name", f"{excerpt(path)!r} is given twice (or is the main file)"
            )
        seen.add(path)
        content = _file_content(field, entry, settings.max_files_bytes)
        total += len(content)
        if total > settings.max_files_bytes:
            raise PolicyError(
                "files",
                f"total more than {settings.max_files_bytes} bytes",
                RequestProblem.TOO_LARGE,
            )
        files.append(WorkFile(path=path, content=content))
    _refuse_file_directory_clashes(seen)
    return files


def _file_content(field: str, entry: SourceFile, limit: int) -> bytes:
    """A file's bytes from exactly one of `content` (text) and `content_b64` (any bytes),
    within `limit` decoded bytes."""
    if (entry.content is None) == (entry.content_b64 is None):
        raise PolicyError(
            f"{field}.content_b64" if entry.content_b64 is not None else f"{field}.content",
            "give exactly one of content (text) and content_b64 (base64)",
        )
    if entry.content is not None:
        return _encoded_within(f"{field}.content", entry.content, limit)
    encoded = entry.content_b64 or ""
    if len(encoded) > (limit + 2) // 3 * 4 + 4:
        raise PolicyError(
            f"{field}.content_b64", f"decodes to more than {limit} bytes", RequestProblem.TOO_LARGE
        )
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as error:
        raise PolicyError(f"{field}.content_b64", "is not valid base64") from error
    if len(data) > limit:
        raise PolicyError(
            f"{field}.content_b64",
            f"is {len(data)} bytes decoded; the limit is {limit}",
            RequestProblem.TOO_LARGE,
        )
    return data


def checked_relative_path(field: str, name: str) -> str:
    """A plain relative path inside the work directory, or a PolicyError."""
    if not name or "\x00" in name or "\\" in name:
        raise PolicyError(field, "must be a non-empty relative path without NUL or backslash")
    if len(name.encode("utf-8", "surrogatepass")) > MAX_PATH_BYTES:
        raise PolicyError(field, f"is longer than {MAX_PATH_BYTES} bytes")
    parts = name.split("/")
    if any(part in {"", ".", ".."} for part in parts):
        raise PolicyError(
            field,
            f"{excerpt(name)!r} must stay inside the work directory (no leading '/', '.' or '..')",
        )
    path = PurePosixPath(name)
    if len(path.parts) > MAX_PATH_DEPTH:
        raise PolicyError(field, f"is nested deeper than {MAX_PATH_DEPTH} directories")
    return str(path)


def _refuse_file_directory_clashes(paths: set[str]) -> None:
    for path in paths:
        for parent in PurePosixPath(path).parents:
            if str(parent) in paths:
                clash = excerpt(str(parent))
                raise PolicyError("files", f"{clash!r} is both a file and a directory")


def _checked_args(args: list[str], settings: Settings) -> list[str]:
    if len(args) > settings.max_args:
        raise PolicyError("args", f"has {len(args)} entries; the limit is {settings.max_args}")
    for index, arg in enumerate(args):
        if "\x00" in arg:
            raise PolicyError(f"args[{index}]", "must not contain NUL")
        _encoded_within(f"args[{index}]", arg, settings.max_arg_bytes)
    return args


def _limits(request: ExecutionRequest, settings: Settings) -> Limits:
    return Limits(
        timeout_s=_seconds(
            "timeout", request.timeout, settings.default_timeout_s, settings.max_timeout_s
        ),
        memory_mib=_mebibytes("memory", request.memory, settings.default_memory_mib, settings),
        cpus=settings.cpus,
        pids=settings.pids_limit,
        output_bytes=settings.output_limit_bytes,
        scratch_mib=settings.scratch_mib,
        compile_timeout_s=_seconds(
            "compile_timeout",
            request.compile_timeout,
            settings.compile_timeout_s,
            settings.max_compile_timeout_s,
        ),
        compile_memory_mib=_mebibytes(
            "compile_memory",
            request.compile_memory,
            min(settings.compile_memory_mib, settings.max_memory_mib),
            settings,
        ),
        cpu_time_s=_cpu_seconds("cpu_time", request.cpu_time, settings.max_timeout_s),
        compile_cpu_time_s=_cpu_seconds(
            "compile_cpu_time", request.compile_cpu_time, settings.max_compile_timeout_s
        ),
        output_files=settings.max_output_files,
        output_files_bytes=settings.max_output_bytes,
        tests_output_bytes=settings.max_tests_output_bytes,
    )


def _cpu_seconds(field: str, asked: float | None, maximum: float) -> float:
    """A CPU-time limit (0: none); never above the wall-clock maximum, which bounds it anyway."""
    return 0.0 if asked is None else _seconds(field, asked, 0.0, maximum)


def _seconds(field: str, asked: float | None, default: float, maximum: float) -> float:
    value = default if asked is None else asked
    if not math.isfinite(value) or value <= 0:
        raise PolicyError(field, "must be a positive number of seconds")
    if value > maximum:
        raise PolicyError(field, f"{value:g} s exceeds the maximum of {maximum:g} s")
    return value


def _mebibytes(field: str, asked: int | None, default: int, settings: Settings) -> int:
    value = default if asked is None else asked
    if value < MIN_MEMORY_MIB:
        raise PolicyError(field, f"must be at least {MIN_MEMORY_MIB} MiB")
    if value > settings.max_memory_mib:
        raise PolicyError(
            field, f"{value} MiB exceeds the maximum of {settings.max_memory_mib} MiB"
        )
    return value
