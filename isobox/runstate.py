"""What is known of an asynchronous run, shared by the run stores and the backends that keep
runs themselves (a leaf: it depends on the wire models and the outcome vocabulary only)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from isobox.models import RunResult
from isobox.outcome import RunStatus

if TYPE_CHECKING:
    from isobox.spec import RunSpec


@dataclass(frozen=True)
class RunState:
    """A run now; `result` once the program ended, `error` if it could not run."""

    run_id: str
    status: RunStatus
    language: str
    backend: str
    result: RunResult | None = None
    error: str | None = None


class DurableRuns(Protocol):
    """Runs a backend keeps outside the API process (CodeRuns), so they outlive it and every
    replica sees them. A backend offering this is the run store; the API process keeps
    nothing of such runs."""

    async def submit(self, spec: RunSpec) -> RunState:
        """Start `spec` without waiting; a run of that id that exists already is returned."""
        ...

    async def read(self, run_id: str) -> RunState | None:
        """The run now, or None if there is none (never made, or expired)."""
        ...

    async def cancel(self, run_id: str) -> RunState | None:
        """Stop the run unless it has ended; the run as it is then."""
        ...
