"""Warm pools: sandboxes provisioned ahead of time, each handed exactly one program.

Per language, `ISOBOX_POOL_SIZE` sandboxes wait with the default limits, their launcher proven
isolated and waiting for a bundle on stdin; before a run claims one it holds nothing of any
user. A run whose limits fit in that shape claims one, its bundle goes in, and after the run
the sandbox is destroyed off the request's path and replaced: never reused, so no state
passes from one run to the next. An empty pool, a run that does not fit, or a sandbox that
died while idle is never an error: the run goes cold, exactly as without a pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from isobox.backends.base import SandboxBackend
from isobox.launcher import OutputListener
from isobox.metrics import Metrics
from isobox.models import RunResult
from isobox.settings import Settings
from isobox.spec import RunSpec

log = logging.getLogger(__name__)

RETRY_AFTER_FAILURE_S = 5.0


@dataclass
class _Idle:
    sandbox: Any
    ready_at: float


class WarmPool:
    """The warm sandboxes of one backend, per language."""

    def __init__(
        self,
        backend: SandboxBackend[Any],
        shapes: dict[str, RunSpec],
        sizes: dict[str, int],
        settings: Settings,
        metrics: Metrics,
    ) -> None:
        self._backend = backend
        self._shapes = shapes
        self._sizes = sizes
        self._max_idle_s = settings.pool_max_idle_s
        self._metrics = metrics
        self._idle: dict[str, deque[_Idle]] = {name: deque() for name in sizes}
        self._wanted: dict[str, asyncio.Event] = {name: asyncio.Event() for name in sizes}
        self._provisioning = asyncio.Semaphore(settings.pool_max_provisioning)
        self._tasks: list[asyncio.Task[None]] = []
        self._retiring: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._keep_filled(name), name=f"isobox-pool-{name}")
            for name in self._sizes
        ]

    def ready(self, language: str) -> int:
        return len(self._idle.get(language, ()))

    def claim(self, spec: RunSpec) -> Any | None:
        """A warm sandbox for `spec`, or None: no pool for it, it does not fit, none ready."""
        name = spec.language.name
        if name not in self._sizes:
            return None
        shape = self._shapes[name]
        sandbox = self._take(name) if fits(spec, shape) else None
        warm = "true" if sandbox is not None else "false"
        self._metrics.pool_claims.labels(self._backend.name, name, warm).inc()
        return sandbox

    def _take(self, name: str) -> Any | None:
        idle = self._idle[name]
        while idle:
            entry = idle.popleft()
            self._wanted[name].set()
            if time.monotonic() - entry.ready_at > self._max_idle_s:
                self._discard(name, entry.sandbox, "expired")
            elif not self._backend.alive(entry.sandbox):
                self._discard(name, entry.sandbox, "dead")
            else:
                self._gauge(name)
                return entry.sandbox
        self._gauge(name)
        return None

    async def run(
        self, sandbox: Any, spec: RunSpec, on_output: OutputListener | None = None
    ) -> RunResult | None:
        """Run `spec` in a claimed sandbox; None if the sandbox could not take it (it died
        just now), for the caller to go cold. The sandbox is destroyed in every path."""
        sandbox.on_output = on_output
        try:
            try:
                await self._backend.deliver(sandbox, spec)
            except Exception as error:  # noqa: BLE001 - a dead warm sandbox means "go cold"
                log.warning("warm sandbox refused its run %s (%s); going cold", spec.run_id, error)
                return None
            result = await self._backend.collect(sandbox, spec)
        finally:
            self._retire(sandbox)
        return result.model_copy(update={"warm": True})

    def _retire(self, sandbox: Any) -> None:
        """Destroy off the request's path; close() waits for what is still going."""
        task = asyncio.create_task(self._backend.destroy(sandbox))
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    def _discard(self, name: str, sandbox: Any, reason: str) -> None:
        self._metrics.pool_discarded.labels(self._backend.name, name, reason).inc()
        self._retire(sandbox)

    def _gauge(self, name: str) -> None:
        self._metrics.pool_ready.labels(self._backend.name, name).set(len(self._idle[name]))

    async def _keep_filled(self, name: str) -> None:
        wanted = self._wanted[name]
        while True:
            self._recycle_expired(name)
            while len(self._idle[name]) < self._sizes[name]:
                if not await self._add_one(name):
                    await asyncio.sleep(RETRY_AFTER_FAILURE_S)
            wanted.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wanted.wait(), self._max_idle_s / 4)

    def _recycle_expired(self, name: str) -> None:
        now, idle = time.monotonic(), self._idle[name]
        while idle and now - idle[0].ready_at > self._max_idle_s:
            self._discard(name, idle.popleft().sandbox, "expired")
        self._gauge(name)

    async def _add_one(self, name: str) -> bool:
        shape = self._shapes[name]
        sandbox = self._backend.idle_sandbox(shape)
        async with self._provisioning:
            started = time.monotonic()
            try:
                # A launcher that outlives the pool (a killed API) ends itself past this.
                await self._backend.provision_idle(sandbox, shape, self._max_idle_s * 1.25)
            except Exception as error:  # noqa: BLE001 - logged, counted, retried
                log.warning("warm %s sandbox failed to get ready: %s", name, error)
                self._discard(name, sandbox, "failed")
                return False
        self._metrics.pool_provision_seconds.labels(self._backend.name).observe(
            time.monotonic() - started
        )
        self._idle[name].append(_Idle(sandbox, time.monotonic()))
        self._gauge(name)
        return True

    async def close(self) -> None:
        """Stop refilling and destroy every warm sandbox."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for name, idle in self._idle.items():
            while idle:
                self._retire(idle.popleft().sandbox)
            self._gauge(name)
        await asyncio.gather(*self._retiring, return_exceptions=True)


def fits(spec: RunSpec, shape: RunSpec) -> bool:
    """Whether `spec` can run in a sandbox shaped like `shape`: the launcher holds a run to a
    smaller timeout and memory than the sandbox's, never to a larger one."""
    limits, room = spec.limits, shape.limits
    return (
        spec.language == shape.language
        and spec.sandbox_memory_mib <= shape.sandbox_memory_mib
        and limits.timeout_s <= room.timeout_s
        and limits.compile_timeout_s <= room.compile_timeout_s
        and spec.total_run_seconds <= shape.total_run_seconds
        and (limits.cpus, limits.pids, limits.scratch_mib, limits.output_bytes)
        == (room.cpus, room.pids, room.scratch_mib, room.output_bytes)
    )
