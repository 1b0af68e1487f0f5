"""The wire protocol of `isobox-launch`, the launcher inside every runtime image.

The launcher receives the run (files, command, stdin, limits) as base64 JSON split over
`ISOBOX_BUNDLE_<n>` environment variables, and reports the program's streams as line frames on
its own stdout, so that a merged log (the Kubernetes logs API) still keeps stdout and stderr
apart. docs/design.md is the specification; this module is its Python side and does no I/O.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from isobox.errors import SandboxError
from isobox.models import CaseResult, OutputFile, RunResult, SkippedFile, StageResult
from isobox.outcome import stage_failed
from isobox.output import CappedBuffer
from isobox.sandbox import SANDBOX_ENV, WORKDIR
from isobox.spec import RunSpec

BUNDLE_ENV_PREFIX = "ISOBOX_BUNDLE_"
MIB = 1024 * 1024
# Frames cost base64's third over the raw bytes of each stream, plus their tags and the report;
# a log longer than this many times both streams' caps is not the launcher's, and is cut.
LOG_READ_FACTOR = 3
LOG_READ_SLACK = 65536
# The kernel caps one environment string at 128 KiB (MAX_ARG_STRLEN); stay well below it.
BUNDLE_CHUNK_CHARS = 65536
# Emptied by the launcher before every test case (the work directory is restored instead).
CASE_CLEAN_DIRS = ["/tmp"]
# What a decoder keeps whatever a sandbox prints: the settings' largest caps (settings.py:
# max_tests <= 1000, max_tests_output_bytes and max_output_bytes <= 64 MiB,
# max_output_files <= 1000); the launcher holds each run to its own, smaller ones.
MAX_CASES = 1000
MAX_CASES_OUTPUT_BYTES = 64 * MIB
MAX_FILES = 1000
MAX_FILES_BYTES = 64 * MIB
# Per frame of a test case or an output file (its r or f line), beside the output itself.
FRAME_SLACK_BYTES = 1024


def bundle_document(
    spec: RunSpec,
    isolation_probes: list[str] | None = None,
    isolation_wait_s: float = 0,
    command: list[str] | None = None,
    max_processes: int = 0,
    sandbox_memory_mib: int | None = None,
) -> dict[str, Any]:
    """The launcher's input for `spec`, as JSON-ready data.

    `command` replaces the image's run command (the local backend runs the host's tools).
    `max_processes` > 0 holds the program's uid to that many tasks (RLIMIT_NPROC, set by the
    launcher on the program only): meant for sandboxes whose uid is theirs alone.
    `sandbox_memory_mib` is the memory of the sandbox the bundle goes to when that is not
    `spec`'s own (a warm one, shaped for the defaults): the launcher then holds a smaller stage
    to its own limit.

    `isolation_probes` are "host:port" addresses (with $VARS from the container environment)
    that must refuse connections before the program may start: the fail-closed check that the
    sandbox's network policy is in force.
    """
    compile_command = spec.compile_command
    limits = spec.limits
    sandbox_mib = sandbox_memory_mib or spec.sandbox_memory_mib
    document: dict[str, Any] = {
        "workdir": WORKDIR,
        "files": [
            {"path": item.path, "content_b64": base64.b64encode(item.content).decode()}
            for item in spec.files
        ],
        "compile": None
        if compile_command is None
        else {
            "command": compile_command,
            "timeout_ms": int(limits.compile_timeout_s * 1000),
            "cpu_time_ms": int(limits.compile_cpu_time_s * 1000),
            "memory_bytes": _stage_memory_bytes(limits.compile_memory_mib, sandbox_mib),
        },
        "command": command or spec.run_command,
        "stdin_b64": base64.b64encode(spec.stdin).decode(),
        "timeout_ms": int(limits.timeout_s * 1000),
        "cpu_time_ms": int(limits.cpu_time_s * 1000),
        "memory_bytes": _stage_memory_bytes(limits.memory_mib, sandbox_mib),
        "output_limit": limits.output_bytes,
        "env": {**SANDBOX_ENV, **spec.language.env},
        "isolation_probes": isolation_probes or [],
        "isolation_wait_ms": int(isolation_wait_s * 1000),
        "max_processes": max_processes,
    }
    if spec.tests:
        # Each case runs the command with its own stdin, its args after the command's own.
        document["cases"] = [
            {"stdin_b64": base64.b64encode(case.stdin).decode(), "args": list(case.args)}
            for case in spec.tests
        ]
        document["stop_on_failure"] = spec.stop_on_failure
        document["cases_output_limit"] = limits.tests_output_bytes
        document["clean_dirs"] = CASE_CLEAN_DIRS
    if spec.outputs:
        document["outputs"] = {
            "globs": list(spec.outputs),
            "max_files": limits.output_files,
            "max_bytes": limits.output_files_bytes,
        }
    return document


def _stage_memory_bytes(stage_mib: int, sandbox_mib: int) -> int:
    """The launcher's own limit for a stage smaller than the sandbox (0: the sandbox's
    memory limit, enforced by the kernel, is the stage's limit)."""
    return stage_mib * MIB if stage_mib < sandbox_mib else 0


def bundle_environment(spec: RunSpec, **options: Any) -> dict[str, str]:
    """Environment variables carrying the bundle for `spec` (options: see bundle_document)."""
    payload = base64.b64encode(json.dumps(bundle_document(spec, **options)).encode()).decode()
    chunks = [
        payload[i : i + BUNDLE_CHUNK_CHARS] for i in range(0, len(payload), BUNDLE_CHUNK_CHARS)
    ]
    return {f"{BUNDLE_ENV_PREFIX}{index}": chunk for index, chunk in enumerate(chunks or [""])}


def bundle_line(spec: RunSpec, **options: Any) -> bytes:
    """The bundle for `spec` as the launcher reads it from its stdin: one base64 line."""
    document = json.dumps(bundle_document(spec, **options)).encode()
    return base64.b64encode(document) + b"\n"


OutputListener = Callable[[str, str, bytes], None]


@dataclass
class _Stage:
    stdout: CappedBuffer
    stderr: CappedBuffer
    report: dict[str, Any] | None = None


@dataclass
class _File:
    header: dict[str, Any]
    data: CappedBuffer


class FrameDecoder:
    """Rebuilds a run's result from the launcher's frames, keeping at most `limit` bytes a stream.

    Feed it raw log bytes in any chunking; partial lines are carried over. Memory stays bounded
    by the output limit whatever the sandbox prints.
    """

    # A frame holds at most ~32 KiB raw, so a line longer than this is not the launcher's.
    MAX_LINE = 256 * 1024

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._pending = bytearray()
        self._stages = {name: self._new_stage() for name in ("compile", "run")}
        self._cases: dict[int, _Stage] = {}
        self._cases_bytes = 0
        self._files: list[_File] = []
        self._skipped: list[SkippedFile] = []
        self._files_bytes = 0
        self.done: dict[str, Any] | None = None
        """The launcher's d frame: every test case it was going to run has reported."""
        self.garbage_lines = 0
        self.launcher_error: str | None = None
        self.ready = False
        """The launcher said `w ready`: isolation checked, waiting for its bundle."""
        self.on_output: OutputListener | None = None
        """Told of each piece of output as it is decoded (stage, stream, bytes), within the
        output limit: what a stream of the run shows while it runs."""

    def _new_stage(self) -> _Stage:
        return _Stage(CappedBuffer(self._limit), CappedBuffer(self._limit))

    def feed(self, chunk: bytes) -> None:
        self._pending += chunk
        *lines, rest = self._pending.split(b"\n")
        self._pending = bytearray(rest)
        if len(self._pending) > self.MAX_LINE:
            self._pending.clear()
            self.garbage_lines += 1
        for line in lines:
            self._line(bytes(line))

    # Frame tag -> (stage, stream); `r` carries its stage inside the JSON.
    _STREAM_TAGS: ClassVar[dict[bytes, tuple[str, str]]] = {
        b"o": ("run", "stdout"),
        b"e": ("run", "stderr"),
        b"co": ("compile", "stdout"),
        b"ce": ("compile", "stderr"),
    }

    def _case(self, index: int) -> _Stage | None:
        if index not in self._cases and len(self._cases) < MAX_CASES:
            self._cases[index] = self._new_stage()
        return self._cases.get(index)

    def _case_data(self, tag: bytes, body: bytes) -> None:
        """`<index>o` / `<index>e`: a test case's stdout or stderr."""
        case = self._case(int(tag[:-1]))
        data = base64.b64decode(body, validate=True)
        room = MAX_CASES_OUTPUT_BYTES - self._cases_bytes
        if case is None or room <= 0:
            return
        data = data[:room]
        self._cases_bytes += len(data)
        (case.stdout if tag.endswith(b"o") else case.stderr).add(data)

    def _file(self, body: bytes) -> None:
        """`f {json}`: an output file's header (its `fd` frames follow) or a skipped match."""
        header = json.loads(body)
        name = str(header["name"])
        if header.get("skipped"):
            if len(self._skipped) < MAX_FILES:
                self._skipped.append(SkippedFile(name=name, reason=str(header["skipped"])))
            return
        if len(self._files) < MAX_FILES:
            room = max(MAX_FILES_BYTES - self._files_bytes, 0)
            self._files.append(_File(header, CappedBuffer(room)))

    def _file_data(self, body: bytes) -> None:
        if not self._files:
            self.garbage_lines += 1
            return
        data = base64.b64decode(body, validate=True)
        sink = self._files[-1].data
        before = len(sink.data)
        sink.add(data)
        self._files_bytes += len(sink.data) - before

    def _line(self, line: bytes) -> None:
        tag, _, body = line.partition(b" ")
        try:
            if tag[:-1].isdigit() and tag[-1:] in {b"o", b"e"}:
                self._case_data(tag, body)
            elif tag == b"fd":
                self._file_data(body)
            elif tag == b"f":
                self._file(body)
            elif tag == b"d":
                self.done = json.loads(body)
            elif tag in self._STREAM_TAGS:
                stage_name, stream = self._STREAM_TAGS[tag]
                sink = getattr(self._stages[stage_name], stream)
                kept = sink.add(base64.b64decode(body, validate=True))
                if kept and self.on_output is not None:
                    self.on_output(stage_name, stream, kept)
            elif tag == b"w":
                self.ready = body == b"ready"
            elif tag == b"x":
                self.launcher_error = base64.b64decode(body, validate=True).decode(errors="replace")
            elif tag == b"r":
                report = json.loads(body)
                case = report.get("case")
                if isinstance(case, int) and not isinstance(case, bool) and case >= 0:
                    stage = self._case(case)
                    if stage is not None:
                        stage.report = report
                else:
                    self._stages[report.get("stage", "run")].report = report
            else:
                self.garbage_lines += 1
        except (binascii.Error, ValueError, KeyError, AttributeError):
            self.garbage_lines += 1

    def has_report(self) -> bool:
        return (
            self._stages["run"].report is not None
            or self.done is not None
            or self._compile_failed()
        )

    @property
    def with_cases(self) -> bool:
        """The launcher ran test cases (it said so with a case frame or its d frame)."""
        return bool(self._cases) or self.done is not None

    def _compile_failed(self) -> bool:
        report = self._stages["compile"].report
        return report is not None and (
            report.get("exit_code") != 0 or report.get("signal") is not None
        )

    def result(self) -> RunResult:
        """The result so far; fields the launcher never reported keep their defaults. With
        test cases the run fields are the first case's, and `tests` holds those that
        reported (a case cut off midway is the caller's to add, see sandbox_result)."""
        compile_stage = self._stages["compile"]
        compiled = _stage_result(compile_stage) if compile_stage.report is not None else None
        files = [
            OutputFile(
                name=str(item.header.get("name", "")),
                size=int(item.header.get("size") or 0),
                content_b64=base64.b64encode(bytes(item.data.data)).decode(),
                truncated=bool(item.header.get("truncated"))
                or item.data.truncated
                or len(item.data.data) < int(item.header.get("sent") or 0),
            )
            for item in self._files
        ]
        extra: dict[str, Any] = {"compile": compiled, "files": files}
        extra["files_skipped"] = list(self._skipped)
        if not self.with_cases:
            return RunResult(**_stage_result(self._stages["run"]).model_dump(), **extra)
        tests = [
            CaseResult(index=index, **_stage_result(stage).model_dump())
            for index, stage in sorted(self._cases.items())
            if stage.report is not None
        ]
        first = tests[0].model_dump(exclude={"index", "verdict"}) if tests else {}
        return RunResult(**first, tests=tests, **extra)

    def unreported_case(self) -> int:
        """The index of the case that was running when the launcher stopped reporting."""
        reported = [index for index, stage in self._cases.items() if stage.report is not None]
        return max(reported, default=-1) + 1


def _stage_result(stage: _Stage) -> StageResult:
    report = stage.report or {}
    return StageResult(
        stdout=stage.stdout.text(),
        stderr=stage.stderr.text(),
        exit_code=report.get("exit_code"),
        signal=report.get("signal"),
        timed_out=bool(report.get("timed_out", False)),
        oom_killed=bool(report.get("oom_killed", False)),
        stdout_truncated=stage.stdout.truncated or bool(report.get("stdout_truncated", False)),
        stderr_truncated=stage.stderr.truncated or bool(report.get("stderr_truncated", False)),
        duration_ms=int(report.get("duration_ms", 0)),
        cpu_time_ms=int(report.get("cpu_time_ms", 0)),
        memory_peak_kib=int(report.get("memory_peak_kib", 0)),
        cpu_time_exceeded=bool(report.get("cpu_time_exceeded", False)),
    )


def log_read_cap(output_limit: int) -> int:
    """The most bytes of a sandbox's log worth reading for a run with this output limit."""
    return output_limit * 2 * LOG_READ_FACTOR + LOG_READ_SLACK


def spec_log_read_cap(spec: RunSpec) -> int:
    """The most bytes of a sandbox's log worth reading for `spec`: as `log_read_cap` for a
    plain run, more for test cases (every case's streams and report) and output files."""
    frames = len(spec.tests) + spec.limits.output_files if spec.outputs else len(spec.tests)
    cap = spec.output_budget_bytes * LOG_READ_FACTOR // 2 + frames * FRAME_SLACK_BYTES
    return max(log_read_cap(spec.limits.output_bytes), cap + LOG_READ_SLACK)


@dataclass(frozen=True)
class SandboxEnd:
    """What the runtime saw of a sandbox's end, beside the launcher's own report."""

    exit_code: int | None = None
    """The launcher's exit status as the runtime saw it, if it did."""
    oom_killed: bool = False
    """The runtime (container state, the run's cgroup) saw an OOM kill in the sandbox."""
    deadline_hit: bool = False
    """The backend or the kubelet killed the sandbox at its backstop deadline."""


def sandbox_result(decoder: FrameDecoder, end: SandboxEnd) -> RunResult:
    """The run's result: the launcher's report, completed with what only the runtime saw.

    The one merge every backend and the operator use. An OOM kill the runtime saw marks the
    stage that ran last (the compile, if it failed; else the program), even when that stage
    exited 0: a process of it was killed. A sandbox killed at its deadline timed out. Raises
    SandboxError when the launcher refused to run, and when it ended without a report the
    runtime cannot explain: that is never a success.
    """
    if decoder.launcher_error:
        raise SandboxError(f"the sandbox refused to run: {decoder.launcher_error}")
    result = decoder.result()
    if decoder.with_cases:
        return _cases_result(decoder, result, end)
    if end.deadline_hit:
        return result.model_copy(
            update={
                "exit_code": None,
                "signal": "SIGKILL",
                "timed_out": True,
                "oom_killed": end.oom_killed,
            }
        )
    if decoder.has_report():
        return _marked_oom(result) if end.oom_killed else result
    if end.oom_killed:
        # The whole sandbox ran out of memory and the launcher went with it.
        return result.model_copy(
            update={"exit_code": None, "signal": "SIGKILL", "oom_killed": True}
        )
    raise SandboxError(
        f"the sandbox's launcher ended without reporting a result (exit status {end.exit_code})"
    )


def _cases_result(decoder: FrameDecoder, result: RunResult, end: SandboxEnd) -> RunResult:
    """The merge for a run of test cases: a sandbox killed at its deadline, or by the kernel
    out of memory, before the launcher's d frame ended the case that was running then (it is
    added, timed out or OOM-killed); an OOM kill the runtime saw after a complete report
    marks the last case unless the launcher already found one."""
    tests = list(result.tests or [])
    if not decoder.has_report():
        if not (end.deadline_hit or end.oom_killed):
            raise SandboxError(
                "the sandbox's launcher stopped reporting test cases midway "
                f"(exit status {end.exit_code})"
            )
        cut = CaseResult(
            index=decoder.unreported_case(),
            signal="SIGKILL",
            timed_out=end.deadline_hit,
            oom_killed=end.oom_killed,
        )
        tests.append(cut)
    elif end.oom_killed and tests and not any(case.oom_killed for case in tests):
        tests[-1] = tests[-1].model_copy(update={"oom_killed": True})
    first = tests[0].model_dump(exclude={"index", "verdict"}) if tests else {}
    return result.model_copy(update={**first, "tests": tests})


def _marked_oom(result: RunResult) -> RunResult:
    compiled = result.compile
    if compiled is not None and stage_failed(compiled):
        return result.model_copy(
            update={"compile": compiled.model_copy(update={"oom_killed": True})}
        )
    return result.model_copy(update={"oom_killed": True})
