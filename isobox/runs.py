"""Asynchronous runs: submit now, read the result later, cancel on the way.

Runs live in this process's memory for `retention_s` after they finish; a restart forgets
them (in coderun mode the CodeRun objects remain the durable record). An idempotency key
makes a retried submission return the first run instead of starting a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import Literal

from isobox.errors import IsoboxError
from isobox.models import ExecutionRequest
from isobox.service import Execution, ExecutionService

RunStatus = Literal["running", "succeeded", "failed", "cancelled", "error"]


@dataclass
class RunRecord:
    """One submitted run and, once it ended, its outcome."""

    run_id: str
    task: asyncio.Task[Execution]
    submitted: float = field(default_factory=time.time)
    finished: float | None = None

    @property
    def status(self) -> RunStatus:
        if not self.task.done():
            return "running"
        if self.task.cancelled():
            return "cancelled"
        if self.task.exception() is not None:
            return "error"
        result = self.task.result().result
        return "succeeded" if result.exit_code == 0 and not result.timed_out else "failed"

    @property
    def execution(self) -> Execution | None:
        if self.task.done() and not self.task.cancelled() and self.task.exception() is None:
            return self.task.result()
        return None

    @property
    def error(self) -> str | None:
        if self.task.done() and not self.task.cancelled() and self.task.exception() is not None:
            return str(self.task.exception())
        return None


class RunStore:
    """The asynchronous runs of one service instance."""

    def __init__(self, service: ExecutionService, retention_s: float = 3600) -> None:
        self._service = service
        self._retention_s = retention_s
        self._runs: dict[str, RunRecord] = {}
        self._by_idempotency_key: dict[str, str] = {}

    def submit(self, request: ExecutionRequest, idempotency_key: str | None = None) -> RunRecord:
        """Start `request` (checked now, so a bad one fails here) and return its record."""
        self._forget_expired()
        if idempotency_key and idempotency_key in self._by_idempotency_key:
            existing = self._runs.get(self._by_idempotency_key[idempotency_key])
            if existing is not None:
                return existing
        spec = self._service.prepare(request)
        record = RunRecord(spec.run_id, asyncio.create_task(self._service.run(spec)))
        record.task.add_done_callback(lambda _: setattr(record, "finished", time.time()))
        record.task.add_done_callback(_retrieve_exception)
        self._runs[record.run_id] = record
        if idempotency_key:
            self._by_idempotency_key[idempotency_key] = record.run_id
        return record

    def get(self, run_id: str) -> RunRecord | None:
        return self._runs.get(run_id)

    async def cancel(self, run_id: str) -> RunRecord | None:
        """Stop the run (its sandbox is removed as on any cancellation) and keep the record."""
        record = self._runs.get(run_id)
        if record is not None and not record.task.done():
            record.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, IsoboxError):
                await record.task
        return record

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
