"""Pure Kubernetes logic: when a pod is done, what it reported, and CodeRun round trips."""

import json

from isobox.kubernetes.coderun import (
    request_from_spec,
    result_from_status,
    spec_from_run,
    status_from_result,
)
from isobox.kubernetes.pod_status import pod_end, pod_outcome
from isobox.languages import LanguageRegistry
from isobox.launcher import SandboxEnd
from isobox.models import ExecutionRequest, RunResult, SourceFile
from isobox.outcome import phase_of
from isobox.policy import build_run_spec
from isobox.settings import Settings


def pod(phase="Running", reason=None, waiting=None, terminated=None):
    state = {}
    if waiting:
        state["waiting"] = {"reason": waiting, "message": "why"}
    if terminated:
        state["terminated"] = terminated
    status = {"phase": phase, "containerStatuses": [{"name": "sandbox", "state": state}]}
    if reason:
        status["reason"] = reason
    return {"metadata": {"name": "p"}, "status": status}


def test_running_pods_are_not_done_and_terminal_ones_are():
    assert pod_outcome("MODIFIED", pod("Pending")) is None
    assert pod_outcome("MODIFIED", pod("Running")) is None
    assert pod_outcome("MODIFIED", pod("Succeeded")).kind == "finished"
    assert pod_outcome("MODIFIED", pod("Failed")).kind == "finished"
    assert pod_outcome("DELETED", pod("Running")).kind == "deleted"


def test_a_pod_that_can_never_start_is_reported_at_once():
    outcome = pod_outcome("MODIFIED", pod("Pending", waiting="ErrImageNeverPull"))
    assert (outcome.kind, outcome.reason) == ("failed_to_start", "ErrImageNeverPull")
    assert pod_outcome("MODIFIED", pod("Pending", waiting="ContainerCreating")) is None


def test_the_pod_end_reads_oom_deadline_and_exit_code_from_the_status():
    oom = pod_end(pod("Failed", terminated={"reason": "OOMKilled", "exitCode": 137}))
    assert oom == SandboxEnd(exit_code=137, oom_killed=True)
    assert pod_end(pod("Failed", reason="DeadlineExceeded")).deadline_hit
    plain = pod_end(pod("Failed", terminated={"reason": "Error", "exitCode": 3}))
    assert plain == SandboxEnd(exit_code=3)


def test_coderun_spec_records_the_run_and_converts_back_to_the_same_request():
    request = ExecutionRequest(
        language="py",
        code="print(1)",
        stdin="in",
        args=["a"],
        timeout=5,
        memory=128,
        files=[SourceFile(name="d/x.txt", content="x")],
    )
    spec = build_run_spec(request, LanguageRegistry.load(), Settings())
    fields = spec_from_run(spec)
    assert fields["language"] == "python"
    assert fields["runId"] == spec.run_id
    again = build_run_spec(
        request_from_spec(fields), LanguageRegistry.load(), Settings(), spec.run_id
    )
    assert again == spec
    json.dumps(fields)  # serialisable as the CodeRun spec


def test_status_round_trip_and_phases():
    result = RunResult(stdout="o", stderr="e", exit_code=0, duration_ms=5)
    status = status_from_result(result)
    assert status["phase"] == "Succeeded"
    assert status["finishedAt"].endswith("Z")
    assert result_from_status(status) == result
    assert phase_of(RunResult(exit_code=1)) == "Failed"
    assert phase_of(RunResult(timed_out=True, signal="SIGKILL")) == "TimedOut"
    assert phase_of(RunResult(exit_code=None, signal="SIGKILL", oom_killed=True)) == "Failed"
