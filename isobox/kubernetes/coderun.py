"""CodeRun conversions: request -> CodeRun spec, CodeRun spec -> request, result <-> status.

Pure functions shared by the CodeRun backend (API side) and the operator.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from typing import Any

from isobox.models import ExecutionRequest, RunResult, RunSpec, SourceFile, StageResult

FINAL_PHASES = frozenset({"Succeeded", "Failed", "TimedOut", "Cancelled", "Error"})
# The CRD's pattern for spec.runId: a run id is a DNS label, and so is "run-<id>".
RUN_ID_PATTERN = re.compile(r"[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?")
RUN_ID_LENGTH = 20


def coderun_name(run_id: str) -> str:
    return f"run-{run_id}"


def is_run_id(value: str) -> bool:
    """Whether `value` can be a run id (and so name a CodeRun); anything else names no run."""
    return RUN_ID_PATTERN.fullmatch(value) is not None


def run_id_for_key(scoped_key: str) -> str:
    """The run id, and so the CodeRun name, that an idempotency key stands for.

    Derived, not stored: every API replica maps a key to the same name, so the API server's
    uniqueness of names makes a duplicate submission fail with 409 instead of running twice.
    The key is already scoped to its client, so two clients' equal keys name different runs.
    Same length and alphabet as the random ids (`policy.new_run_id`).
    """
    digest = hashlib.sha256(f"isobox-idempotency-key\0{scoped_key}".encode())
    return digest.hexdigest()[:RUN_ID_LENGTH]


def phase_of_coderun(coderun: dict[str, Any]) -> str | None:
    phase = (coderun.get("status") or {}).get("phase")
    return str(phase) if phase else None


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
    )


def phase_of(result: RunResult) -> str:
    if result.timed_out:
        return "TimedOut"
    succeeded = result.exit_code == 0 and result.signal is None and not result.oom_killed
    return "Succeeded" if succeeded else "Failed"


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
    }


def status_from_result(result: RunResult) -> dict[str, Any]:
    status = {"phase": phase_of(result), "finishedAt": now(), **_stage_status(result)}
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
    )


def result_from_status(status: dict[str, Any]) -> RunResult:
    compiled = status.get("compile")
    return RunResult(
        **_stage_from_status(status).model_dump(),
        compile=_stage_from_status(compiled) if compiled else None,
    )


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def age_seconds(timestamp: str) -> float:
    moment = datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return (datetime.now(UTC) - moment).total_seconds()
