"""Hello-world latency per backend beside its bare baseline, measured in one run.

For each backend: start `isobox serve` on a free port, then alternate a bare run of the same
image/interpreter (`docker run --rm`, `bwrap`, `kubectl run --rm`) with a `POST /execute`, so
that machine noise hits both sides alike. Prints median and p95 of each and their ratio.

    python bench/latency.py [--backends local,docker,kubernetes,coderun] [--runs 15]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx

HELLO = "print('Hello from isobox!')"
PYTHON_IMAGE = "localhost/isobox/runtime-python:0.1.0"


def bare_bwrap() -> None:
    bwrap = shutil.which("bwrap") or "bwrap"
    subprocess.run(
        [
            bwrap,
            "--unshare-all",
            "--die-with-parent",
            "--as-pid-1",
            "--ro-bind",
            "/usr",
            "/usr",
            "--symlink",
            "usr/lib",
            "/lib",
            "--symlink",
            "usr/lib64",
            "/lib64",
            "--symlink",
            "usr/bin",
            "/bin",
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "--tmpfs",
            "/tmp",
            "--clearenv",
            "/usr/bin/python3",
            "-c",
            HELLO,
        ],
        check=True,
        capture_output=True,
    )


def bare_docker() -> None:
    subprocess.run(
        [
            "docker",
            "run",
            "--rm",
            "--network",
            "none",
            "--user",
            "10001:10001",
            "--entrypoint",
            "python3",
            PYTHON_IMAGE,
            "-c",
            HELLO,
        ],
        check=True,
        capture_output=True,
    )


def bare_kubectl(namespace: str) -> Callable[[], None]:
    """`kubectl run --rm -i` of the same image, shaped to pass Pod Security *restricted*."""

    def run() -> None:
        name = f"bench-{time.monotonic_ns()}"
        container = {
            "name": name,
            "image": PYTHON_IMAGE,
            "imagePullPolicy": "Never",
            "command": ["python3", "-c", HELLO],
            "stdin": True,
            "stdinOnce": True,
            "securityContext": {
                "allowPrivilegeEscalation": False,
                "capabilities": {"drop": ["ALL"]},
            },
        }
        overrides = {
            "spec": {
                "securityContext": {
                    "runAsNonRoot": True,
                    "runAsUser": 10001,
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "containers": [container],
            }
        }
        subprocess.run(
            [
                "kubectl",
                "run",
                name,
                "-n",
                namespace,
                "--rm",
                "-i",
                "--restart=Never",
                "--quiet",
                f"--image={PYTHON_IMAGE}",
                f"--overrides={json.dumps(overrides)}",
            ],
            check=True,
            capture_output=True,
        )

    return run


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def isobox_server(backend: str, namespace: str, pool: str = "", **extra: str) -> Iterator[str]:
    """`isobox serve` on `backend`; cold unless `pool` names one (ISOBOX_POOL_SIZE)."""
    port = free_port()
    env = {
        **os.environ,
        **extra,
        "PORT": str(port),
        "ISOBOX_POOL_SIZE": pool,
        "ISOBOX_BACKEND": backend,
        "LOG_LEVEL": "warning",
        "ISOBOX_KUBERNETES_NAMESPACE": namespace,
        "ISOBOX_KUBERNETES_IMAGE_PULL_POLICY": "Never",
    }
    server = subprocess.Popen([sys.executable, "-m", "isobox", "serve"], env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        else:
            raise SystemExit(f"isobox ({backend}) did not become ready")
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def timed(action: Callable[[], None]) -> float:
    started = time.perf_counter()
    action()
    return (time.perf_counter() - started) * 1000


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def measure(backend: str, bare: Callable[[], None], runs: int, namespace: str) -> None:
    with isobox_server(backend, namespace) as url, httpx.Client(timeout=120) as client:

        def via_isobox() -> None:
            response = client.post(f"{url}/execute", json={"language": "python", "code": HELLO})
            assert response.json()["stdout"] == "Hello from isobox!\n", response.text

        print(f"{backend:<11} " + compare(bare, via_isobox, runs))


def compare(bare: Callable[[], None], via_isobox: Callable[[], None], runs: int) -> str:
    """Alternate the two `runs` times (after one warm-up each) and summarise medians and p95."""
    via_isobox(), bare()  # warm caches on both sides
    baseline, isobox = [], []
    for _ in range(runs):
        baseline.append(timed(bare))
        isobox.append(timed(via_isobox))
    base_median, iso_median = statistics.median(baseline), statistics.median(isobox)
    return (
        f"bare median {base_median:7.1f} ms  p95 {p95(baseline):7.1f} ms | "
        f"isobox median {iso_median:7.1f} ms  p95 {p95(isobox):7.1f} ms | "
        f"ratio {iso_median / base_median:4.2f}  (n={runs})"
    )


def prepare_namespace(namespace: str) -> None:
    """The sandbox namespace, deny-all policy and CodeRun CRD, applied with kubectl."""
    import yaml

    from isobox.kubernetes import manifests

    objects = [
        manifests.sandbox_namespace(namespace),
        manifests.deny_all_network_policy(namespace),
        manifests.coderun_crd(),
    ]
    subprocess.run(
        ["kubectl", "apply", "-f", "-"],
        input=yaml.safe_dump_all(objects).encode(),
        check=True,
        capture_output=True,
    )
    for _ in range(60):
        if (
            subprocess.run(
                ["kubectl", "get", "sa", "default", "-n", namespace], capture_output=True
            ).returncode
            == 0
        ):
            return
        time.sleep(1)


@contextmanager
def operator(namespace: str, pool: str = "") -> Iterator[None]:
    """`isobox operator` on `namespace`, with the warm pool `pool` (ISOBOX_POOL_SIZE) or none."""
    env = {
        **os.environ,
        "ISOBOX_KUBERNETES_NAMESPACE": namespace,
        "ISOBOX_KUBERNETES_IMAGE_PULL_POLICY": "Never",
        "ISOBOX_POOL_SIZE": pool,
        "LOG_LEVEL": "warning",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "isobox", "operator"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        process.terminate()
        process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backends", default="local,docker")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--namespace", default="isobox-bench")
    args = parser.parse_args()
    baselines: dict[str, Callable[[], None]] = {
        "local": bare_bwrap,
        "docker": bare_docker,
        "kubernetes": bare_kubectl(args.namespace),
        "coderun": bare_kubectl(args.namespace),
    }
    print(
        f"hello world in python, {args.runs} alternating runs each, {time.strftime('%Y-%m-%d %H:%M')}"
    )
    backends = args.backends.split(",")
    if {"kubernetes", "coderun"} & set(backends):
        prepare_namespace(args.namespace)
    for backend in backends:
        if backend == "coderun":
            with operator(args.namespace):
                measure(backend, baselines[backend], args.runs, args.namespace)
        else:
            measure(backend, baselines[backend], args.runs, args.namespace)


if __name__ == "__main__":
    main()
