"""Prometheus metrics of executions, kept in a registry owned by one app instance.

A registry per app (not the client library's global one) keeps test apps and workers apart and
means nothing is registered at import time.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from isobox.models import RunResult
from isobox.outcome import ending

# Sandboxes start in milliseconds (local) to seconds (Kubernetes); runs last up to minutes.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


def startup_seconds(result: RunResult, ran_s: float) -> float:
    """What the backend spent on a run besides the program's own stages: sandbox start-up and
    clean-up. `ran_s` is the backend's wall time; the compile and run stages' durations (as the
    sandbox measured them) are taken off, and the rest never goes below 0.
    """
    stages_ms = result.duration_ms + (result.compile.duration_ms if result.compile else 0)
    return max(0.0, ran_s - stages_ms / 1000)


class Metrics:
    """The service's counters, gauges and histograms."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.executions = Counter(
            "isobox_executions",
            "Executions by language, backend and outcome (ok, error, timeout, oom, rejected).",
            ["language", "backend", "outcome"],
            registry=self.registry,
        )
        self.queue_seconds = Histogram(
            "isobox_queue_seconds",
            "Time a run waited for a free slot.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.run_seconds = Histogram(
            "isobox_run_seconds",
            "Time from a free slot to the result (sandbox start-up, program, clean-up).",
            ["backend"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.program_seconds = Histogram(
            "isobox_program_seconds",
            "Run time of the program itself, as the sandbox measured it.",
            ["backend"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.startup_seconds = Histogram(
            "isobox_startup_seconds",
            "Time a run spent outside the program's compile and run stages (sandbox start-up "
            "and clean-up): isobox_run_seconds less the stages' own durations.",
            ["backend"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "isobox_runs_in_flight", "Runs executing now.", registry=self.registry
        )
        self.output_bytes = Counter(
            "isobox_output_bytes",
            "Bytes of program output returned, by stream.",
            ["stream"],
            registry=self.registry,
        )
        self.pool_ready = Gauge(
            "isobox_pool_ready",
            "Warm sandboxes ready to be claimed, by backend and language.",
            ["backend", "language"],
            registry=self.registry,
        )
        self.pool_claims = Counter(
            "isobox_pool_claims",
            "Runs by whether they got a warm sandbox (warm=true) or went cold, for languages "
            "with a pool.",
            ["backend", "language", "warm"],
            registry=self.registry,
        )
        self.pool_provision_seconds = Histogram(
            "isobox_pool_provision_seconds",
            "Time to make one warm sandbox ready (created, started, isolation checked).",
            ["backend"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.pool_discarded = Counter(
            "isobox_pool_discarded",
            "Warm sandboxes destroyed unused: expired (idle too long), dead (launcher or pod "
            "gone), failed (never got ready).",
            ["backend", "language", "reason"],
            registry=self.registry,
        )

    def rejected(self, language: str, backend: str) -> None:
        self.executions.labels(language, backend, "rejected").inc()

    def finished(
        self, language: str, backend: str, result: RunResult, queued_s: float, ran_s: float
    ) -> None:
        self.executions.labels(language, backend, str(ending(result))).inc()
        self.queue_seconds.observe(queued_s)
        self.run_seconds.labels(backend).observe(ran_s)
        self.program_seconds.labels(backend).observe(result.duration_ms / 1000)
        self.startup_seconds.labels(backend).observe(startup_seconds(result, ran_s))
        self.output_bytes.labels("stdout").inc(len(result.stdout.encode()))
        self.output_bytes.labels("stderr").inc(len(result.stderr.encode()))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
