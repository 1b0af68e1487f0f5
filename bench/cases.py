"""Test cases in one sandbox against one sandbox per case: a judge's 20 cases of a C program.

For each backend, alternate (so that machine noise hits both sides alike):

- batch: one `POST /execute` with `tests` of 20 cases (one sandbox, one compile, 20 runs);
- separate: 20 `POST /execute` calls one after the other, each compiling and running once;

and print the medians of the whole batch and of the 20 calls together, and their ratio. Every
answer is checked (20 accepted cases, or 20 right outputs).

    python bench/cases.py [--backends docker,local] [--runs 5] [--cases 20]
"""

from __future__ import annotations

import argparse
import statistics
import time

import httpx
from latency import isobox_server

PROGRAM = r"""
#include <stdio.h>
int main(void) {
    long n;
    if (scanf("%ld", &n) != 1) return 2;
    printf("%ld\n", n * n + 1);
    return 0;
}
"""


class Flaked(Exception):
    """A 5xx from the backend (not the program's doing): the sample is discarded and redone."""


def checked(response: httpx.Response) -> dict:
    if response.status_code >= 500:
        raise Flaked(response.text[:200])
    assert response.status_code == 200, response.text
    return response.json()


def batch(client: httpx.Client, cases: int) -> float:
    tests = [{"stdin": f"{i}\n", "expected_output": f"{i * i + 1}\n"} for i in range(cases)]
    started = time.perf_counter()
    response = client.post("/execute", json={"language": "c", "code": PROGRAM, "tests": tests})
    elapsed = (time.perf_counter() - started) * 1000
    body = checked(response)
    assert (body["verdict"], body["passed"]) == ("accepted", cases), body
    return elapsed


def separate(client: httpx.Client, cases: int) -> float:
    started = time.perf_counter()
    for i in range(cases):
        response = client.post(
            "/execute", json={"language": "c", "code": PROGRAM, "stdin": f"{i}\n"}
        )
        assert checked(response)["stdout"] == f"{i * i + 1}\n", response.text
    return (time.perf_counter() - started) * 1000


def measure(backend: str, runs: int, cases: int) -> tuple[float, float, int]:
    """Medians of the batch and of the separate calls, and how many samples were redone."""
    flaked = 0
    with (
        isobox_server(backend, namespace="", ISOBOX_MAX_TIMEOUT_S="60") as url,
        httpx.Client(base_url=url, timeout=600) as client,
    ):
        batch(client, cases)  # warm-up: caches, images, the first compile
        batched: list[float] = []
        one_by_one: list[float] = []
        while len(one_by_one) < runs:
            if flaked > runs:
                raise SystemExit(f"{backend}: too many 5xx answers")
            try:
                sample = batch(client, cases), separate(client, cases)
            except Flaked as error:
                flaked += 1
                print(f"{backend}: sample redone after a 5xx: {error}", flush=True)
                continue
            batched.append(sample[0])
            one_by_one.append(sample[1])
    return statistics.median(batched), statistics.median(one_by_one), flaked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="docker,local")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cases", type=int, default=20)
    options = parser.parse_args()
    n = options.cases
    print(f"| backend | batch of {n} (ms) | {n} calls (ms) | ratio | samples redone |")
    print("|---|---|---|---|---|")
    for backend in options.backends.split(","):
        batched, one_by_one, flaked = measure(backend, options.runs, n)
        ratio = batched / one_by_one
        row = f"| {backend} | {batched:.0f} | {one_by_one:.0f} | **{ratio:.2f}** | {flaked} |"
        print(row, flush=True)


if __name__ == "__main__":
    main()
