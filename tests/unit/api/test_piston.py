"""Piston v2 JSON to isobox and back: units, encodings, version selectors, Piston's messages."""

import base64

import pytest

from isobox.api.piston import (
    PistonBadRequest,
    execute_response,
    find_runtime,
    parse_execute,
    policy_message,
    runtimes,
    version_matches,
)
from isobox.errors import PolicyError
from isobox.languages import LanguageRegistry
from isobox.models import RunResult, StageResult

LANGUAGES = list(
    LanguageRegistry.parse(
        """
languages:
  - {name: python, version: "3.11", aliases: [py], file: main.py, image: i, run: [python3, "{file}"]}
  - {name: c, version: "12.2", aliases: [gcc], file: main.c, image: i, run: [./main],
     compile: [gcc, "{file}"]}
"""
    )
)
PYTHON, C = LANGUAGES
MIB = 1024 * 1024


def parse(**fields):
    body = {"language": "python", "version": "*", "files": [{"content": "print(1)"}], **fields}
    return parse_execute(body, LANGUAGES)


def refusal(body) -> str:
    with pytest.raises(PistonBadRequest) as caught:
        parse_execute(body, LANGUAGES)
    return str(caught.value)


@pytest.mark.parametrize(
    ("selector", "version", "matches"),
    [
        ("*", "3.11", True),
        ("3.11", "3.11", True),
        ("3", "3.11", True),
        ("3.x", "3.11", True),
        ("3.11.x", "3.11", True),
        (" 3.11 ", "3.11", True),
        ("3.1", "3.11", False),
        ("3.11.0", "3.11", False),
        ("4", "3.11", False),
        ("^3.11", "3.11", False),
        ("*", "", True),
    ],
)
def test_version_selectors(selector, version, matches):
    assert version_matches(selector, version) is matches


def test_runtimes_are_found_by_name_or_alias_and_version():
    assert find_runtime(LANGUAGES, "py", "3") is PYTHON
    assert find_runtime(LANGUAGES, "GCC", "*") is C
    assert find_runtime(LANGUAGES, "python", "2") is None
    assert find_runtime(LANGUAGES, "cobol", "*") is None


def test_runtimes_leave_out_the_runtime_field():
    listed = [entry.model_dump(exclude_unset=True) for entry in runtimes(LANGUAGES)]
    assert listed[0] == {"language": "python", "version": "3.11", "aliases": ["py"]}


def test_a_full_request_translates_units_and_files():
    job = parse(
        language="py",
        version="3.11",
        files=[
            {"name": "solution.py", "content": "import helper"},
            {"name": "helper.py", "content": "X = 1"},
            {"content": "data"},
        ],
        stdin="in",
        args=["a", "b"],
        run_timeout=2500,
        compile_timeout=10000,
        run_memory_limit=100_000_000,
        compile_memory_limit=MIB * 64,
        run_cpu_time=1000,
    )
    request = job.request
    assert request.language == "python"
    assert request.code == "import helper"
    assert request.cpu_time == 1.0  # run_cpu_time is ms of CPU, honoured as isobox's cpu_time
    assert [(f.name, f.content) for f in request.files] == [
        ("helper.py", "X = 1"),
        ("file2.code", "data"),  # Piston's name for an unnamed file
    ]
    assert request.args == ["a", "b"]
    assert (request.timeout, request.compile_timeout) == (2.5, 10.0)
    assert (request.memory, request.compile_memory) == (96, 64)  # bytes rounded up to MiB


@pytest.mark.parametrize("unset", [None, 0, -1, -5])
def test_memory_unset_zero_or_negative_means_the_server_default(unset):
    job = parse(run_memory_limit=unset, compile_memory_limit=unset)
    assert (job.request.memory, job.request.compile_memory) == (None, None)


def test_missing_timeouts_are_the_server_defaults():
    assert (parse().request.timeout, parse(run_timeout=0).request.timeout) == (None, None)


@pytest.mark.parametrize(("stdin", "fed"), [(None, "\n"), ("", "\n"), ("a", "a\n"), ("a\n", "a\n")])
def test_stdin_gets_a_trailing_newline_as_in_piston(stdin, fed):
    assert parse(stdin=stdin).request.stdin == fed


def test_base64_and_hex_files_are_decoded():
    text = "naïve ✓"
    encoded = base64.b64encode(text.encode()).decode()
    job = parse(
        files=[
            {"name": "a.txt", "content": encoded, "encoding": "base64"},
            {"name": "main.py", "content": "print(1)"},
            {"name": "b.txt", "content": text.encode().hex(), "encoding": "hex"},
            {"name": "c.txt", "content": encoded.rstrip("="), "encoding": "base64"},
            {"name": "d.txt", "content": "plain", "encoding": "rot13"},  # Piston: utf8
        ]
    )
    assert job.request.code == "print(1)"  # the first utf8 file is the main file
    assert [f.content for f in job.request.files] == [text, text, text, "plain"]
    assert (job.main_index, job.extra_indices) == (1, (0, 2, 3, 4))


def test_binary_content_is_refused_naming_the_file():
    binary = base64.b64encode(b"\x89PNG\xff\x00").decode()
    message = refusal(
        {
            "language": "python",
            "version": "*",
            "files": [
                {"content": "x"},
                {"name": "logo.png", "content": binary, "encoding": "base64"},
            ],
        }
    )
    assert message.startswith("files[1].content: 'logo.png' is binary")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (None, "language is required as a string"),
        ({"language": 3}, "language is required as a string"),
        ({"language": "python"}, "version is required as a string"),
        ({"language": "python", "version": ""}, "version is required as a string"),
        ({"language": "python", "version": "*"}, "files is required as an array"),
        (
            {"language": "python", "version": "*", "files": ["print(1)"]},
            "files[0].content is required as a string",
        ),
        ({"language": "python", "version": "9.9", "files": []}, "python-9.9 runtime is unknown"),
        ({"language": "cobol", "version": "*", "files": []}, "cobol-* runtime is unknown"),
        (
            {
                "language": "python",
                "version": "*",
                "files": [{"content": "eA==", "encoding": "base64"}],
            },
            "files must include at least one utf8 encoded file",
        ),
        (
            {
                "language": "python",
                "version": "*",
                "files": [{"content": "x"}],
                "run_timeout": "1s",
            },
            "If specified, run_timeout must be a number",
        ),
        (
            {
                "language": "python",
                "version": "*",
                "files": [{"content": "x"}],
                "run_cpu_time": True,
            },
            "If specified, run_cpu_time must be a number",
        ),
        (
            {
                "language": "python",
                "version": "*",
                "files": [{"content": "x"}],
                "compile_timeout": -1,
            },
            "compile_timeout must be non-negative",
        ),
        (
            {
                "language": "python",
                "version": "*",
                "files": [{"content": "x"}],
                "run_timeout": 1e300,
            },
            "run_timeout is out of range",
        ),
        (
            {"language": "python", "version": "*", "files": [{"content": "x"}], "stdin": 5},
            "stdin must be a string",
        ),
        (
            {"language": "python", "version": "*", "files": [{"content": "x"}], "args": [1]},
            "args must be an array of strings",
        ),
        (
            {
                "language": "python",
                "version": "*",
                "files": [{"content": "x"}, {"content": "!", "encoding": "hex"}],
            },
            "files[1].content is not valid hex",
        ),
    ],
)
def test_bad_requests_get_pistons_messages(body, message):
    assert refusal(body) == message


def test_policy_refusals_name_pistons_fields():
    job = parse(files=[{"content": "eA==", "encoding": "base64", "name": "x"}, {"content": "main"}])
    cases = {
        "code": "files[1].content",
        "files[0].name": "files[0].name",
        "timeout": "run_timeout",
        "memory": "run_memory_limit",
        "compile_timeout": "compile_timeout",
        "compile_memory": "compile_memory_limit",
        "args[2]": "args[2]",
    }
    for field, piston_field in cases.items():
        assert policy_message(PolicyError(field, "is wrong"), job) == f"{piston_field}: is wrong"


def dump(language, result: RunResult) -> dict:
    return execute_response(language, result).model_dump(exclude_unset=True)


def test_a_clean_run_has_no_status_and_no_compile_key():
    body = dump(PYTHON, RunResult(stdout="out", stderr="err", exit_code=0, duration_ms=12))
    assert body == {
        "language": "python",
        "version": "3.11",
        "run": {
            "stdout": "out",
            "stderr": "err",
            "output": "outerr",
            "code": 0,
            "signal": None,
            "message": None,
            "status": None,
            "memory": 0,
            "cpu_time": 0,
            "wall_time": 12,
        },
    }


@pytest.mark.parametrize(
    ("result", "code", "signal", "status", "message"),
    [
        (StageResult(exit_code=3), 3, None, "RE", "Exited with error status 3"),
        (StageResult(signal="SIGSEGV"), None, "SIGSEGV", "SG", "Caught fatal signal 11"),
        (
            StageResult(signal="SIGKILL", oom_killed=True),
            None,
            "SIGKILL",
            "SG",
            "Caught fatal signal 9 (out of memory)",
        ),
        (
            StageResult(timed_out=True, signal="SIGKILL"),
            None,
            "SIGKILL",
            "TO",
            "Time limit exceeded (wall clock)",
        ),
        (StageResult(timed_out=True, exit_code=0), None, "SIGKILL", "TO", None),
        (StageResult(exit_code=0, stdout_truncated=True), 0, None, "OL", "stdout length exceeded"),
        (StageResult(exit_code=1, stderr_truncated=True), 1, None, "EL", "stderr length exceeded"),
    ],
)
def test_stage_status_follows_isolate_and_piston(result, code, signal, status, message):
    run = dump(PYTHON, RunResult(**result.model_dump()))["run"]
    assert (run["code"], run["signal"], run["status"]) == (code, signal, status)
    if message:
        assert run["message"] == message


def test_a_compiled_run_reports_both_stages():
    body = dump(C, RunResult(stdout="hi", exit_code=0, compile=StageResult(exit_code=0)))
    assert body["compile"]["code"] == 0
    assert body["run"]["stdout"] == "hi"


def test_a_failed_compile_is_also_the_run_stage():
    failed = StageResult(stderr="main.c:1: error", exit_code=1)
    body = dump(C, RunResult(compile=failed))
    assert body["compile"] == body["run"]
    assert body["run"]["stderr"] == "main.c:1: error"
    assert body["run"]["status"] == "RE"
