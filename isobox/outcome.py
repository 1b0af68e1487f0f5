"""One answer to "how did the run end", for every place that asks.

A finished result has one `Ending`; everything else derives from it: the async run status
(`RunStatus`), the CodeRun phase (`Phase`, whose values are also the CRD's enum), the metric
label, and the exit code `isobox run` returns. Before this module five places decided it with
rules that disagreed (an exit 0 after an OOM-killed child was "succeeded" in one store and
"Failed" as a CodeRun).

Precedence, first match wins: a failed compile is `error`; then a timeout; then an OOM kill
anywhere in the sandbox; then exit 0 with no signal is `ok`; anything else is `error`.
Truncated output is not an ending: the program was not stopped, only its output was cut.
"""

from __future__ import annotations

import signal
from enum import StrEnum

from isobox.models import CaseResult, RunResult, StageResult
from isobox.models import Verdict as Verdict

# A shell (and bwrap, and the launcher) reports death by signal N as exit status 128 + N.
SIGNAL_EXIT_BASE = 128
TIMED_OUT_EXIT = 124
OUT_OF_MEMORY_EXIT = SIGNAL_EXIT_BASE + signal.SIGKILL
NO_STATUS_EXIT = 2


class Ending(StrEnum):
    """How a finished program came to its end (also the `outcome` label of the metrics)."""

    OK = "ok"
    ERROR = "error"
    TIMEOUT = "timeout"
    OOM = "oom"


class Phase(StrEnum):
    """A CodeRun's `status.phase`: a small state machine, ending in one of FINAL_PHASES."""

    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    TIMED_OUT = "TimedOut"
    CANCELLED = "Cancelled"
    ERROR = "Error"


FINAL_PHASES = frozenset(
    {Phase.SUCCEEDED, Phase.FAILED, Phase.TIMED_OUT, Phase.CANCELLED, Phase.ERROR}
)


class RunStatus(StrEnum):
    """An asynchronous run's `status` (`/runs/{id}`)."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    ERROR = "error"


PHASE_OF_ENDING = {
    Ending.OK: Phase.SUCCEEDED,
    Ending.ERROR: Phase.FAILED,
    Ending.TIMEOUT: Phase.TIMED_OUT,
    Ending.OOM: Phase.FAILED,
}
STATUS_OF_PHASE = {
    Phase.PENDING: RunStatus.RUNNING,
    Phase.RUNNING: RunStatus.RUNNING,
    Phase.SUCCEEDED: RunStatus.SUCCEEDED,
    Phase.FAILED: RunStatus.FAILED,
    Phase.TIMED_OUT: RunStatus.FAILED,
    Phase.CANCELLED: RunStatus.CANCELLED,
    Phase.ERROR: RunStatus.ERROR,
}


def stage_failed(stage: StageResult) -> bool:
    """Whether a stage kept the next one from running (the launcher's own rule)."""
    return stage.exit_code != 0 or stage.signal is not None or stage.timed_out


def stage_ending(stage: StageResult) -> Ending:
    if stage.timed_out or stage.cpu_time_exceeded:
        return Ending.TIMEOUT
    if stage.oom_killed:
        return Ending.OOM
    return Ending.OK if stage.exit_code == 0 and stage.signal is None else Ending.ERROR


ENDING_OF_VERDICT = {
    Verdict.TIME_LIMIT_EXCEEDED: Ending.TIMEOUT,
    Verdict.MEMORY_LIMIT_EXCEEDED: Ending.OOM,
}


def ending(result: RunResult) -> Ending:
    """How `result` ended, by the precedence in this module's docstring; with test cases,
    how the first failing case ended (a wrong answer or cut output too is an error: a run
    with any failing case has failed)."""
    if result.compile is not None and stage_failed(result.compile):
        return Ending.ERROR
    if result.tests is not None:
        failing = first_failing(result.tests)
        if failing is None:
            return Ending.OK
        return ENDING_OF_VERDICT.get(case_verdict(failing), Ending.ERROR)
    return stage_ending(result)


def stage_verdict(stage: StageResult) -> Verdict:
    """A stage's verdict by its own report (no expected output: never wrong_answer)."""
    end = stage_ending(stage)
    if end is not Ending.OK:
        return VERDICT_OF_ENDING[end]
    if stage.stdout_truncated or stage.stderr_truncated:
        return Verdict.OUTPUT_LIMIT_EXCEEDED
    return Verdict.ACCEPTED


def case_verdict(case: CaseResult) -> Verdict:
    """A case's verdict: the judged one, else by its own report."""
    return case.verdict if case.verdict is not None else stage_verdict(case)


def first_failing(cases: list[CaseResult]) -> CaseResult | None:
    return next((case for case in cases if case_verdict(case) is not Verdict.ACCEPTED), None)


VERDICT_OF_ENDING = {
    Ending.TIMEOUT: Verdict.TIME_LIMIT_EXCEEDED,
    Ending.OOM: Verdict.MEMORY_LIMIT_EXCEEDED,
    Ending.ERROR: Verdict.RUNTIME_ERROR,
}


def verdict(result: RunResult) -> Verdict:
    """The ending in a judge's words; output cut at the limit is output_limit_exceeded
    (the program ran on, but a judge cannot check what it printed). With test cases: the
    first failing case's verdict, else accepted."""
    if result.compile is not None and stage_failed(result.compile):
        return Verdict.COMPILATION_ERROR
    if result.tests is not None:
        failing = first_failing(result.tests)
        return Verdict.ACCEPTED if failing is None else case_verdict(failing)
    return stage_verdict(result)


def phase_of(result: RunResult) -> Phase:
    return PHASE_OF_ENDING[ending(result)]


def status_of(result: RunResult) -> RunStatus:
    return STATUS_OF_PHASE[phase_of(result)]


def exit_status(stage: StageResult) -> int:
    """The exit code a shell would give for `stage` (`isobox run`): the program's own, 124
    after a timeout, 137 out of memory, 128+N when killed by signal N, 2 with no status."""
    match stage_ending(stage):
        case Ending.TIMEOUT:
            return TIMED_OUT_EXIT
        case Ending.OOM:
            return OUT_OF_MEMORY_EXIT
    if stage.signal is not None:
        return SIGNAL_EXIT_BASE + signal_number(stage.signal)
    return NO_STATUS_EXIT if stage.exit_code is None else stage.exit_code


def signal_number(name: str) -> int:
    """9 for "SIGKILL", 42 for "SIG42" or "SIGRT42"; 0 for a name that is neither."""
    try:
        return int(signal.Signals[name])
    except KeyError:
        digits = name.removeprefix("SIGRT").removeprefix("SIG")
        return int(digits) if digits.isdigit() else 0


def signal_name(number: int) -> str:
    """`SIGKILL` for 9; `SIG42` for numbers the platform has no name for."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"SIG{number}"
