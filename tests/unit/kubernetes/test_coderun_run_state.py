"""What `GET /runs/{id}` says of a CodeRun in each phase, and how ids and keys name CodeRuns."""

import pytest

from isobox.ids import is_run_id, new_run_id, run_id_for_key
from isobox.kubernetes.coderun import run_state


def coderun(status: dict | None = None) -> dict:
    return {"metadata": {"name": "run-x"}, "spec": {"language": "bash"}, "status": status}


@pytest.mark.parametrize("phase", [None, "Pending", "Running"])
def test_a_coderun_not_ended_is_running_without_a_result(phase):
    state = run_state("x", coderun({"phase": phase} if phase else None), "coderun")
    assert (state.status, state.result, state.error) == ("running", None, None)


@pytest.mark.parametrize(
    ("phase", "status"), [("Succeeded", "succeeded"), ("Failed", "failed"), ("TimedOut", "failed")]
)
def test_an_ended_program_is_its_result(phase, status):
    recorded = {"phase": phase, "exitCode": 0 if phase == "Succeeded" else None, "stdout": "hi\n"}
    if phase == "TimedOut":
        recorded["timedOut"] = True
    state = run_state("x", coderun(recorded), "coderun")
    assert (state.status, state.language, state.backend) == (status, "bash", "coderun")
    assert state.result is not None
    assert state.result.stdout == "hi\n"
    assert state.result.timed_out is (phase == "TimedOut")


def test_a_cancelled_coderun_is_cancelled_and_an_error_says_why():
    assert run_state("x", coderun({"phase": "Cancelled"}), "coderun").status == "cancelled"
    failed = run_state(
        "x", coderun({"phase": "Error", "reason": "Invalid", "message": "timeout: too long"}), "c"
    )
    assert (failed.status, failed.error, failed.result) == (
        "error",
        "Invalid: timeout: too long",
        None,
    )


def test_a_key_names_one_valid_run_id_per_client():
    assert run_id_for_key("client-a:order-1") == run_id_for_key("client-a:order-1")
    assert run_id_for_key("client-a:order-1") != run_id_for_key("client-b:order-1")
    assert is_run_id(run_id_for_key("client-a:order-1"))
    assert len(run_id_for_key("k")) == len(new_run_id())


@pytest.mark.parametrize("value", ["", "UPPER", "a_b", "-a", "a-", "a" * 41, "../pods"])
def test_anything_but_a_dns_label_is_no_run_id(value):
    assert not is_run_id(value)
