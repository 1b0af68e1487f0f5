"""The one outcome vocabulary: every consumer derives its answer from `ending`."""

import pytest

from isobox.models import RunResult, StageResult
from isobox.outcome import (
    Ending,
    Phase,
    RunStatus,
    Verdict,
    ending,
    exit_status,
    phase_of,
    signal_name,
    signal_number,
    status_of,
    verdict,
)

FAILED_COMPILE = StageResult(exit_code=1, stderr="error")
OK_COMPILE = StageResult(exit_code=0)

CASES = [
    # (result, ending, phase, run status, `isobox run` exit status)
    (RunResult(exit_code=0), Ending.OK, Phase.SUCCEEDED, RunStatus.SUCCEEDED, 0),
    (RunResult(exit_code=3), Ending.ERROR, Phase.FAILED, RunStatus.FAILED, 3),
    (RunResult(signal="SIGSEGV"), Ending.ERROR, Phase.FAILED, RunStatus.FAILED, 139),
    (
        RunResult(signal="SIGKILL", timed_out=True),
        Ending.TIMEOUT,
        Phase.TIMED_OUT,
        RunStatus.FAILED,
        124,
    ),
    (
        RunResult(signal="SIGKILL", oom_killed=True),
        Ending.OOM,
        Phase.FAILED,
        RunStatus.FAILED,
        137,
    ),
    # The disagreement this module ended: exit 0 after a child was OOM-killed is not a success.
    (RunResult(exit_code=0, oom_killed=True), Ending.OOM, Phase.FAILED, RunStatus.FAILED, 137),
    # A timeout wins over an OOM kill seen on the way.
    (
        RunResult(timed_out=True, oom_killed=True, signal="SIGKILL"),
        Ending.TIMEOUT,
        Phase.TIMED_OUT,
        RunStatus.FAILED,
        124,
    ),
    # Truncated output is not an ending: the program was not stopped.
    (
        RunResult(exit_code=0, stdout_truncated=True),
        Ending.OK,
        Phase.SUCCEEDED,
        RunStatus.SUCCEEDED,
        0,
    ),
    (RunResult(compile=FAILED_COMPILE), Ending.ERROR, Phase.FAILED, RunStatus.FAILED, 2),
    (
        RunResult(exit_code=0, compile=OK_COMPILE),
        Ending.OK,
        Phase.SUCCEEDED,
        RunStatus.SUCCEEDED,
        0,
    ),
    (
        RunResult(compile=StageResult(timed_out=True, signal="SIGKILL")),
        Ending.ERROR,
        Phase.FAILED,
        RunStatus.FAILED,
        2,
    ),
]


@pytest.mark.parametrize(("result", "end", "phase", "status", "code"), CASES)
def test_every_consumer_derives_from_one_ending(result, end, phase, status, code):
    assert ending(result) is end
    assert phase_of(result) is phase
    assert status_of(result) is status
    assert exit_status(result) == code


def test_phase_values_are_the_crd_enum():
    from isobox.kubernetes.manifests import coderun_crd

    version = coderun_crd()["spec"]["versions"][0]
    phase = version["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]["phase"]
    assert phase["enum"] == [str(value) for value in Phase]


@pytest.mark.parametrize(("name", "number"), [("SIGKILL", 9), ("SIG42", 42), ("SIGRT40", 40)])
def test_signal_names_round_trip(name, number):
    assert signal_number(name) == number
    assert signal_number(signal_name(number)) == number


def test_unknown_signal_name_is_zero():
    assert signal_number("SIGNOPE") == 0


VERDICTS = [
    (RunResult(exit_code=0), Verdict.ACCEPTED),
    (RunResult(exit_code=0, stdout_truncated=True), Verdict.OUTPUT_LIMIT_EXCEEDED),
    (RunResult(exit_code=1), Verdict.RUNTIME_ERROR),
    (RunResult(signal="SIGSEGV"), Verdict.RUNTIME_ERROR),
    (RunResult(timed_out=True, signal="SIGKILL"), Verdict.TIME_LIMIT_EXCEEDED),
    (RunResult(exit_code=0, cpu_time_exceeded=True), Verdict.TIME_LIMIT_EXCEEDED),
    (RunResult(signal="SIGKILL", cpu_time_exceeded=True), Verdict.TIME_LIMIT_EXCEEDED),
    (RunResult(exit_code=0, oom_killed=True), Verdict.MEMORY_LIMIT_EXCEEDED),
    (RunResult(compile=FAILED_COMPILE), Verdict.COMPILATION_ERROR),
]


@pytest.mark.parametrize(("result", "expected"), VERDICTS)
def test_the_verdict_is_the_ending_in_a_judges_words(result, expected):
    from isobox.wire import ExecuteResponse

    assert verdict(result) is expected
    answer = ExecuteResponse(**result.model_dump(), run_id="r", language="python", backend="x")
    assert answer.model_dump(mode="json")["verdict"] == expected


def test_a_cpu_time_limit_is_a_timeout_for_every_consumer():
    result = RunResult(exit_code=None, signal="SIGKILL", cpu_time_exceeded=True)
    assert ending(result) is Ending.TIMEOUT
    assert phase_of(result) is Phase.TIMED_OUT
    assert exit_status(result) == 124
