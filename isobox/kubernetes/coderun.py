"""CodeRun conversions: request -> CodeRun spec, CodeRun spec -> request, result <-> status,
CodeRun -> the state of its asynchronous run.

Pure functions shared by the CodeRun backend (API side) and the operator.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from isobox.models import (
    CaseInput,
    CaseResult,
    ExecutionRequest,
    OutputFile,
    RunResult,
    SkippedFile,
    SourceFile,
    StageResult,
    Verdict,
)
from isobox.outcome import STATUS_OF_PHASE, Phase, RunStatus, phase_of, verdict
from isobox.runstate import RunState
from isobox.spec import CaseSpec, RunSpec


def coderun_name(run_id: str) -> str:
    return f"run-{run_id}"


def phase_of_coderun(coderun: dict[str, Any]) -> str | None:
    phase = (coderun.get("status") or {}).get("phase")
    return str(phase) if phase else None


def run_state(run_id: str, coderun: dict[str, Any], backend: str) -> RunState:
    """What a CodeRun says of its run: no phase yet, Pending and Running are all "running"."""
    status: dict[str, Any] = coderun.get("status") or {}
    language = str((coderun.get("spec") or {}).get("language", ""))
    phase = phase_of_coderun(coderun)
    run_status = STATUS_OF_PHASE[Phase(phase)] if phase in set(Phase) else RunStatus.RUNNING
    if run_status in {RunStatus.SUCCEEDED, RunStatus.FAILED}:
        return RunState(run_id, run_status, language, backend, result_from_status(status))
    if run_status == RunStatus.ERROR:
        reason, message = status.get("reason"), status.get("message", "")
        error = f"{reason}: {message}" if reason else str(message)
        return RunState(run_id, run_status, language, backend, error=error)
    return RunState(run_id, run_status, language, backend)


def spec_from_run(spec: RunSpec) -> dict[str, Any]:
    """The CodeRun spec recording `spec` (what was asked, after the policy's checks)."""
    main, *extra = spec.files
    fields: dict[str, Any] = {
        "language": spec.language.name,
        "code": main.content.decode(),
        "runId": spec.run_id,
        "timeoutSeconds": spec.limits.timeout_s,
        "memoryMiB": spec.limits.memory_mib,
    }
    if spec.limits.cpu_time_s:
        fields["cpuTimeSeconds"] = spec.limits.cpu_time_s
    if spec.compile_command is not None and spec.limits.compile_cpu_time_s:
        fields["compileCpuTimeSeconds"] = spec.limits.compile_cpu_time_s
    if spec.compile_command is not None:
        fields["compileTimeoutSeconds"] = spec.limits.compile_timeout_s
        fields["compileMemoryMiB"] = spec.limits.compile_memory_mib
    if spec.stdin:
        fields["stdin"] = spec.stdin.decode()
    if spec.args:
        fields["args"] = list(spec.args)
    if extra:
        fields["files"] = [_file_spec(f.path, f.content) for f in extra]
    if spec.tests:
        fields["tests"] = [_case_spec(case) for case in spec.tests]
        fields["compare"] = spec.compare
        fields["stopOnFailure"] = spec.stop_on_failure
    if spec.outputs:
        fields["outputs"] = list(spec.outputs)
    return fields


def _file_spec(name: str, content: bytes) -> dict[str, str]:
    """A file as text when it is UTF-8, else as base64 (`contentB64`)."""
    try:
        return {"name": name, "content": content.decode()}
    except UnicodeDecodeError:
        return {"name": name, "contentB64": base64.b64encode(content).decode()}


def _case_spec(case: CaseSpec) -> dict[str, Any]:
    fields: dict[str, Any] = {"stdin": case.stdin.decode()}
    if case.args:
        fields["args"] = list(case.args)
    if case.expected_output is not None:
        fields["expectedOutput"] = case.expected_output
    return fields


def _source_file(entry: dict[str, Any]) -> SourceFile:
    return SourceFile(
        name=entry.get("name", ""),
        content=entry.get("content"),
        content_b64=entry.get("contentB64"),
    )


def _case_input(entry: dict[str, Any]) -> CaseInput:
    return CaseInput(
        stdin=entry.get("stdin", ""),
        args=entry.get("args", []),
        expected_output=entry.get("expectedOutput"),
    )


def expected_outputs(spec: dict[str, Any]) -> list[str | None]:
    """The expected output of each test case of a CodeRun spec (None: not compared)."""
    return [entry.get("expectedOutput") for entry in spec.get("tests") or []]


def request_from_spec(spec: dict[str, Any]) -> ExecutionRequest:
    """The request a CodeRun spec stands for (validated by pydantic, then by the policy)."""
    return ExecutionRequest(
        language=spec.get("language", ""),
        code=spec.get("code", ""),
        stdin=spec.get("stdin", ""),
        args=spec.get("args", []),
        files=[_source_file(entry) for entry in spec.get("files", [])],
        timeout=spec.get("timeoutSeconds"),
        memory=spec.get("memoryMiB"),
        compile_timeout=spec.get("compileTimeoutSeconds"),
        compile_memory=spec.get("compileMemoryMiB"),
        cpu_time=spec.get("cpuTimeSeconds"),
        compile_cpu_time=spec.get("compileCpuTimeSeconds"),
        tests=[_case_input(entry) for entry in spec["tests"]] if "tests" in spec else None,
        compare=spec.get("compare", "trailing_whitespace"),
        stop_on_failure=bool(spec.get("stopOnFailure", False)),
        outputs=spec.get("outputs", []),
    )


def _stage_status(stage: StageResult) -> dict[str, Any]:
    return {
        "exitCode": stage.exit_code,
        "signal": stage.signal,
        "timedOut": stage.timed_out,
        "oomKilled": stage.oom_killed,
        "stdout": stage.stdout,
        "stderr": stage.stderr,
        "stdoutTruncated": stage.stdout_truncated,
        "stderrTruncated": stage.stderr_truncated,
        "durationMs": stage.duration_ms,
        "cpuTimeMs": stage.cpu_time_ms,
        "memoryPeakKiB": stage.memory_peak_kib,
        "cpuTimeExceeded": stage.cpu_time_exceeded,
    }


def status_from_result(result: RunResult, finished_at: str | None = None) -> dict[str, Any]:
    status = {
        "phase": str(phase_of(result)),
        "finishedAt": finished_at or now(),
        **_stage_status(result),
        "runtime": result.runtime,
    }
    if result.compile is not None:
        status["compile"] = _stage_status(result.compile)
    if result.tests is not None:
        status["tests"] = [
            {"index": case.index, "verdict": case.verdict, **_stage_status(case)}
            for case in result.tests
        ]
        status["passed"] = result.passed
        status["total"] = result.total
        status["verdict"] = str(verdict(result))
    if result.files:
        status["files"] = [
            {
                "name": item.name,
                "size": item.size,
                "contentB64": item.content_b64,
                "truncated": item.truncated,
            }
            for item in result.files
        ]
    if result.files_skipped:
        status["filesSkipped"] = [
            {"name": item.name, "reason": item.reason} for item in result.files_skipped
        ]
    return status


def _stage_from_status(status: dict[str, Any]) -> StageResult:
    return StageResult(
        stdout=status.get("stdout", ""),
        stderr=status.get("stderr", ""),
        exit_code=status.get("exitCode"),
        signal=status.get("signal"),
        timed_out=bool(status.get("timedOut", False)),
        oom_killed=bool(status.get("oomKilled", False)),
        stdout_truncated=bool(status.get("stdoutTruncated", False)),
        stderr_truncated=bool(status.get("stderrTruncated", False)),
        duration_ms=int(status.get("durationMs") or 0),
        cpu_time_ms=int(status.get("cpuTimeMs") or 0),
        memory_peak_kib=int(status.get("memoryPeakKiB") or 0),
        cpu_time_exceeded=bool(status.get("cpuTimeExceeded", False)),
    )


def result_from_status(status: dict[str, Any]) -> RunResult:
    compiled = status.get("compile")
    tests = status.get("tests")
    return RunResult(
        **_stage_from_status(status).model_dump(),
        compile=_stage_from_status(compiled) if compiled else None,
        runtime=str(status.get("runtime") or ""),
        warm=bool(status.get("warm", False)),
        tests=None if tests is None else [_case_from_status(entry) for entry in tests],
        passed=status.get("passed"),
        total=status.get("total"),
        files=[
            OutputFile(
                name=str(entry.get("name", "")),
                size=int(entry.get("size") or 0),
                content_b64=str(entry.get("contentB64") or ""),
                truncated=bool(entry.get("truncated", False)),
            )
            for entry in status.get("files") or []
        ],
        files_skipped=[
            SkippedFile(name=str(entry.get("name", "")), reason=str(entry.get("reason", "")))
            for entry in status.get("filesSkipped") or []
        ],
    )


def _case_from_status(entry: dict[str, Any]) -> CaseResult:
    judged = entry.get("verdict")
    return CaseResult(
        index=int(entry.get("index") or 0),
        verdict=Verdict(judged) if judged in set(Verdict) else None,
        **_stage_from_status(entry).model_dump(),
    )


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def age_seconds(timestamp: str) -> float:
    moment = datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return (datetime.now(UTC) - moment).total_seconds()
