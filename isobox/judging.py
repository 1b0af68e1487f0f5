"""Test-case verdicts: compare each case's stdout with its expected output, count, stop.

Pure functions on finished results. The launcher runs the cases and reports each one as a
stage of its own (`RunResult.tests`, verdict unset); `judge` gives every case its verdict,
drops the cases after the first failing one when the run asked to stop there (the launcher
already stops at a failure it can see itself; a wrong answer only shows here), and counts.
A case's verdict is its own ending first (time, memory, runtime error, cut output), then
wrong_answer when its stdout does not match.
"""

from __future__ import annotations

from collections.abc import Sequence

from isobox.models import CaseResult, RunResult, Verdict
from isobox.outcome import case_verdict, stage_failed, stage_verdict
from isobox.spec import RunSpec

# ASCII whitespace, as Python's bytes.split() and str.split() on ASCII text see it; Unicode
# spaces inside a token are part of it.
_ASCII_WHITESPACE = " \t\n\r\x0b\x0c"
_LINE_END_BLANKS = " \t\r"


def normalized(text: str, compare: str) -> str:
    """`text` as `compare` sees it: exact (as is), trailing_whitespace (no spaces, tabs or
    CRs at line ends, no newlines at the end), tokens (words joined by one space)."""
    if compare == "exact":
        return text
    if compare == "tokens":
        table = str.maketrans(dict.fromkeys(_ASCII_WHITESPACE, " "))
        return " ".join(word for word in text.translate(table).split(" ") if word)
    if compare == "trailing_whitespace":
        lines = [line.rstrip(_LINE_END_BLANKS) for line in text.split("\n")]
        return "\n".join(lines).rstrip("\n")
    raise ValueError(f"unknown compare mode {compare!r}")


def outputs_match(expected: str, actual: str, compare: str) -> bool:
    return normalized(expected, compare) == normalized(actual, compare)


def judged_case(case: CaseResult, expected: str | None, compare: str) -> CaseResult:
    """`case` with its verdict; one already judged (a CodeRun's record) is kept as it is."""
    if case.verdict is not None:
        return case
    verdict = stage_verdict(case)
    matched = expected is None or outputs_match(expected, case.stdout, compare)
    if verdict is Verdict.ACCEPTED and not matched:
        verdict = Verdict.WRONG_ANSWER
    return case.model_copy(update={"verdict": verdict})


def judge(
    result: RunResult, expected: Sequence[str | None], compare: str, stop_on_failure: bool
) -> RunResult:
    """The result of a run of `len(expected)` test cases, judged and counted.

    Cases the launcher never reported (a failed compile, a stop) are left out of `tests`;
    `total` still counts them, `passed` only the accepted ones. The run fields stay those
    of the first case, which the launcher's decoder copied there."""
    total = len(expected)
    cases: list[CaseResult] = []
    compiled = result.compile is None or not stage_failed(result.compile)
    reported = sorted(result.tests or [], key=lambda case: case.index) if compiled else []
    seen: set[int] = set()
    for case in reported:
        if case.index >= total or case.index in seen:
            continue  # not a case of this run: never trusted
        seen.add(case.index)
        judged = judged_case(case, expected[case.index], compare)
        cases.append(judged)
        if stop_on_failure and case_verdict(judged) is not Verdict.ACCEPTED:
            break
    passed = sum(case.verdict is Verdict.ACCEPTED for case in cases)
    return result.model_copy(update={"tests": cases, "passed": passed, "total": total})


def judge_run(spec: RunSpec, result: RunResult) -> RunResult:
    """`judge` for the run `spec` asked for; a run without test cases is left as it is."""
    if not spec.tests:
        return result
    expected = [case.expected_output for case in spec.tests]
    return judge(result, expected, spec.compare, spec.stop_on_failure)
