"""The operator's decisions, as pure functions of what it has read: unit-tested branch by
branch, while the kopf handlers in `operator.py` only read, write and delete.

A CodeRun's pod is its own only if the pod's ownerReferences name the CodeRun's uid: names
are chosen by whoever writes a CodeRun (`spec.runId`), uids by the API server.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, TypeVar

from isobox.errors import SandboxError
from isobox.judging import judge
from isobox.kubernetes.coderun import expected_outputs, status_from_result
from isobox.kubernetes.pod_status import is_running_or_done, pod_end, pod_outcome
from isobox.launcher import FrameDecoder, sandbox_result
from isobox.models import CaseResult, OutputFile, RunResult, StageResult
from isobox.outcome import FINAL_PHASES, Phase

# What one CodeRun status may hold, JSON-encoded, so that a maximal run's record stays far
# below the API server's 3 MiB request limit (etcd's object size) with room for the spec.
# A stream at the largest CodeRun output limit (ISOBOX_CODERUN_OUTPUT_LIMIT_BYTES, 256 KiB by
# default) fits whole when it is plain text; replacement characters (6 JSON bytes each) are cut.
# (and its two quotes): a compiled run's four streams at that limit fit the status whole.
STREAM_BUDGET_BYTES = 264 * 1024
STATUS_BUDGET_BYTES = 4 * STREAM_BUDGET_BYTES
MAX_SKIPPED_RECORDED = 64

S = TypeVar("S", bound=StageResult)


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


def is_current(coderun: dict[str, Any], pod: dict[str, Any]) -> bool:
    """Whether `pod` is the one the CodeRun's status names: a warm pod that could not take the
    run, replaced by a cold one, is no longer its sandbox."""
    recorded = (coderun.get("status") or {}).get("podName")
    return not recorded or recorded == (pod.get("metadata") or {}).get("name")


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
    runtime: str = "",
) -> Decision:
    """What the operator does on an event of a pod labelled with `coderun`'s name; `runtime`
    is what the result records as its runtime (runc, runsc)."""
    gone = event_type == "DELETED"
    phase = ((coderun or {}).get("status") or {}).get("phase")
    if coderun is None or not owns(coderun, pod):
        # Not (or no longer) any CodeRun's: a pod this operator made outlives its CodeRun only
        # if the garbage collector has not got to it yet; it is never recorded anywhere.
        return Decision(delete_pod=coderun is None and not gone)
    if not is_current(coderun, pod):
        return Decision(delete_pod=not gone)
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
            result = sandbox_result(log, pod_end(pod)).model_copy(update={"runtime": runtime})
        except SandboxError as error:
            return Decision(
                status=error_status("SandboxFailed", str(error), now), delete_pod=not gone
            )
        return Decision(status=bounded_status(judged(coderun, result), now), delete_pod=not gone)
    return Decision(status=error_status(outcome.reason, outcome.message, now), delete_pod=not gone)


def judged(coderun: dict[str, Any], result: RunResult) -> RunResult:
    """`result` with its test cases judged against the CodeRun's expected outputs (before
    the record cuts any output), as the API's service judges a run of the other backends."""
    spec: dict[str, Any] = coderun.get("spec") or {}
    if "tests" not in spec:
        return result
    compare = str(spec.get("compare") or "trailing_whitespace")
    return judge(result, expected_outputs(spec), compare, bool(spec.get("stopOnFailure")))


def bounded_status(result: RunResult, now: str) -> dict[str, Any]:
    """The status recording `result`, each stream cut to its share of STATUS_BUDGET_BYTES as
    JSON (an \\xff that became U+FFFD costs 6 bytes as `\\ufffd`): the run's and compile's
    streams, every test case's, and every output file's content share it equally (at most
    STREAM_BUDGET_BYTES each). Cut streams and files are flagged truncated; verdicts, counts
    and figures are kept whole; `recordTruncated` is set when the record holds less than the
    run's own result."""
    stages_with_output = 1 + (result.compile is not None) + len(result.tests or [])
    shares = 2 * stages_with_output + len(result.files)
    budget = min(STREAM_BUDGET_BYTES, STATUS_BUDGET_BYTES // max(shares, 1))
    cut = False
    stages: dict[str, StageResult] = {}
    for name, stage in (("run", result), ("compile", result.compile)):
        if stage is None:
            continue
        fitted, stage_cut = _fitted(stage, budget)
        stages[name] = fitted
        cut = cut or stage_cut
    tests: list[CaseResult] | None = None
    if result.tests is not None:
        tests = []
        for case in result.tests:
            fitted_case, case_cut = _fitted(case, budget)
            tests.append(fitted_case)
            cut = cut or case_cut
    files: list[OutputFile] = []
    for item in result.files:
        content = item.content_b64
        if len(content) > budget:
            content, cut = content[: budget // 4 * 4], True
        files.append(
            item.model_copy(
                update={
                    "content_b64": content,
                    "truncated": item.truncated or content != item.content_b64,
                }
            )
        )
    run = stages["run"]
    bounded = RunResult(
        **run.model_dump(include=set(StageResult.model_fields)),
        compile=stages.get("compile"),
        runtime=result.runtime,
        tests=tests,
        passed=result.passed,
        total=result.total,
        files=files,
        files_skipped=result.files_skipped[:MAX_SKIPPED_RECORDED],
    )
    status = status_from_result(bounded, now)
    if cut:
        status["recordTruncated"] = True
    return status


def _fitted(stage: S, budget: int) -> tuple[S, bool]:
    stdout, out_cut = _fit(stage.stdout, budget)
    stderr, err_cut = _fit(stage.stderr, budget)
    update = {
        "stdout": stdout,
        "stderr": stderr,
        "stdout_truncated": stage.stdout_truncated or out_cut,
        "stderr_truncated": stage.stderr_truncated or err_cut,
    }
    return stage.model_copy(update=update), out_cut or err_cut


def _fit(text: str, budget: int) -> tuple[str, bool]:
    if len(json.dumps(text)) <= budget:
        return text, False
    low, high = 0, len(text)
    while low < high:  # the longest prefix whose JSON fits
        middle = (low + high + 1) // 2
        if len(json.dumps(text[:middle])) <= budget:
            low = middle
        else:
            high = middle - 1
    return text[:low], True
