"""Asynchronous runs: submit now, read the result later, cancel on the way.

Two stores keep them, behind one small protocol. A backend that keeps runs itself, outside the
API process (`Backend.durable_runs()`: the coderun backend, whose runs are CodeRuns), is used
through `DurableRunStore`: the run outlives the API process and every replica sees it. Every
other backend's runs live in this process's memory (`MemoryRunStore`) for `retention_s` after
they finish; a restart forgets them. Either way an idempotency key makes a retried submission
return the first run instead of starting a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import Protocol

from isobox.errors import IsoboxError
from isobox.ids import is_run_id, run_id_for_key
from isobox.models import ExecutionRequest, RunResult
from isobox.outcome import RunStatus, status_of
from isobox.runstate import DurableRuns, RunState
from isobox.service import Execution, ExecutionService


class RunStore(Protocol):
    """Where the asynchronous runs of a service live."""

    async def submit(
        self, request: ExecutionRequest, idempotency_key: str | None = None
    ) -> RunState:
        """Check `request` (a bad one fails here, with a PolicyError) and start it; a key seen
        before returns that run instead."""
        ...

    async def get(self, run_id: str) -> RunState | None:
        """The run's state, or None if there is no such run (or no longer)."""
        ...

    async def cancel(self, run_id: str) -> RunState | None:
        """Stop the run and remove its sandbox; an ended run is left as it is."""
        ...

    async def close(self) -> None:
        """Release what the store holds in this process."""
        ...


def create_run_store(service: ExecutionService) -> RunStore:
    """The backend's own store when it keeps runs outside the process, else this process's."""
    durable = service.backend.durable_runs()
    if durable is not None:
        return DurableRunStore(service, durable)
    return MemoryRunStore(service)


class DurableRunStore:
    """Runs a backend keeps itself (`DurableRuns`); this process adds the policy and the
    idempotency keys and keeps nothing.

    Without a key the run id is random; with one it is derived from the client-scoped key
    (`run_id_for_key`), so replicas agree on it without sharing state, and the backend's
    "a run of that id exists already" returns the first run. Ids that cannot be run ids are
    unknown without asking the backend.
    """

    def __init__(self, service: ExecutionService, durable: DurableRuns) -> None:
        self._service = service
        self._durable = durable

    async def submit(
        self, request: ExecutionRequest, idempotency_key: str | None = None
    ) -> RunState:
        spec = self._service.prepare(request)
        if idempotency_key:
            spec = spec.model_copy(update={"run_id": run_id_for_key(idempotency_key)})
        return await self._durable.submit(spec)

    async def get(self, run_id: str) -> RunState | None:
        return await self._durable.read(run_id) if is_run_id(run_id) else None

    async def cancel(self, run_id: str) -> RunState | None:
        return await self._durable.cancel(run_id) if is_run_id(run_id) else None

    async def close(self) -> None:
        """Nothing to stop: the runs belong to the backend and outlive this process."""


@dataclass
class RunRecord:
    """One submitted run of the memory store and, once it ended, its outcome."""

    run_id: str
    language: str
    backend: str
    task: asyncio.Task[Execution]
    finished: float | None = None

    def state(self) -> RunState:
        if not self.task.done():
            return self._state(RunStatus.RUNNING)
        if self.task.cancelled():
            return self._state(RunStatus.CANCELLED)
        error = self.task.exception()
        if error is not None:
            return self._state(RunStatus.ERROR, error=str(error))
        result = self.task.result().result
        return self._state(status_of(result), result=result)

    def _state(
        self, status: RunStatus, result: RunResult | None = None, error: str | None = None
    ) -> RunState:
        return RunState(self.run_id, status, self.language, self.backend, result, error)


class MemoryRunStore:
    """The asynchronous runs of one service instance, as tasks in this process."""

    def __init__(self, service: ExecutionService, retention_s: float = 3600) -> None:
        self._service = service
        self._retention_s = retention_s
        self._runs: dict[str, RunRecord] = {}
        self._by_idempotency_key: dict[str, str] = {}

    async def submit(
        self, request: ExecutionRequest, idempotency_key: str | None = None
    ) -> RunState:
        self._forget_expired()
        if idempotency_key and idempotency_key in self._by_idempotency_key:
            existing = self._runs.get(self._by_idempotency_key[idempotency_key])
            if existing is not None:
                return existing.state()
        spec = self._service.prepare(request)
        record = RunRecord(
            spec.run_id,
            spec.language.name,
            self._service.backend.name,
            asyncio.create_task(self._service.run(spec)),
        )
        record.task.add_done_callback(lambda _: setattr(record, "finished", time.time()))
        record.task.add_done_callback(_retrieve_exception)
        self._runs[record.run_id] = record
        if idempotency_key:
            self._by_idempotency_key[idempotency_key] = record.run_id
        return record.state()

    async def get(self, run_id: str) -> RunState | None:
        record = self._runs.get(run_id)
        return record.state() if record is not None else None

    async def cancel(self, run_id: str) -> RunState | None:
        """Stop the run (its sandbox is removed as on any cancellation) and keep the record."""
        record = self._runs.get(run_id)
        if record is None:
            return None
        if not record.task.done():
            record.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, IsoboxError):
                await record.task
        return record.state()

    async def close(self) -> None:
        for run_id in list(self._runs):
            await self.cancel(run_id)

    def _forget_expired(self) -> None:
        now = time.time()
        expired = [
            run_id
            for run_id, record in self._runs.items()
            if record.finished is not None and now - record.finished > self._retention_s
        ]
        for run_id in expired:
            del self._runs[run_id]
        self._by_idempotency_key = {
            key: run_id for key, run_id in self._by_idempotency_key.items() if run_id in self._runs
        }


def _retrieve_exception(task: asyncio.Task[Execution]) -> None:
    # Read here so that asyncio does not log "exception was never retrieved"; GET reports it.
    if not task.cancelled():
        task.exception()
