"""Warm-pool latency per backend: isobox warm and cold beside a bare baseline that has
already paid for its sandbox, all in one run.

Baselines (issue "warm pools"): local, bare `bwrap` of the same interpreter; docker, `docker
exec` in an already running container of the runtime image; kubernetes, `kubectl exec` in an
already running pod of the image. Each round runs the baseline, a warm request (a server with
a pool) and a cold one (a server without), pausing between rounds so the pool refills; only
requests that really got a warm sandbox count as warm (the answer says `warm`).

    python bench/pool.py [--backends local,docker,kubernetes,coderun] [--runs 15] [--pool 2]

For coderun the pool is the operator's: a warm and a cold operator, each in a namespace of its
own, with an API on each.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
from latency import (
    HELLO,
    PYTHON_IMAGE,
    bare_bwrap,
    isobox_server,
    operator,
    p95,
    prepare_namespace,
    timed,
)

PAUSE_S = {"local": 0.3, "docker": 1.0, "kubernetes": 4.0, "coderun": 4.0}


@contextmanager
def running_container() -> Iterator[Callable[[], None]]:
    name = f"isobox-bench-{time.monotonic_ns()}"
    subprocess.run(
        [
            "docker",
            "run",
            "-d",
            "--rm",
            "--name",
            name,
            "--network",
            "none",
            "--user",
            "10001:10001",
            "--entrypoint",
            "sleep",
            PYTHON_IMAGE,
            "3600",
        ],
        check=True,
        capture_output=True,
    )
    try:
        yield lambda: subprocess.run(
            ["docker", "exec", name, "python3", "-c", HELLO], check=True, capture_output=True
        )
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)


@contextmanager
def running_pod(namespace: str) -> Iterator[Callable[[], None]]:
    name = f"bench-exec-{time.monotonic_ns()}"
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 10001,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [
                {
                    "name": "sandbox",
                    "image": PYTHON_IMAGE,
                    "imagePullPolicy": "Never",
                    "command": ["sleep", "3600"],
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"]},
                    },
                }
            ],
        },
    }
    subprocess.run(
        ["kubectl", "apply", "-f", "-"],
        input=json.dumps(pod).encode(),
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            "kubectl",
            "wait",
            "-n",
            namespace,
            "--for=condition=Ready",
            f"pod/{name}",
            "--timeout=120s",
        ],
        check=True,
        capture_output=True,
    )
    try:
        yield lambda: subprocess.run(
            ["kubectl", "exec", "-n", namespace, name, "--", "python3", "-c", HELLO],
            check=True,
            capture_output=True,
        )
    finally:
        subprocess.run(
            ["kubectl", "delete", "pod", "-n", namespace, name, "--wait=false"], capture_output=True
        )


@contextmanager
def baseline(backend: str, namespace: str) -> Iterator[Callable[[], None]]:
    if backend == "local":
        yield bare_bwrap
    elif backend == "docker":
        with running_container() as run:
            yield run
    else:
        with running_pod(namespace) as run:
            yield run


def execute(client: httpx.Client, url: str) -> bool:
    answer = client.post(f"{url}/execute", json={"language": "python", "code": HELLO}).json()
    assert answer["stdout"] == "Hello from isobox!\n", answer
    return bool(answer["warm"])


def summary(name: str, samples: list[float], base: float) -> str:
    if not samples:
        return f"{name} none"
    median = statistics.median(samples)
    return f"{name} median {median:7.1f} p95 {p95(samples):7.1f} ratio {median / base:4.2f} (n={len(samples)})"


@contextmanager
def servers(backend: str, pool: int, namespace: str) -> Iterator[tuple[str, str]]:
    """The URLs of a warm and a cold isobox on `backend`. For coderun the pool is the
    operator's, so each gets a namespace and an operator of its own."""
    pooled = f"python={pool}"
    if backend != "coderun":
        with (
            isobox_server(backend, namespace, pool=pooled) as warm_url,
            isobox_server(backend, namespace) as cold_url,
        ):
            yield warm_url, cold_url
        return
    warm_namespace, cold_namespace = f"{namespace}-pool", f"{namespace}-cold"
    for name in (warm_namespace, cold_namespace):
        prepare_namespace(name)
    with (
        operator(warm_namespace, pooled),
        operator(cold_namespace, ""),
        isobox_server(backend, warm_namespace) as warm_url,
        isobox_server(backend, cold_namespace) as cold_url,
    ):
        yield warm_url, cold_url


def measure(backend: str, runs: int, pool: int, namespace: str) -> None:
    with (
        baseline(backend, namespace) as bare,
        servers(backend, pool, namespace) as (warm_url, cold_url),
        httpx.Client(timeout=120) as client,
    ):
        if backend == "coderun":  # the operator's pool fills after its start
            time.sleep(PAUSE_S[backend] * 5)
        bare(), execute(client, cold_url)
        time.sleep(PAUSE_S[backend] * 2)
        bare_ms, warm_ms, cold_ms, went_cold = [], [], [], 0
        for _ in range(runs):
            bare_ms.append(timed(bare))
            started = time.perf_counter()
            if execute(client, warm_url):
                warm_ms.append((time.perf_counter() - started) * 1000)
            else:
                went_cold += 1
            cold_ms.append(timed(lambda: execute(client, cold_url)))
            time.sleep(PAUSE_S[backend])
    base = statistics.median(bare_ms)
    print(
        f"{backend:<10} pool {pool} | bare median {base:7.1f} p95 {p95(bare_ms):7.1f} | "
        f"{summary('warm', warm_ms, base)} | {summary('cold', cold_ms, base)} | "
        f"warm requests that found the pool empty: {went_cold}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backends", default="local,docker")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--pool", type=int, default=2)
    parser.add_argument("--namespace", default="isobox-bench")
    args = parser.parse_args()
    print(
        f"hello world in python, warm vs cold vs an already-running baseline, "
        f"{args.runs} rounds, {time.strftime('%Y-%m-%d %H:%M')}"
    )
    backends = args.backends.split(",")
    if {"kubernetes", "coderun"} & set(backends):
        prepare_namespace(args.namespace)
    for backend in backends:
        measure(backend, args.runs, args.pool, args.namespace)


if __name__ == "__main__":
    main()
