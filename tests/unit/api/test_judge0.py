"""The Judge0 translation (isobox/api/judge0.py) without a server: Judge0's validations and
messages, its units, its status rules and its rendering."""

from __future__ import annotations

import base64
import uuid

import pytest

from isobox.api import judge0
from isobox.languages import LanguageRegistry
from isobox.models import RunResult, StageResult
from isobox.outcome import RunStatus
from isobox.runstate import RunState
from isobox.settings import Settings

LANGUAGES = list(LanguageRegistry.load(None))
LIMITS = judge0.Limits.from_settings(Settings())
HELLO = {"source_code": "print(1)", "language_id": 92}


def parse(**fields):
    return judge0.parse_submission({**HELLO, **fields}, LANGUAGES, LIMITS, base64_encoded=False)


def refusal(**fields) -> dict[str, list[str]]:
    with pytest.raises(judge0.Judge0Invalid) as raised:
        parse(**fields)
    return raised.value.errors


def test_the_nine_languages_have_judge0_ce_ids_and_say_what_runs():
    listed = judge0.language_list(LANGUAGES)
    assert {entry["id"] for entry in listed} == {92, 93, 46, 72, 103, 105, 95, 91, 108}
    assert {"id": 92, "name": "Python (3.11)"} in listed
    assert listed == sorted(listed, key=lambda entry: entry["name"])
    c = judge0.language_detail(103, judge0.offered(LANGUAGES)[103])
    assert c["source_file"] == "main.c"
    assert c["compile_cmd"].startswith("gcc ")
    assert c["is_archived"] is False


def test_statuses_are_judge0s_fourteen():
    table = {entry["id"]: entry["description"] for entry in judge0.statuses()}
    assert len(table) == 14
    assert table[3] == "Accepted"
    assert table[7] == "Runtime Error (SIGSEGV)"
    assert table[11] == "Runtime Error (NZEC)"
    assert table[14] == "Exec Format Error"


def test_units_are_converted_seconds_and_kb():
    job = parse(cpu_time_limit=2, wall_time_limit="3.5", memory_limit=100_000)
    assert job.request.cpu_time == 2
    assert job.request.timeout == 3.5
    assert job.request.memory == 98  # 100000 KB rounded up to whole MiB
    defaults = parse().request
    assert (defaults.cpu_time, defaults.timeout, defaults.memory) == (5.0, 10.0, 256)
    assert parse(cpu_time_limit=0).request.cpu_time is None  # isolate's "no limit"
    assert parse(cpu_time_limit=1, cpu_extra_time=0.5).request.cpu_time == 1.5


def test_command_line_arguments_split_as_bash_after_judge0_strips_specials():
    job = parse(command_line_arguments='a "b c" d;e $HOME')
    assert job.request.args == ["a", "b c", "de", "HOME"]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"language_id": None}, {"language_id": ["can't be blank"]}),
        ({"language_id": 71}, {"language_id": ["language with id 71 doesn't exist"]}),
        ({"source_code": "  "}, {"source_code": ["can't be blank"]}),
        ({"cpu_time_limit": "soon"}, {"cpu_time_limit": ["is not a number"]}),
        ({"cpu_time_limit": -1}, {"cpu_time_limit": ["must be greater than or equal to 0"]}),
        ({"wall_time_limit": 61}, {"wall_time_limit": ["must be less than or equal to 60.0"]}),
        ({"memory_limit": 2048}, {"memory_limit": ["must be greater than or equal to 16384"]}),
        ({"number_of_runs": 3}, {"number_of_runs": ["must be less than or equal to 1"]}),
        ({"enable_network": True}, {"enable_network": ["enabling network is not allowed"]}),
        (
            {"additional_files": "UEsDBA=="},
            {"additional_files": ["setting additional files is not allowed"]},
        ),
        (
            {"compiler_options": "-O3"},
            {"compiler_options": ["setting compiler options is not allowed"]},
        ),
        (
            {"enable_per_process_and_thread_time_limit": True},
            {"enable_per_process_and_thread_time_limit": ["this option cannot be enabled"]},
        ),
        (
            {"command_line_arguments": "x" * 513},
            {"command_line_arguments": ["is too long (maximum is 512 characters)"]},
        ),
    ],
)
def test_refusals_are_judge0s_errors_hash(fields, expected):
    assert refusal(**fields) == expected


def test_what_isobox_cannot_honour_is_refused_not_ignored():
    errors = refusal(stack_limit=64000, max_file_size=1024, redirect_stderr_to_stdout=True)
    assert set(errors) == {"stack_limit", "max_file_size", "redirect_stderr_to_stdout"}
    # ... while what Judge0 itself ignores (unknown fields) or accepts as off is fine.
    assert parse(enable_network=False, redirect_stderr_to_stdout="false", whatever=1)


def test_base64_fields_are_decoded_and_must_be_base64_text():
    encoded = base64.b64encode(b"print(2)").decode()
    job = judge0.parse_submission(
        {"source_code": encoded, "language_id": 92}, LANGUAGES, LIMITS, base64_encoded=True
    )
    assert job.request.code == "print(2)"
    with pytest.raises(judge0.Judge0Invalid) as raised:
        judge0.parse_submission(
            {"source_code": "%%%", "language_id": 92}, LANGUAGES, LIMITS, base64_encoded=True
        )
    assert raised.value.errors == {"source_code": ["is not valid Base64 (base64_encoded=true)"]}


def test_tokens_are_uuid4s_that_carry_the_run_and_refuse_others():
    token = judge0.token_for("0123456789abcdef0123", expects_output=True)
    assert uuid.UUID(token).version == 4
    assert judge0.run_of(token) == ("0123456789abcdef0123", True)
    assert judge0.run_of(judge0.token_for("0123456789abcdef0123", False))[1] is False
    assert judge0.run_of(str(uuid.uuid4())) is None
    assert judge0.run_of("not-a-token") is None


@pytest.mark.parametrize(
    ("expected", "stdout", "accepted"),
    [
        ("abc", "abc\n", True),
        ("a  \nb\n\n\n", "a\nb", True),
        (" abc", "abc", False),  # leading whitespace counts
        ("abc", "abd\n", False),
        ("", "", False),  # Judge0: empty output is nil, and "" is not nil
    ],
)
def test_expected_output_is_compared_by_judge0s_strip(expected, stdout, accepted):
    submission = parse(expected_output=expected).submission
    state = RunState(
        "r", RunStatus.SUCCEEDED, "python", "fake", RunResult(exit_code=0, stdout=stdout)
    )
    status = judge0.outcome(state, submission, expects_output=True).status
    assert status is (judge0.Status.ACCEPTED if accepted else judge0.Status.WRONG_ANSWER)


def ended(result: RunResult) -> RunState:
    return RunState("r", RunStatus.FAILED, "c", "fake", result)


@pytest.mark.parametrize(
    ("result", "status", "message"),
    [
        (RunResult(exit_code=3), judge0.Status.RUNTIME_ERROR_NZEC, "Exited with error status 3"),
        (
            RunResult(exit_code=None, signal="SIGSEGV"),
            judge0.Status.RUNTIME_ERROR_SIGSEGV,
            "Caught fatal signal 11",
        ),
        (RunResult(exit_code=None, signal="SIGFPE"), judge0.Status.RUNTIME_ERROR_SIGFPE, None),
        (RunResult(exit_code=None, signal="SIGABRT"), judge0.Status.RUNTIME_ERROR_SIGABRT, None),
        (RunResult(exit_code=None, signal="SIGTERM"), judge0.Status.RUNTIME_ERROR_OTHER, None),
        (
            RunResult(exit_code=None, signal="SIGKILL", timed_out=True),
            judge0.Status.TIME_LIMIT_EXCEEDED,
            "Time limit exceeded (wall clock)",
        ),
        (
            RunResult(exit_code=None, signal="SIGKILL", cpu_time_exceeded=True),
            judge0.Status.TIME_LIMIT_EXCEEDED,
            "Time limit exceeded",
        ),
        (
            RunResult(exit_code=None, signal="SIGKILL", oom_killed=True),
            judge0.Status.RUNTIME_ERROR_OTHER,
            "Caught fatal signal 9 (out of memory)",
        ),
        (RunResult(exit_code=0, stdout_truncated=True), judge0.Status.RUNTIME_ERROR_SIGXFSZ, None),
    ],
)
def test_endings_map_to_judge0_statuses(result, status, message):
    found = judge0.outcome(ended(result), None, expects_output=False)
    assert found.status is status
    if message is not None:
        assert found.message == message


def test_a_failed_compile_is_a_compilation_error_with_nothing_else():
    result = RunResult(compile=StageResult(stderr="main.c:1: error\n", exit_code=1), exit_code=None)
    found = judge0.outcome(ended(result), None, expects_output=False)
    assert (found.status, found.compile_output) == (
        judge0.Status.COMPILATION_ERROR,
        "main.c:1: error\n",
    )
    assert (found.stdout, found.time_ms, found.exit_code) == (None, None, None)


def test_cpu_time_past_the_limit_within_extra_time_is_still_a_time_limit():
    submission = parse(cpu_time_limit=1, cpu_extra_time=1).submission
    state = RunState(
        "r", RunStatus.SUCCEEDED, "python", "fake", RunResult(exit_code=0, cpu_time_ms=1500)
    )
    assert judge0.outcome(state, submission, False).status is judge0.Status.TIME_LIMIT_EXCEEDED


def test_a_forgotten_expected_output_is_never_called_accepted():
    state = RunState(
        "r", RunStatus.SUCCEEDED, "python", "fake", RunResult(exit_code=0, stdout="x\n")
    )
    assert judge0.outcome(state, None, expects_output=True).status is judge0.Status.INTERNAL_ERROR
    assert judge0.outcome(state, None, expects_output=False).status is judge0.Status.ACCEPTED


def test_rendering_follows_the_serializer_fields_and_ruby_base64():
    assert judge0.requested_fields(None) == judge0.DEFAULT_FIELDS
    assert judge0.requested_fields("*") == judge0.FIELDS
    with pytest.raises(judge0.Judge0BadRequest, match=r"invalid fields: \[nope\]"):
        judge0.requested_fields("stdout,nope")
    state = RunState(
        "r",
        RunStatus.SUCCEEDED,
        "python",
        "fake",
        RunResult(
            exit_code=0, stdout="x" * 50, cpu_time_ms=152, duration_ms=170, memory_peak_kib=9000
        ),
    )
    view = judge0.view("t", state, parse().submission, False, 1.0, LANGUAGES)
    plain = judge0.render(view, ("time", "wall_time", "memory", "stdout", "status"), False)
    assert plain == {
        "time": "0.152",
        "wall_time": "0.17",
        "memory": 9000,
        "stdout": "x" * 50,
        "status": {"id": 3, "description": "Accepted"},
    }
    encoded = judge0.render(view, ("stdout", "cpu_time_limit"), True)
    assert encoded["stdout"] == judge0.ruby_base64("x" * 50)
    assert encoded["stdout"].count("\n") == 2  # 60-character lines, as Ruby's encode64
    assert encoded["cpu_time_limit"] == "5.0"
