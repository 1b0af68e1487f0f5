"""The price of gVisor: runc against runsc on the same backend, as ratios measured in one run.

For each backend, two `isobox serve` processes that differ only in the sandbox runtime (docker:
`ISOBOX_DOCKER_RUNTIME=` against `=runsc`; kubernetes: no `ISOBOX_KUBERNETES_RUNTIME_CLASS`
against `=gvisor`), first both cold (no pool), then both with a warm pool. Each round sends a
hello world in python and in C to each server, the order of the two servers swapped every
round, so machine noise hits both alike; a warm round counts only requests that really got a
warm sandbox (the answer says `warm`). Prints medians and p95 in milliseconds and the ratio
runsc / runc of the medians, as a Markdown table.

Kubernetes runs only while this process holds /tmp/isobox-cluster.lock (flock; the cluster is
shared): it waits for it with --wait-cluster, otherwise skips kubernetes if the lock is taken.

    python bench/gvisor.py [--backends docker,kubernetes] [--runs 9] [--pool 2]
"""

from __future__ import annotations

import argparse
import fcntl
import os
import statistics
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import httpx
from latency import HELLO, isobox_server, p95, prepare_namespace

C_HELLO = '#include <stdio.h>\nint main(void) { puts("Hello from isobox!"); return 0; }\n'
CODE = {"python": HELLO, "c": C_HELLO}
LANGUAGES = tuple(CODE)
CLUSTER_LOCK = "/tmp/isobox-cluster.lock"
# Pause after each warm round so the pools refill (as bench/pool.py).
PAUSE_S = {"docker": 1.5, "kubernetes": 5.0}
# The settings that pick the runtime, per backend: (runc side, runsc side).
RUNTIME_SETTING = {
    "docker": ("ISOBOX_DOCKER_RUNTIME", "", "runsc"),
    "kubernetes": ("ISOBOX_KUBERNETES_RUNTIME_CLASS", "", "gvisor"),
}
RUNTIMES = ("runc", "runsc")


def execute(client: httpx.Client, url: str, language: str) -> tuple[float, bool, str]:
    """One POST /execute: (milliseconds, warm, runtime)."""
    started = time.perf_counter()
    response = client.post(f"{url}/execute", json={"language": language, "code": CODE[language]})
    elapsed = (time.perf_counter() - started) * 1000
    answer = response.json()
    assert answer.get("stdout") == "Hello from isobox!\n", response.text
    return elapsed, bool(answer["warm"]), str(answer["runtime"])


@contextmanager
def servers(backend: str, namespace: str, pool: str) -> Iterator[dict[str, str]]:
    """The runc and the runsc server of `backend`, both cold (`pool` "") or both pooled."""
    setting, runc_value, runsc_value = RUNTIME_SETTING[backend]
    with ExitStack() as stack:
        urls = {
            runtime: stack.enter_context(
                isobox_server(backend, namespace, pool=pool, **{setting: value})
            )
            for runtime, value in zip(RUNTIMES, (runc_value, runsc_value), strict=True)
        }
        for runtime, url in urls.items():
            said = httpx.get(f"{url}/readyz", timeout=10).json().get("runtime")
            assert said == runtime, f"{backend} server for {runtime} says runtime {said!r}"
        yield urls


def measure(backend: str, runs: int, pool: int, namespace: str) -> list[str]:
    rows = []
    for mode in ("cold", "warm"):
        pools = "" if mode == "cold" else ",".join(f"{lang}={pool}" for lang in LANGUAGES)
        samples: dict[tuple[str, str], list[float]] = {
            (lang, rt): [] for lang in LANGUAGES for rt in RUNTIMES
        }
        went_cold, failed = 0, []
        with servers(backend, namespace, pools) as urls, httpx.Client(timeout=180) as client:
            for language in LANGUAGES:  # warm caches (images, compilers) on both sides
                for url in urls.values():
                    execute(client, url, language)
            if mode == "warm":
                time.sleep(PAUSE_S[backend] * 3)
            for round_ in range(runs):
                order = RUNTIMES if round_ % 2 == 0 else RUNTIMES[::-1]
                for language in LANGUAGES:
                    for runtime in order:
                        try:
                            elapsed, warm, said = execute(client, urls[runtime], language)
                        except (AssertionError, httpx.HTTPError) as error:
                            failed.append(f"{runtime} {language}: {error}"[:200])
                            continue
                        assert said == runtime, (runtime, said)
                        if warm == (mode == "warm"):
                            samples[(language, runtime)].append(elapsed)
                        else:
                            went_cold += 1
                if mode == "warm":
                    time.sleep(PAUSE_S[backend])
        for language in LANGUAGES:
            runc, runsc = samples[(language, "runc")], samples[(language, "runsc")]
            if not runc or not runsc:
                rows.append(f"| {backend} | {language} | {mode} | no samples | | | | | |")
                continue
            runc_median, runsc_median = statistics.median(runc), statistics.median(runsc)
            rows.append(
                f"| {backend} | {language} | {mode} | {runc_median:.0f} | {p95(runc):.0f} | "
                f"{runsc_median:.0f} | {p95(runsc):.0f} | **{runsc_median / runc_median:.2f}** | "
                f"{len(runc)}/{len(runsc)} |"
            )
        if went_cold:
            rows.append(f"<!-- {backend} warm: {went_cold} requests found the pool empty -->")
        if failed:
            rows.append(f"<!-- {backend} {mode}: {len(failed)} failed, first: {failed[0]} -->")
    return rows


@contextmanager
def cluster_lock(wait: bool) -> Iterator[bool]:
    """Hold the shared cluster's lock; yields False (not held) if taken and not `wait`."""
    with open(CLUSTER_LOCK, "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def describe_runsc(backend: str) -> str:
    if backend == "docker":
        found = subprocess.run(
            ["docker", "info", "--format", "{{json .Runtimes.runsc}}"],
            capture_output=True,
            text=True,
        )
        return f"docker runtime runsc: {found.stdout.strip()}"
    found = subprocess.run(
        ["kubectl", "get", "runtimeclass", "gvisor", "-o", "jsonpath={.handler}"],
        capture_output=True,
        text=True,
    )
    return f"kubernetes RuntimeClass gvisor, handler {found.stdout.strip() or '?'}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backends", default="docker,kubernetes")
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--pool", type=int, default=2, help="warm sandboxes per language")
    parser.add_argument("--namespace", default="isobox-bench")
    parser.add_argument("--wait-cluster", action="store_true", help="wait for the cluster lock")
    args = parser.parse_args()
    print(
        f"runc vs runsc, hello world in python and C, {args.runs} alternating rounds, "
        f"{time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores ({os.uname().release})"
    )
    print()
    print(
        "| backend | language | mode | runc median | runc p95 | runsc median | runsc p95 | ratio | n |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    notes = []
    for backend in args.backends.split(","):
        if backend == "kubernetes":
            with cluster_lock(args.wait_cluster) as held:
                if not held:
                    notes.append(
                        f"kubernetes skipped: {CLUSTER_LOCK} is held (the cluster is busy)"
                    )
                    continue
                prepare_namespace(args.namespace)
                notes.append(describe_runsc(backend))
                rows = measure(backend, args.runs, args.pool, args.namespace)
        else:
            notes.append(describe_runsc(backend))
            rows = measure(backend, args.runs, args.pool, args.namespace)
        print("\n".join(rows), flush=True)
    print()
    print("\n".join(notes))


if __name__ == "__main__":
    main()
