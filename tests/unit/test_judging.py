"""Test cases and output files: comparison, verdicts, counts, the decoder's framing, the policy's
checks, the CodeRun record (all pure; the real sandboxes are in tests/backends)."""

from __future__ import annotations

import base64
import json

import pytest

from isobox.errors import PolicyError
from isobox.judging import judge, normalized, outputs_match
from isobox.kubernetes import coderun
from isobox.kubernetes.reconcile import STATUS_BUDGET_BYTES, bounded_status, judged
from isobox.languages import LanguageRegistry
from isobox.launcher import FrameDecoder, SandboxEnd, bundle_document, sandbox_result
from isobox.models import CaseResult, ExecutionRequest, RunResult, StageResult, Verdict
from isobox.outcome import Ending, RunStatus, ending, status_of, verdict
from isobox.policy import build_run_spec
from isobox.settings import Settings

REGISTRY = LanguageRegistry.load()


def spec_for(**fields):
    request = ExecutionRequest(**{"language": "c", "code": "int main(){}", **fields})
    return build_run_spec(request, REGISTRY, Settings())


def refusal(**fields) -> PolicyError:
    with pytest.raises(PolicyError) as caught:
        spec_for(**fields)
    return caught.value


# -- comparison ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("compare", "expected", "actual", "match"),
    [
        ("exact", "1\n2\n", "1\n2\n", True),
        ("exact", "1\n2\n", "1\n2", False),
        ("trailing_whitespace", "1\n2\n", "1  \n2\t\r\n\n\n", True),
        ("trailing_whitespace", "1\n2", "1\n2\n", True),
        ("trailing_whitespace", "1 2", "1  2", False),
        ("trailing_whitespace", "a\n\nb", "a\nb", False),
        ("trailing_whitespace", " a", "a", False),
        ("tokens", "1 2\n3", "  1\t2 \r\n3\n\n", True),
        ("tokens", "1 2", "12", False),
        ("tokens", "a\u00a0b", "a b", False),
        ("tokens", "", "\n \n", True),
    ],
)
def test_compare_modes(compare, expected, actual, match):
    assert outputs_match(expected, actual, compare) is match


def test_an_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="compare"):
        normalized("x", "fuzzy")


# -- verdicts and counts -------------------------------------------------------------------


def case(index: int, **fields) -> CaseResult:
    return CaseResult(index=index, **{"exit_code": 0, "stdout": "ok\n", **fields})


def cases_result(*tests: CaseResult, **fields) -> RunResult:
    first = tests[0].model_dump(exclude={"index", "verdict"}) if tests else {}
    return RunResult(**{**first, **fields}, tests=list(tests))


def test_each_case_gets_its_verdict_and_the_first_failing_one_is_the_runs():
    result = cases_result(
        case(0),
        case(1, stdout="no\n"),
        case(2, timed_out=True, exit_code=None, signal="SIGKILL"),
        case(3, oom_killed=True),
        case(4, exit_code=1),
        case(5, stdout_truncated=True),
    )
    judged_result = judge(
        result, ["ok", "ok", "ok", "ok", "ok", "ok"], "trailing_whitespace", False
    )
    assert [c.verdict for c in judged_result.tests or []] == [
        Verdict.ACCEPTED,
        Verdict.WRONG_ANSWER,
        Verdict.TIME_LIMIT_EXCEEDED,
        Verdict.MEMORY_LIMIT_EXCEEDED,
        Verdict.RUNTIME_ERROR,
        Verdict.OUTPUT_LIMIT_EXCEEDED,
    ]
    assert (judged_result.passed, judged_result.total) == (1, 6)
    assert verdict(judged_result) is Verdict.WRONG_ANSWER
    assert ending(judged_result) is Ending.ERROR
    assert status_of(judged_result) is RunStatus.FAILED


def test_all_accepted_is_accepted_and_succeeded():
    result = judge(cases_result(case(0), case(1)), ["ok\n", None], "exact", False)
    assert verdict(result) is Verdict.ACCEPTED
    assert status_of(result) is RunStatus.SUCCEEDED
    assert (result.passed, result.total) == (2, 2)


def test_a_timed_out_case_makes_the_run_a_timeout():
    timed_out = case(1, timed_out=True, exit_code=None, signal="SIGKILL")
    result = judge(cases_result(case(0), timed_out, case(2)), [None] * 3, "exact", False)
    assert ending(result) is Ending.TIMEOUT
    assert verdict(result) is Verdict.TIME_LIMIT_EXCEEDED
    assert result.passed == 2


def test_stop_on_failure_drops_the_cases_after_a_wrong_answer():
    result = cases_result(case(0, stdout="bad"), case(1), case(2))
    stopped = judge(result, ["ok"] * 3, "exact", True)
    assert [c.index for c in stopped.tests or []] == [0]
    assert (stopped.passed, stopped.total) == (0, 3)


def test_a_failed_compile_has_no_cases_and_counts_them_all():
    result = RunResult(compile=StageResult(exit_code=1), tests=None)
    judged_result = judge(result, ["x", "y"], "exact", False)
    assert (judged_result.tests, judged_result.passed, judged_result.total) == ([], 0, 2)
    assert verdict(judged_result) is Verdict.COMPILATION_ERROR


def test_cases_out_of_range_or_repeated_are_ignored():
    result = judge(cases_result(case(0), case(0, stdout="x"), case(7)), ["ok"], "exact", False)
    assert [(c.index, c.verdict) for c in result.tests or []] == [(0, Verdict.WRONG_ANSWER)]


def test_a_judged_case_keeps_its_verdict():
    kept = judge(
        cases_result(case(0, verdict=Verdict.ACCEPTED, stdout="cut")), ["ok"], "exact", False
    )
    assert (kept.tests or [])[0].verdict is Verdict.ACCEPTED


# -- the launcher's frames -----------------------------------------------------------------


def feed(*lines: bytes, limit: int = 1024) -> FrameDecoder:
    decoder = FrameDecoder(limit)
    decoder.feed(b"".join(line + b"\n" for line in lines))
    return decoder


def b64(data: bytes) -> bytes:
    return base64.b64encode(data)


def r(**fields) -> bytes:
    return b"r " + json.dumps({"stage": "run", "exit_code": 0, "signal": None, **fields}).encode()


def test_case_frames_decode_per_case_and_the_run_fields_are_the_first_cases():
    decoder = feed(
        b"co " + b64(b"warn"),
        b"r " + json.dumps({"stage": "compile", "exit_code": 0}).encode(),
        b"0o " + b64(b"zero"),
        r(case=0, duration_ms=5),
        b"1o " + b64(b"one"),
        b"1e " + b64(b"err"),
        r(case=1, exit_code=2),
        b'd {"cases":2,"ran":2,"stopped":false}',
    )
    result = sandbox_result(decoder, SandboxEnd(exit_code=2))
    assert [(c.index, c.stdout, c.stderr, c.exit_code) for c in result.tests or []] == [
        (0, "zero", "", 0),
        (1, "one", "err", 2),
    ]
    assert (result.stdout, result.duration_ms, result.compile.stdout) == ("zero", 5, "warn")  # type: ignore[union-attr]


def test_a_launcher_that_stops_midway_through_the_cases_is_a_sandbox_failure():
    from isobox.errors import SandboxError

    with pytest.raises(SandboxError, match="midway"):
        sandbox_result(feed(b"0o " + b64(b"x"), r(case=0)), SandboxEnd(exit_code=0))


def test_a_deadline_mid_case_adds_that_case_timed_out():
    decoder = feed(r(case=0), b"1o " + b64(b"partial"))
    result = sandbox_result(decoder, SandboxEnd(deadline_hit=True))
    last = (result.tests or [])[-1]
    assert (last.index, last.timed_out, last.signal) == (1, True, "SIGKILL")


def test_file_frames_decode_byte_exact_and_skipped_ones_are_listed():
    png = b"\x89PNG\r\n\x1a\n\x00\xff"
    decoder = feed(
        r(),
        b'f {"name":"out/a.png","size":10,"truncated":false,"sent":10}',
        b"fd " + b64(png[:4]),
        b"fd " + b64(png[4:]),
        b'f {"name":"big","size":100,"truncated":false,"sent":50}',
        b"fd " + b64(b"x" * 20),
        b'f {"name":"out.csv","size":0,"truncated":false,"skipped":"a symlink"}',
    )
    result = sandbox_result(decoder, SandboxEnd(exit_code=0))
    assert [(f.name, base64.b64decode(f.content_b64), f.truncated) for f in result.files] == [
        ("out/a.png", png, False),
        ("big", b"x" * 20, True),  # a log cut short: fewer bytes than sent
    ]
    assert [(s.name, s.reason) for s in result.files_skipped] == [("out.csv", "a symlink")]


def test_the_bundle_carries_cases_and_outputs_only_when_asked():
    plain = bundle_document(spec_for())
    assert not {"cases", "outputs", "clean_dirs"} & set(plain)
    document = bundle_document(
        spec_for(
            args=["-v"], tests=[{"stdin": "1"}, {"stdin": "2", "args": ["x"]}], stop_on_failure=True
        )
    )
    assert document["cases"] == [
        {"stdin_b64": base64.b64encode(b"1").decode(), "args": []},
        {"stdin_b64": base64.b64encode(b"2").decode(), "args": ["x"]},
    ]
    assert document["command"] == ["./main", "-v"]
    assert (document["stop_on_failure"], document["clean_dirs"]) == (True, ["/tmp"])
    files = bundle_document(spec_for(outputs=["out/*.png"]))["outputs"]
    assert files == {"globs": ["out/*.png"], "max_files": 16, "max_bytes": 4 * 1024 * 1024}


def test_backstop_deadlines_allow_for_every_case():
    one = spec_for()
    many = spec_for(tests=[{"stdin": str(i)} for i in range(10)], timeout=2)
    assert one.total_run_seconds == one.limits.compile_timeout_s + one.limits.timeout_s
    assert many.total_run_seconds == many.limits.compile_timeout_s + 10 * (2 + 2.5)


# -- the policy -----------------------------------------------------------------------------


def test_binary_input_files_come_as_base64():
    spec = spec_for(
        files=[{"name": "data.bin", "content_b64": base64.b64encode(b"\x00\xff").decode()}]
    )
    assert spec.files[1].content == b"\x00\xff"


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ({"name": "a"}, "files[0].content"),
        ({"name": "a", "content": "x", "content_b64": "eA=="}, "files[0].content_b64"),
        ({"name": "a", "content_b64": "@@"}, "files[0].content_b64"),
    ],
)
def test_a_file_needs_exactly_one_valid_content(entry, field):
    assert refusal(files=[entry]).field == field


def test_base64_files_count_decoded_bytes_against_the_cap():
    settings = Settings(max_files_bytes=1024)
    encoded = base64.b64encode(b"x" * 1025).decode()
    request = ExecutionRequest(
        language="c", code="x", files=[{"name": "a", "content_b64": encoded}]
    )
    with pytest.raises(PolicyError) as caught:
        build_run_spec(request, REGISTRY, settings)
    assert caught.value.field == "files[0].content_b64"


@pytest.mark.parametrize("glob", ["../*", "/etc/passwd", "a/../../b", "out/**/x", "a[", ""])
def test_output_globs_that_escape_or_are_malformed_are_refused(glob):
    assert refusal(outputs=[glob]).field == "outputs[0]"


def test_outputs_and_tests_do_not_mix():
    assert refusal(outputs=["x"], tests=[{"stdin": ""}]).field == "outputs"


def test_test_case_bounds():
    assert refusal(tests=[]).field == "tests"
    assert refusal(tests=[{}] * 65).field == "tests"
    assert refusal(tests=[{}], stdin="x").field == "stdin"
    assert refusal(tests=[{"stdin": "x" * (256 * 1024 + 1)}]).field == "tests[0].stdin"
    assert refusal(tests=[{"stdin": "x" * 200_000}, {"stdin": "x" * 200_000}]).field == "tests"
    assert refusal(tests=[{"args": ["\x00"]}]).field == "tests[0].args[0]"


# -- CodeRun ----------------------------------------------------------------------------------


def test_a_coderun_spec_round_trips_tests_outputs_and_binary_files():
    spec = spec_for(
        tests=[{"stdin": "1", "args": ["a"], "expected_output": "2"}],
        compare="tokens",
        stop_on_failure=True,
        files=[{"name": "b.bin", "content_b64": base64.b64encode(b"\xff").decode()}],
    )
    fields = coderun.spec_from_run(spec)
    assert fields["files"] == [{"name": "b.bin", "contentB64": "/w=="}]
    again = build_run_spec(coderun.request_from_spec(fields), REGISTRY, Settings())
    assert (again.tests, again.compare, again.stop_on_failure) == (
        spec.tests,
        spec.compare,
        spec.stop_on_failure,
    )
    assert again.files == spec.files


def test_the_operator_judges_and_the_record_keeps_every_verdict_within_its_budget():
    big = "x" * 100_000
    tests = [case(i, stdout=big if i % 2 else "ok\n") for i in range(64)]
    result = cases_result(*tests)
    record = {"spec": {"tests": [{"expectedOutput": "ok"}] * 64, "compare": "exact"}}
    status = bounded_status(judged(record, result), "2024-01-01T00:00:00Z")
    assert len(json.dumps(status)) < STATUS_BUDGET_BYTES + 64 * 1024
    assert [entry["verdict"] for entry in status["tests"]][:2] == ["wrong_answer", "wrong_answer"]
    assert (status["passed"], status["total"], status["verdict"]) == (0, 64, "wrong_answer")
    assert status["recordTruncated"] is True
    back = coderun.result_from_status(status)
    assert (back.passed, back.total, verdict(back)) == (0, 64, Verdict.WRONG_ANSWER)
    assert (back.tests or [])[1].stdout_truncated is True
