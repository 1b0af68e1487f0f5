"""Test cases, compiled once and run once each, on every real backend (one sandbox a request)."""

from __future__ import annotations

from tests.helpers.wait import async_wait_until

SQUARE_C = r"""
#include <stdio.h>
int main(void) {
    long n;
    if (scanf("%ld", &n) != 1) return 2;
    printf("%ld\n", n * n);
    return 0;
}
"""


async def execute(client, **fields) -> dict:
    response = await client.post("/execute", json=fields)
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_c_program_compiled_once_against_five_cases_two_wrong(client):
    tests = [
        {"stdin": "2\n", "expected_output": "4\n"},
        {"stdin": "3\n", "expected_output": "9"},  # trailing newline ignored by default
        {"stdin": "4\n", "expected_output": "17\n"},
        {"stdin": "5\n", "expected_output": "25   \n\n"},
        {"stdin": "6\n", "expected_output": "35\n"},
    ]
    result = await execute(client, language="c", code=SQUARE_C, tests=tests)
    assert result["compile"]["exit_code"] == 0, result["compile"]["stderr"]
    verdicts = [case["verdict"] for case in result["tests"]]
    assert verdicts == ["accepted", "accepted", "wrong_answer", "accepted", "wrong_answer"]
    assert [case["stdout"] for case in result["tests"]] == ["4\n", "9\n", "16\n", "25\n", "36\n"]
    assert [case["index"] for case in result["tests"]] == [0, 1, 2, 3, 4]
    assert (result["passed"], result["total"], result["verdict"]) == (3, 5, "wrong_answer")
    # The run fields are the first case's.
    assert (result["stdout"], result["exit_code"]) == ("4\n", 0)
    for case in result["tests"]:
        assert case["exit_code"] == 0
        assert {"cpu_time_ms", "memory_peak_kib", "duration_ms", "oom_killed"} <= set(case)


async def test_a_case_never_sees_what_the_previous_one_wrote(client):
    code = (
        "import os, sys\n"
        "case = sys.stdin.read().strip()\n"
        "print(case, sorted(os.listdir('.')), sorted(os.listdir('/tmp')))\n"
        "if case == 'write':\n"
        "    open('left.txt', 'w').write('x')\n"
        "    open('/tmp/left.txt', 'w').write('x')\n"
        "    os.remove('main.py')\n"
    )
    tests = [{"stdin": "write"}, {"stdin": "look"}]
    result = await execute(client, language="python", code=code, tests=tests)
    outputs = [case["stdout"] for case in result["tests"]]
    assert outputs == ["write ['main.py'] []\n", "look ['main.py'] []\n"], result
    assert result["verdict"] == "accepted"


async def test_one_case_times_out_while_the_others_pass(client):
    code = "import time\nn = int(input())\ntime.sleep(n)\nprint('slept', n)\n"
    tests = [{"stdin": "0", "expected_output": "slept 0"}, {"stdin": "30"}, {"stdin": "0"}]
    result = await execute(client, language="python", code=code, tests=tests, timeout=1.5)
    verdicts = [case["verdict"] for case in result["tests"]]
    assert verdicts == ["accepted", "time_limit_exceeded", "accepted"]
    timed_out = result["tests"][1]
    assert (timed_out["timed_out"], timed_out["signal"]) == (True, "SIGKILL")
    assert 1500 <= timed_out["duration_ms"] < 6000
    assert (result["passed"], result["verdict"]) == (2, "time_limit_exceeded")


async def test_stop_on_failure_runs_no_case_after_the_first_failure(client):
    code = "x = input()\nprint(x)\nraise SystemExit(1 if x == 'crash' else 0)\n"
    tests = [
        {"stdin": "a", "expected_output": "a"},
        {"stdin": "b", "expected_output": "not b"},
        {"stdin": "crash"},
        {"stdin": "d"},
    ]
    stopped = await execute(client, language="python", code=code, tests=tests, stop_on_failure=True)
    assert [case["verdict"] for case in stopped["tests"]] == ["accepted", "wrong_answer"]
    assert (stopped["passed"], stopped["total"], stopped["verdict"]) == (1, 4, "wrong_answer")
    # The launcher itself stops at a failure it sees (a runtime error).
    crash_first = [tests[2], tests[3]]
    early = await execute(
        client, language="python", code=code, tests=crash_first, stop_on_failure=True
    )
    assert [case["verdict"] for case in early["tests"]] == ["runtime_error"]
    full = await execute(client, language="python", code=code, tests=tests)
    verdicts = [case["verdict"] for case in full["tests"]]
    assert verdicts == ["accepted", "wrong_answer", "runtime_error", "accepted"]


async def test_a_compile_error_runs_no_case(client):
    result = await execute(client, language="c", code="int main(", tests=[{"stdin": ""}] * 3)
    assert (result["verdict"], result["tests"], result["passed"], result["total"]) == (
        "compilation_error",
        [],
        0,
        3,
    )


async def test_runs_report_test_cases_too(client):
    tests = [{"stdin": "2", "expected_output": "4"}, {"stdin": "3", "expected_output": "8"}]
    response = await client.post("/runs", json={"language": "c", "code": SQUARE_C, "tests": tests})
    assert response.status_code in {200, 201, 202}, response.text
    run_id = response.json()["run_id"]

    async def ended() -> dict | None:
        body = (await client.get(f"/runs/{run_id}")).json()
        return body if body["status"] != "running" else None

    body = await async_wait_until(ended, 120, "the run to end", interval_s=0.3)
    assert body["status"] == "failed"
    result = body["result"]
    assert [case["verdict"] for case in result["tests"]] == ["accepted", "wrong_answer"]
    assert (result["passed"], result["total"], result["verdict"]) == (1, 2, "wrong_answer")
