"""Asynchronous runs that are CodeRuns: nothing of a run lives in the API process.

`POST /runs` creates the run's CodeRun and answers; the operator runs it and writes the result
into the CodeRun's status; `GET /runs/{id}` reads the CodeRun back. So a run holds no API slot
and no task, survives a restart of the API that accepted it, and every replica sees it; it is
gone when retention deletes its CodeRun.

Ids and names: run `<id>` is CodeRun `run-<id>` with `spec.runId: <id>`, the same mapping as
synchronous coderun runs. Without an idempotency key the id is random; with one it is a hash
of the client-scoped key (`run_id_for_key`), so a duplicate submission, even to another replica
at the same moment, gets 409 from the API server and returns the existing run.

Metrics: submissions the policy refuses are counted (`rejected`) as for any run; outcomes,
queue and run times, runs in flight and output bytes are not, since the operator, not this
process, sees the runs end.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from isobox.ids import is_run_id, run_id_for_key
from isobox.kubernetes.coderun import phase_of_coderun, result_from_status
from isobox.models import ExecutionRequest
from isobox.outcome import FINAL_PHASES, STATUS_OF_PHASE, Phase, RunStatus
from isobox.runs import RunState
from isobox.service import ExecutionService

if TYPE_CHECKING:
    from isobox.backends.coderun import CodeRunBackend

# DELETE waits this long for the operator to confirm the cancel, then answers what it sees.
CANCEL_CONFIRM_S = 10.0
CONFIRM_POLL_S = 0.2


def run_state(run_id: str, coderun: dict[str, Any], backend: str) -> RunState:
    """What a CodeRun says of its run: no phase yet, Pending and Running are all "running"."""
    status: dict[str, Any] = coderun.get("status") or {}
    language = str((coderun.get("spec") or {}).get("language", ""))
    phase = phase_of_coderun(coderun)
    run_status = STATUS_OF_PHASE[Phase(phase)] if phase in set(Phase) else RunStatus.RUNNING
    if run_status in {RunStatus.SUCCEEDED, RunStatus.FAILED}:
        return RunState(run_id, run_status, language, backend, result_from_status(status))
    if run_status == RunStatus.ERROR:
        reason, message = status.get("reason"), status.get("message", "")
        error = f"{reason}: {message}" if reason else str(message)
        return RunState(run_id, run_status, language, backend, error=error)
    return RunState(run_id, run_status, language, backend)


class CodeRunStore:
    """Runs kept as CodeRuns in the sandbox namespace, through the coderun backend's client."""

    def __init__(self, service: ExecutionService, backend: CodeRunBackend) -> None:
        self._service = service
        self._backend = backend

    async def submit(
        self, request: ExecutionRequest, idempotency_key: str | None = None
    ) -> RunState:
        spec = self._service.prepare(request)
        if idempotency_key:
            spec = spec.model_copy(update={"run_id": run_id_for_key(idempotency_key)})
        coderun = await self._backend.submit(spec)
        return run_state(spec.run_id, coderun, self._backend.name)

    async def get(self, run_id: str) -> RunState | None:
        coderun = await self._backend.read(run_id) if is_run_id(run_id) else None
        return run_state(run_id, coderun, self._backend.name) if coderun else None

    async def cancel(self, run_id: str) -> RunState | None:
        """Mark the CodeRun cancelled and wait, briefly, for the operator to confirm.

        Confirmed, the status is "cancelled" (the operator deletes the Pod right after); with no
        operator answering in time it is still "running", and the mark stays in the CodeRun
        for the operator to honour when it comes (it then never starts the run).
        """
        if not is_run_id(run_id):
            return None
        coderun = await self._backend.cancel(run_id)
        deadline = time.monotonic() + CANCEL_CONFIRM_S
        while coderun is not None and phase_of_coderun(coderun) not in FINAL_PHASES:
            if time.monotonic() >= deadline:
                break
            await asyncio.sleep(CONFIRM_POLL_S)
            coderun = await self._backend.read(run_id)
        return run_state(run_id, coderun, self._backend.name) if coderun else None

    async def close(self) -> None:
        """Nothing to stop: the runs belong to the operator and outlive this process."""
