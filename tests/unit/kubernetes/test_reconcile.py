"""The operator's decisions, branch by branch (the kopf handlers only do what these say)."""

import base64
import json

from isobox.kubernetes.reconcile import (
    STREAM_BUDGET_BYTES,
    after_create_conflict,
    bounded_status,
    next_status,
    owns,
)
from isobox.launcher import FrameDecoder
from isobox.models import RunResult
from isobox.outcome import Phase

NOW = "2026-12-02T08:00:00Z"
UID = "uid-of-the-coderun"


def coderun(phase: str | None = None, uid: str = UID) -> dict:
    return {"metadata": {"name": "run-a", "uid": uid}, "status": {"phase": phase} if phase else {}}


def pod(phase: str = "Running", owner: str = UID, reason: str = "", terminated=None) -> dict:
    status: dict = {"phase": phase}
    if reason:
        status["reason"] = reason
    if terminated is not None:
        status["containerStatuses"] = [{"name": "sandbox", "state": {"terminated": terminated}}]
    return {
        "metadata": {"name": "isobox-run-a", "ownerReferences": [{"uid": owner}]},
        "status": status,
    }


def log(*lines: bytes) -> FrameDecoder:
    decoder = FrameDecoder(1 << 20)
    decoder.feed(b"".join(line + b"\n" for line in lines))
    return decoder


REPORT = b'r {"stage":"run","exit_code":0,"signal":null}'


def test_a_pod_is_a_coderuns_only_through_its_owner_uid():
    assert owns(coderun(), pod())
    assert not owns(coderun(), pod(owner="someone-else"))
    assert not owns(coderun(uid=""), pod(owner=""))


def test_a_409_for_our_own_pod_after_a_restart_carries_on():
    assert after_create_conflict(coderun(), pod(), NOW).status is None


def test_a_409_for_another_coderuns_pod_ends_this_one_and_touches_nothing():
    decision = after_create_conflict(coderun(), pod(owner="victim"), NOW)
    assert decision.status is not None
    assert decision.status["phase"] == Phase.ERROR
    assert decision.status["reason"] == "RunIdTaken"
    assert not decision.delete_pod


def test_a_409_whose_pod_vanished_meanwhile_is_an_error_too():
    assert after_create_conflict(coderun(), None, NOW).status["reason"] == "RunIdTaken"


def test_another_coderuns_pod_with_our_label_is_neither_recorded_nor_deleted():
    decision = next_status(coderun(Phase.RUNNING), "MODIFIED", pod(owner="victim"), None, NOW)
    assert decision.status is None
    assert not decision.delete_pod


def test_a_pod_whose_coderun_is_gone_is_deleted():
    assert next_status(None, "MODIFIED", pod(), None, NOW).delete_pod
    assert not next_status(None, "DELETED", pod(), None, NOW).delete_pod


def test_a_pod_of_a_finished_or_cancelled_run_is_deleted_and_nothing_rewritten():
    for phase in (Phase.CANCELLED, Phase.SUCCEEDED):
        decision = next_status(coderun(phase), "MODIFIED", pod(), None, NOW)
        assert decision.delete_pod
        assert decision.status is None


def test_a_running_pod_moves_pending_to_running():
    decision = next_status(coderun(Phase.PENDING), "MODIFIED", pod("Running"), None, NOW)
    assert decision.status == {"phase": Phase.RUNNING, "startedAt": NOW}
    assert next_status(coderun(Phase.RUNNING), "MODIFIED", pod(), None, NOW).status is None


def test_a_finished_pod_asks_for_its_log_then_records_the_result():
    finished = pod("Succeeded", terminated={"exitCode": 0})
    assert next_status(coderun(Phase.RUNNING), "MODIFIED", finished, None, NOW).read_log
    out = b"o " + base64.b64encode(b"hello")
    decision = next_status(coderun(Phase.RUNNING), "MODIFIED", finished, log(out, REPORT), NOW)
    assert decision.status["phase"] == "Succeeded"
    assert decision.status["stdout"] == "hello"
    assert decision.status["finishedAt"] == NOW
    assert decision.delete_pod


def test_the_deadline_records_timed_out():
    over = pod("Failed", reason="DeadlineExceeded")
    decision = next_status(coderun(Phase.RUNNING), "MODIFIED", over, log(), NOW)
    assert decision.status["phase"] == Phase.TIMED_OUT


def test_a_pod_deleted_before_it_finished_is_an_error_and_not_deleted_again():
    decision = next_status(coderun(Phase.RUNNING), "DELETED", pod(), None, NOW)
    assert decision.status["phase"] == Phase.ERROR
    assert not decision.delete_pod


def test_a_launcher_that_vanished_is_an_error_not_a_success():
    finished = pod("Failed", terminated={"exitCode": 2})
    decision = next_status(coderun(Phase.RUNNING), "MODIFIED", finished, log(), NOW)
    assert decision.status["phase"] == Phase.ERROR
    assert decision.status["reason"] == "SandboxFailed"


def test_a_maximal_run_fits_its_record_in_json_bytes_and_says_it_was_cut():
    replaced = "\ufffd" * (1 << 20)  # 1 MiB of \xff after replacement: 6 MiB as JSON escapes
    status = bounded_status(RunResult(stdout=replaced, stderr=replaced, exit_code=0), NOW)
    assert len(json.dumps(status["stdout"])) <= STREAM_BUDGET_BYTES
    assert len(json.dumps(status)) < 2 * STREAM_BUDGET_BYTES + 4096
    assert status["stdoutTruncated"]
    assert status["stderrTruncated"]
    assert status["recordTruncated"]


def test_a_small_run_is_recorded_whole():
    status = bounded_status(RunResult(stdout="ok", exit_code=0, runtime="runc"), NOW)
    assert status["stdout"] == "ok"
    assert status["runtime"] == "runc"
    assert "recordTruncated" not in status


def test_the_record_names_the_runtime_the_operator_runs_pods_under():
    finished = pod("Succeeded", terminated={"exitCode": 0})
    decision = next_status(
        coderun(Phase.RUNNING), "MODIFIED", finished, log(REPORT), NOW, runtime="runsc"
    )
    assert decision.status["runtime"] == "runsc"


def test_a_warm_pod_replaced_by_a_cold_one_is_deleted_and_never_recorded():
    # The warm pod could not take the run: the status names the cold pod now.
    replaced = coderun(Phase.PENDING)
    replaced["status"]["podName"] = "isobox-run-a-cold"
    for phase in ("Running", "Succeeded"):
        decision = next_status(replaced, "MODIFIED", pod(phase), None, NOW)
        assert (decision.status, decision.delete_pod, decision.read_log) == (None, True, False)


def test_the_pod_the_status_names_is_the_coderuns():
    current = coderun(Phase.PENDING)
    current["status"]["podName"] = "isobox-run-a"
    decision = next_status(current, "MODIFIED", pod("Running"), None, NOW)
    assert decision.status is not None
    assert decision.status["phase"] == Phase.RUNNING
