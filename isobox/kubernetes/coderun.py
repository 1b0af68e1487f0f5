"""CodeRun conversions: request -> CodeRun spec, CodeRun spec -> request, result <-> status,
CodeRun -> the state of its asynchronous run.

Pure functions shared by the CodeRun backend (API side) and the operator.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from isobox.models import ExecutionRequest, RunResult, SourceFile, StageResult
from isobox.outcome import STATUS_OF_PHASE, Phase, RunStatus, phase_of
from isobox.runstate import RunState
from isobox.spec import RunSpec


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
        fields["files"] = [{"name": f.path, "content": f.content.decode()} for f in extra]
    return fields


def request_from_spec(spec: dict[str, Any]) -> ExecutionRequest:
    """The request a CodeRun spec stands for (validated by pydantic, then by the policy)."""
    return ExecutionRequest(
        language=spec.get("language", ""),
        code=spec.get("code", ""),
        stdin=spec.get("stdin", ""),
        args=spec.get("args", []),
        files=[SourceFile(**entry) for entry in spec.get("files", [])],
        timeout=spec.get("timeoutSeconds"),
        memory=spec.get("memoryMiB"),
        compile_timeout=spec.get("compileTimeoutSeconds"),
        compile_memory=spec.get("compileMemoryMiB"),
        cpu_time=spec.get("cpuTimeSeconds"),
        compile_cpu_time=spec.get("compileCpuTimeSeconds"),
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
    return RunResult(
        **_stage_from_status(status).model_dump(),
        compile=_stage_from_status(compiled) if compiled else None,
        runtime=str(status.get("runtime") or ""),
    )


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def age_seconds(timestamp: str) -> float:
    moment = datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return (datetime.now(UTC) - moment).total_seconds()
