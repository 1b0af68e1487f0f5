"""The execution service: policy, then a bounded number of runs on one backend.

This is the one place that ties a request to a backend, so every entry point (HTTP, the CLI,
later async runs) gets the same checks, limits and logging.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from isobox.backends.base import Backend, SandboxBackend
from isobox.errors import ConfigError, IsoboxError, PolicyError, RequestProblem, Saturated
from isobox.judging import judge_run
from isobox.languages import Language, LanguageRegistry
from isobox.launcher import OutputListener
from isobox.metrics import Metrics
from isobox.models import ExecutionRequest, RunResult
from isobox.output import Utf8Streams
from isobox.policy import build_run_spec
from isobox.pool import WarmPool
from isobox.runstate import OutputChunk
from isobox.settings import Settings
from isobox.spec import RunSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Execution:
    """A finished run with the facts the caller did not know in advance."""

    run_id: str
    language: Language
    backend: str
    result: RunResult


class ExecutionService:
    """Validates requests and runs them on the backend, at most `max_concurrent_runs` at once."""

    def __init__(
        self, settings: Settings, registry: LanguageRegistry, backend: Backend, metrics: Metrics
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.backend = backend
        self.metrics = metrics
        self._slots = asyncio.Semaphore(settings.max_concurrent_runs)
        self._waiting = 0
        self.pool: WarmPool | None = None

    async def start(self) -> None:
        """Fill the warm pool, if the backend has one and ISOBOX_POOL_SIZE asks for one."""
        self.pool = warm_pool(self.backend, self.registry, self.settings, self.metrics)
        if self.pool is not None:
            self.pool.start()

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()

    def available_languages(self) -> list[Language]:
        return [language for language in self.registry if self.backend.supports(language)]

    async def execute(self, request: ExecutionRequest) -> Execution:
        """Check `request` and run it to completion."""
        return await self.run(self.prepare(request))

    def prepare(self, request: ExecutionRequest) -> RunSpec:
        """The checked run for `request`, or a PolicyError naming the problem."""
        try:
            return self._checked_spec(request)
        except PolicyError:
            self.metrics.rejected(request.language, self.backend.name)
            raise

    async def run(self, spec: RunSpec, on_output: OutputListener | None = None) -> Execution:
        """Run a prepared spec once a slot is free (`on_output`: see `Backend.run`)."""
        queued = time.monotonic()
        async with self._slot():
            started = time.monotonic()
            with self.metrics.in_flight.track_inprogress():
                result = judge_run(spec, await self._on_backend(spec, on_output))
        self.metrics.finished(
            spec.language.name,
            self.backend.name,
            result,
            queued_s=started - queued,
            ran_s=time.monotonic() - started,
        )
        log.info(
            "run finished",
            extra={
                "run_id": spec.run_id,
                "language": spec.language.name,
                "backend": self.backend.name,
                "exit_code": result.exit_code,
                "timed_out": result.timed_out,
                "oom_killed": result.oom_killed,
                "warm": result.warm,
                "queued_ms": int((started - queued) * 1000),
                "duration_ms": result.duration_ms,
            },
        )
        return Execution(spec.run_id, spec.language, self.backend.name, result)

    async def stream(self, spec: RunSpec) -> AsyncIterator[OutputChunk | Execution]:
        """Run `spec` like `run`, yielding its output as the sandbox produces it (within the
        output limits), then the Execution. Leaving early (a client gone) cancels the run,
        which removes its sandbox."""
        loop = asyncio.get_running_loop()
        heard: asyncio.Queue[tuple[str, str, bytes] | None] = asyncio.Queue()

        def on_output(stage: str, stream: str, data: bytes) -> None:  # any thread
            loop.call_soon_threadsafe(heard.put_nowait, (stage, stream, data))

        task = asyncio.create_task(self.run(spec, on_output))
        task.add_done_callback(lambda _: heard.put_nowait(None))
        text = Utf8Streams()
        try:
            while (item := await heard.get()) is not None:
                stage, stream, data = item
                if chunk := text.decode(stage, stream, data):
                    yield OutputChunk(stage, stream, chunk)
            for stage, stream, rest in text.flush():
                yield OutputChunk(stage, stream, rest)
            yield await task
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, IsoboxError):
                    await task

    async def _on_backend(self, spec: RunSpec, on_output: OutputListener | None) -> RunResult:
        """Warm if the pool has a sandbox that fits, else (or if that one just died) cold."""
        sandbox = self.pool.claim(spec) if self.pool is not None else None
        if sandbox is not None and self.pool is not None:
            result = await self.pool.run(sandbox, spec, on_output)
            if result is not None:
                return result
        return await self.backend.run(spec, on_output)

    @asynccontextmanager
    async def _slot(self) -> AsyncIterator[None]:
        """A run slot; a short queue waits for one, a full queue is refused at once."""
        if self._slots.locked() and self._waiting >= self.settings.max_queued_runs:
            raise Saturated(
                f"all {self.settings.max_concurrent_runs} run slots are busy and "
                f"{self._waiting} requests are already waiting"
            )
        self._waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self._waiting -= 1
        try:
            yield
        finally:
            self._slots.release()

    def _checked_spec(self, request: ExecutionRequest) -> RunSpec:
        spec = build_run_spec(request, self.registry, self.settings)
        if not self.backend.supports(spec.language):
            raise PolicyError(
                "language",
                f"{spec.language.name} is not available on the {self.backend.name} backend",
                RequestProblem.UNKNOWN_LANGUAGE,
            )
        return spec


def warm_pool(
    backend: Backend, registry: LanguageRegistry, settings: Settings, metrics: Metrics
) -> WarmPool | None:
    """The warm pool ISOBOX_POOL_SIZE asks of `backend` (not started), or None: no pool asked
    for, or a backend that keeps none. The API's service and the CodeRun operator both use it."""
    sizes = settings.pool_sizes()
    if not sizes or not isinstance(backend, SandboxBackend) or not backend.supports_warm_pool:
        return None
    shapes: dict[str, RunSpec] = {}
    for name in list(sizes):
        if registry.get(name) is None:
            raise ConfigError(f"ISOBOX_POOL_SIZE names {name!r}, which is no language here")
        shape = pool_shape(name, registry, settings)
        if not backend.supports(shape.language):
            log.warning("no warm pool for %s: the %s backend cannot run it", name, backend.name)
            del sizes[name]
            continue
        shapes[name] = shape
    log.info("warm pool", extra={"backend": backend.name, "sizes": sizes})
    return WarmPool(backend, shapes, sizes, settings, metrics)


def pool_shape(name: str, registry: LanguageRegistry, settings: Settings) -> RunSpec:
    """The sandbox a warm run of `name` gets: default memory, the largest timeouts (the
    launcher holds each run to its own)."""
    request = ExecutionRequest(
        language=name,
        code="",
        timeout=settings.max_timeout_s,
        compile_timeout=settings.max_compile_timeout_s,
    )
    return build_run_spec(request, registry, settings)
