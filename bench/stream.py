"""Time to the first byte of a streamed run against the full `/execute` answer, per backend.

The program prints a line, works for a second, prints another. Streamed
(`Accept: text/event-stream`), the first `stdout` event arrives while it works; the plain
answer comes when it ends. Both are measured in one run, alternating, on a real server.

    python bench/stream.py [--backends local,docker] [--runs 9]
"""

from __future__ import annotations

import argparse
import statistics
import time

import httpx
from latency import isobox_server, p95, prepare_namespace

CODE = "import time\nprint('first', flush=True)\ntime.sleep(1)\nprint('second')\n"
BODY = {"language": "python", "code": CODE}


def first_event_ms(client: httpx.Client, url: str) -> float:
    started, first = time.perf_counter(), None
    with client.stream(
        "POST", f"{url}/execute", json=BODY, headers={"accept": "text/event-stream"}
    ) as answer:
        for line in answer.iter_lines():  # read to the end, as any client would
            if first is None and line.startswith("event: stdout"):
                first = (time.perf_counter() - started) * 1000
    assert first is not None, "no stdout event"
    return first


def full_answer_ms(client: httpx.Client, url: str) -> float:
    started = time.perf_counter()
    assert client.post(f"{url}/execute", json=BODY).json()["stdout"] == "first\nsecond\n"
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backends", default="local,docker")
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--namespace", default="isobox-bench")
    args = parser.parse_args()
    print(
        f"streamed first byte vs full answer, {args.runs} runs, {time.strftime('%Y-%m-%d %H:%M')}"
    )
    backends = args.backends.split(",")
    if "kubernetes" in backends:
        prepare_namespace(args.namespace)
    extra = {
        "ISOBOX_KUBERNETES_NAMESPACE": args.namespace,
        "ISOBOX_KUBERNETES_IMAGE_PULL_POLICY": "Never",
    }
    for backend in backends:
        with (
            isobox_server(backend, args.namespace, **extra) as url,
            httpx.Client(timeout=120) as client,
        ):
            full_answer_ms(client, url)
            firsts, fulls = [], []
            for _ in range(args.runs):
                firsts.append(first_event_ms(client, url))
                fulls.append(full_answer_ms(client, url))
        first, full = statistics.median(firsts), statistics.median(fulls)
        print(
            f"{backend:<10} first stdout event median {first:7.1f} ms p95 {p95(firsts):7.1f} | "
            f"full answer median {full:7.1f} ms p95 {p95(fulls):7.1f} | ratio {first / full:4.2f}"
        )


if __name__ == "__main__":
    main()
