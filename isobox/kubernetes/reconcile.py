"""The operator's decisions, as pure functions of what it has read: unit-tested branch by
branch, while the kopf handlers in `operator.py` only read, write and delete.

A CodeRun's pod is its own only if the pod's ownerReferences name the CodeRun's uid: names
are chosen by whoever writes a CodeRun (`spec.runId`), uids by the API server.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from isobox.errors import SandboxError
from isobox.kubernetes.coderun import status_from_result
from isobox.kubernetes.pod_status import is_running_or_done, pod_end, pod_outcome
from isobox.launcher import FrameDecoder, sandbox_result
from isobox.models import RunResult, StageResult
from isobox.outcome import FINAL_PHASES, Phase

# What one CodeRun status may hold, JSON-encoded, so that a maximal run's record stays far
# below the API server's 3 MiB request limit (etcd's object size) with room for the spec.
STATUS_BUDGET_BYTES = 768 * 1024
STREAM_BUDGET_BYTES = STATUS_BUDGET_BYTES // 4


@dataclass(frozen=True)
class Decision:
    """What to write and what to delete after one event."""

    status: dict[str, Any] | None = None
    delete_pod: bool = False
    read_log: bool = False
    """The pod finished: read its log and decide again with it."""


def owns(coderun: dict[str, Any], pod: dict[str, Any]) -> bool:
    """Whether `pod` belongs to `coderun` (an ownerReference with the CodeRun's uid)."""
    uid = (coderun.get("metadata") or {}).get("uid")
    references = (pod.get("metadata") or {}).get("ownerReferences") or []
    return bool(uid) and any(reference.get("uid") == uid for reference in references)


def error_status(reason: str, message: str, now: str) -> dict[str, Any]:
    return {"phase": Phase.ERROR, "reason": reason, "message": message[:4096], "finishedAt": now}


def after_create_conflict(
    coderun: dict[str, Any], existing: dict[str, Any] | None, now: str
) -> Decision:
    """Pod creation answered 409: the pod is ours (made before an operator restart) or
    another CodeRun's, whose runId this one repeats; never adopt or touch the latter."""
    if existing is not None and owns(coderun, existing):
        return Decision()
    return Decision(
        status=error_status(
            "RunIdTaken", "a sandbox pod of this runId belongs to another CodeRun", now
        )
    )


def next_status(
    coderun: dict[str, Any] | None,
    event_type: str,
    pod: dict[str, Any],
    log: FrameDecoder | None,
    now: str,
) -> Decision:
    """What the operator does on an event of a pod labelled with `coderun`'s name."""
    gone = event_type == "DELETED"
    phase = ((coderun or {}).get("status") or {}).get("phase")
    if coderun is None or not owns(coderun, pod):
        # Not (or no longer) any CodeRun's: a pod this operator made outlives its CodeRun only
        # if the garbage collector has not got to it yet; it is never recorded anywhere.
        return Decision(delete_pod=coderun is None and not gone)
    if phase in FINAL_PHASES:
        return Decision(delete_pod=not gone)
    outcome = pod_outcome(event_type, pod)
    if outcome is None:
        if phase == Phase.PENDING and is_running_or_done(pod):
            return Decision(status={"phase": Phase.RUNNING, "startedAt": now})
        return Decision()
    if outcome.kind == "finished":
        if log is None:
            return Decision(read_log=True)
        try:
            result = sandbox_result(log, pod_end(pod))
        except SandboxError as error:
            return Decision(
                status=error_status("SandboxFailed", str(error), now), delete_pod=not gone
            )
        return Decision(status=bounded_status(result, now), delete_pod=not gone)
    return Decision(status=error_status(outcome.reason, outcome.message, now), delete_pod=not gone)


def bounded_status(result: RunResult, now: str) -> dict[str, Any]:
    """The status recording `result`, each stream cut to STREAM_BUDGET_BYTES as JSON (an
    \\xff that became U+FFFD costs 6 bytes as `\\ufffd`), cut streams flagged truncated, and
    `recordTruncated` set when the record holds less than the run's own result."""
    cut = False
    stages: dict[str, StageResult] = {}
    for name, stage in (("run", result), ("compile", result.compile)):
        if stage is None:
            continue
        fitted, stage_cut = _fitted(stage)
        stages[name] = fitted
        cut = cut or stage_cut
    run = stages["run"]
    bounded = RunResult(
        **run.model_dump(include=set(StageResult.model_fields)),
        compile=stages.get("compile"),
        runtime=result.runtime,
    )
    status = status_from_result(bounded, now)
    if cut:
        status["recordTruncated"] = True
    return status


def _fitted(stage: StageResult) -> tuple[StageResult, bool]:
    stdout, out_cut = _fit(stage.stdout)
    stderr, err_cut = _fit(stage.stderr)
    update = {
        "stdout": stdout,
        "stderr": stderr,
        "stdout_truncated": stage.stdout_truncated or out_cut,
        "stderr_truncated": stage.stderr_truncated or err_cut,
    }
    return stage.model_copy(update=update), out_cut or err_cut


def _fit(text: str) -> tuple[str, bool]:
    if len(json.dumps(text)) <= STREAM_BUDGET_BYTES:
        return text, False
    low, high = 0, len(text)
    while low < high:  # the longest prefix whose JSON fits
        middle = (low + high + 1) // 2
        if len(json.dumps(text[:middle])) <= STREAM_BUDGET_BYTES:
            low = middle
        else:
            high = middle - 1
    return text[:low], True
