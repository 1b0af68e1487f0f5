"""Asynchronous runs: submit now, read the result later, cancel on the way.

Two stores keep them, behind one small protocol. A backend that keeps runs itself, outside the
API process (`Backend.durable_runs()`: the coderun backend, whose runs are CodeRuns), is used
through `DurableRunStore`: the run outlives the API process and every replica sees it. Every
other backend's runs live in this process's memory (`MemoryRunStore`) for `retention_s` after
they finish, within a cap per client and in total; a restart forgets them.

Either way a run belongs to the client that submitted it (its `owner`: the API key's digest,
or the client's address when keys are off): another client is told there is no such run. An
idempotency key is scoped to its owner too, so a retried submission returns the first run
instead of starting a second, and two clients' equal keys name different runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from isobox.errors import IsoboxError, Saturated, TooManyRuns
from isobox.ids import is_run_id, run_id_for_key
from isobox.models import ExecutionRequest
from isobox.outcome import RunStatus, status_of
from isobox.output import Utf8Streams
from isobox.runstate import DurableRuns, OutputChunk, RunEvent, RunState, chunks_of
from isobox.service import Execution, ExecutionService
from isobox.spec import RunSpec

# How long a finished run stays readable in the memory store.
RETENTION_S = 3600.0

OnEnd = Callable[[], None]


class RunStore(Protocol):
    """Where the asynchronous runs of a service live."""

    async def submit(
        self,
        request: ExecutionRequest,
        owner: str,
        idempotency_key: str | None = None,
        on_end: OnEnd | None = None,
    ) -> RunState:
        """Check `request` (a bad one fails here, with a PolicyError) and start it for `owner`;
        a key `owner` used before returns that run instead. `on_end` is called once: when the
        run this call started ends, or before this returns or raises if it started none."""
        ...

    async def get(self, run_id: str, owner: str) -> RunState | None:
        """The run's state, or None if `owner` has no such run (or no longer)."""
        ...

    async def events(self, run_id: str, owner: str) -> AsyncIterator[RunEvent] | None:
        """Follow `owner`'s run: its output as it comes, then its final state; None if there
        is no such run."""
        ...

    async def cancel(self, run_id: str, owner: str) -> RunState | None:
        """Stop `owner`'s run and remove its sandbox; an ended run is left as it is."""
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

    Without a key the run id is random; with one it is derived from the owner-scoped key
    (`run_id_for_key`), so replicas agree on it without sharing state, and the backend's
    "a run of that id exists already" returns the first run. Ids that cannot be run ids are
    unknown without asking the backend. Such runs hold nothing in this process, so `on_end`
    is called at once: they do not count against a client's in-flight limit here.
    """

    def __init__(self, service: ExecutionService, durable: DurableRuns) -> None:
        self._service = service
        self._durable = durable

    async def submit(
        self,
        request: ExecutionRequest,
        owner: str,
        idempotency_key: str | None = None,
        on_end: OnEnd | None = None,
    ) -> RunState:
        try:
            spec = self._service.prepare(request)
            if idempotency_key:
                spec = spec.model_copy(
                    update={"run_id": run_id_for_key(f"{owner}:{idempotency_key}")}
                )
            return await self._durable.submit(spec, owner)
        finally:
            if on_end is not None:
                on_end()

    async def get(self, run_id: str, owner: str) -> RunState | None:
        return await self._durable.read(run_id, owner) if is_run_id(run_id) else None

    async def events(self, run_id: str, owner: str) -> AsyncIterator[RunEvent] | None:
        return await self._durable.events(run_id, owner) if is_run_id(run_id) else None

    async def cancel(self, run_id: str, owner: str) -> RunState | None:
        return await self._durable.cancel(run_id, owner) if is_run_id(run_id) else None

    async def close(self) -> None:
        """Nothing to stop: the runs belong to the backend and outlive this process."""


@dataclass
class RunOutput:
    """What a running run printed so far, for whoever follows it; bounded like its result
    (the decoder keeps at most the output limit a stream), and dropped when the run ends,
    whose result holds it from then on."""

    def __init__(self) -> None:
        self.chunks: list[OutputChunk] = []
        self.more = asyncio.Event()
        self._text = Utf8Streams()

    def add(self, stage: str, stream: str, data: bytes) -> None:
        if text := self._text.decode(stage, stream, data):
            self.chunks.append(OutputChunk(stage, stream, text))
            self._wake()

    def end(self) -> None:
        self.chunks = []  # followers keep the list they are reading
        self._wake()

    def _wake(self) -> None:
        self.more.set()
        self.more = asyncio.Event()


@dataclass
class RunRecord:
    """One run of the memory store: its task while it runs, then only how it ended.

    The task is dropped when it ends: a failed task's exception holds a traceback whose
    frames hold the request (code, files, stdin), which would otherwise live as long as the
    record. Only `str(error)` is kept.
    """

    run_id: str
    owner: str
    language: str
    backend: str
    deadline: float
    task: asyncio.Task[Execution] | None = None
    ended: RunState | None = None
    finished: float | None = None
    output: RunOutput = field(default_factory=RunOutput)

    def state(self) -> RunState:
        if self.ended is not None:
            return self.ended
        return RunState(self.run_id, RunStatus.RUNNING, self.language, self.backend)

    def end(self, task: asyncio.Task[Execution]) -> None:
        """The task's done callback: keep its outcome, drop the task."""
        self.ended = self._outcome(task)
        self.finished = time.time()
        self.task = None
        self.output.end()

    def _outcome(self, task: asyncio.Task[Execution]) -> RunState:
        if task.cancelled():
            return self._state(RunStatus.CANCELLED)
        error = task.exception()  # also keeps asyncio from logging it as never retrieved
        if error is not None:
            return self._state(RunStatus.ERROR, error=str(error))
        result = task.result().result
        return RunState(self.run_id, status_of(result), self.language, self.backend, result)

    def _state(self, status: RunStatus, error: str | None = None) -> RunState:
        return RunState(self.run_id, status, self.language, self.backend, error=error)


class MemoryRunStore:
    """The asynchronous runs of one service instance, as tasks in this process.

    At most `max_stored_runs` records are kept, `max_stored_runs_per_client` per owner. A new
    run makes room by forgetting the oldest finished run (the owner's, for the per-owner
    cap); when every record counted is still running the run is refused, with a 429 for one
    owner's cap and a 503 for the total, saying when the first of them should be done.
    """

    def __init__(self, service: ExecutionService, retention_s: float = RETENTION_S) -> None:
        self._service = service
        self._retention_s = retention_s
        self._max_total = service.settings.max_stored_runs
        self._max_per_owner = service.settings.max_stored_runs_per_client
        self._runs: dict[str, RunRecord] = {}
        self._by_key: dict[tuple[str, str], str] = {}

    async def submit(
        self,
        request: ExecutionRequest,
        owner: str,
        idempotency_key: str | None = None,
        on_end: OnEnd | None = None,
    ) -> RunState:
        release = on_end or _nothing
        try:
            existing = self._keyed(owner, idempotency_key)
            if existing is not None:
                release()
                return existing.state()
            spec = self._service.prepare(request)
            self._make_room(owner)
        except BaseException:
            release()
            raise
        record = self._start(spec, owner, release)
        if idempotency_key:
            self._by_key[(owner, idempotency_key)] = record.run_id
        return record.state()

    def _start(self, spec: RunSpec, owner: str, release: OnEnd) -> RunRecord:
        record = RunRecord(
            spec.run_id,
            owner,
            spec.language.name,
            self._service.backend.name,
            deadline=time.time() + _longest_run_s(spec),
        )
        loop = asyncio.get_running_loop()

        def heard(stage: str, stream: str, data: bytes) -> None:  # any thread
            loop.call_soon_threadsafe(record.output.add, stage, stream, data)

        task = asyncio.create_task(self._service.run(spec, heard))
        record.task = task
        task.add_done_callback(record.end)
        task.add_done_callback(lambda _: release())
        self._runs[record.run_id] = record
        return record

    async def get(self, run_id: str, owner: str) -> RunState | None:
        record = self._owned(run_id, owner)
        return record.state() if record is not None else None

    async def events(self, run_id: str, owner: str) -> AsyncIterator[RunEvent] | None:
        record = self._owned(run_id, owner)
        return _followed(record) if record is not None else None

    async def cancel(self, run_id: str, owner: str) -> RunState | None:
        """Stop the run (its sandbox is removed as on any cancellation) and keep the record."""
        record = self._owned(run_id, owner)
        if record is None:
            return None
        await _cancelled(record.task)
        return record.state()

    async def close(self) -> None:
        for record in list(self._runs.values()):
            await _cancelled(record.task)

    def _keyed(self, owner: str, idempotency_key: str | None) -> RunRecord | None:
        """The run `owner` submitted with this key, if it is still kept."""
        if not idempotency_key:
            return None
        return self._runs.get(self._by_key.get((owner, idempotency_key), ""))

    def _owned(self, run_id: str, owner: str) -> RunRecord | None:
        record = self._runs.get(run_id)
        return record if record is not None and record.owner == owner else None

    def _make_room(self, owner: str) -> None:
        """Forget what expired, then the oldest finished runs over a cap; or refuse the run."""
        self._forget_expired()
        mine = [record for record in self._runs.values() if record.owner == owner]
        if len(mine) >= self._max_per_owner and not self._forget_oldest_finished(mine):
            raise TooManyRuns(
                f"this client has {len(mine)} runs running, the most it may have",
                _retry_after_s(mine),
            )
        everyone = list(self._runs.values())
        if len(everyone) >= self._max_total and not self._forget_oldest_finished(everyone):
            raise Saturated(
                f"{len(everyone)} runs are running, the most this server keeps",
                _retry_after_s(everyone),
            )

    def _forget_oldest_finished(self, records: Iterable[RunRecord]) -> bool:
        finished = [record for record in records if record.finished is not None]
        if not finished:
            return False
        self._forget([min(finished, key=lambda record: record.finished or 0).run_id])
        return True

    def _forget_expired(self) -> None:
        now = time.time()
        self._forget(
            [
                run_id
                for run_id, record in self._runs.items()
                if record.finished is not None and now - record.finished > self._retention_s
            ]
        )

    def _forget(self, run_ids: list[str]) -> None:
        if not run_ids:
            return
        for run_id in run_ids:
            del self._runs[run_id]
        self._by_key = {key: run for key, run in self._by_key.items() if run in self._runs}


def _nothing() -> None:
    pass


def _longest_run_s(spec: RunSpec) -> float:
    compile_s = spec.limits.compile_timeout_s if spec.compile_command is not None else 0.0
    return spec.limits.timeout_s + compile_s


def _retry_after_s(records: list[RunRecord]) -> int:
    """Seconds until the first of these running runs reaches its time limit (at least 1)."""
    soonest = min((record.deadline for record in records), default=time.time())
    return max(1, math.ceil(soonest - time.time()))


async def _cancelled(task: asyncio.Task[Execution] | None) -> None:
    if task is not None and not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, IsoboxError):
            await task


async def _followed(record: RunRecord) -> AsyncIterator[RunEvent]:
    """A memory-store run's output as it comes (all of it so far first), then its state; a
    run that ended before anyone followed it shows its result's output."""
    if record.ended is not None:
        if record.ended.result is not None:
            for chunk in chunks_of(record.ended.result):
                yield chunk
        yield record.ended
        return
    chunks, sent = record.output.chunks, 0
    while True:
        while sent < len(chunks):
            yield chunks[sent]
            sent += 1
        if record.ended is not None:
            yield record.ended
            return
        await record.output.more.wait()
