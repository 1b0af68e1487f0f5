"""What is known of an asynchronous run, shared by the run stores and the backends that keep
runs themselves (a leaf: it depends on the wire models and the outcome vocabulary only)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from isobox.models import RunResult
from isobox.outcome import RunStatus

if TYPE_CHECKING:
    from isobox.spec import RunSpec


@dataclass(frozen=True)
class OutputChunk:
    """A piece of a running program's output, as text (`stage`: compile or run)."""

    stage: str
    stream: str
    text: str


@dataclass(frozen=True)
class RunState:
    """A run now; `result` once the program ended, `error` if it could not run."""

    run_id: str
    status: RunStatus
    language: str
    backend: str
    result: RunResult | None = None
    error: str | None = None


RunEvent = OutputChunk | RunState
"""What following a run yields: its output as it comes, then its final state."""


class DurableRuns(Protocol):
    """Runs a backend keeps outside the API process (CodeRuns), so they outlive it and every
    replica sees them. A backend offering this is the run store; the API process keeps
    nothing of such runs. A run belongs to the `owner` that submitted it (a client id): the
    backend records it with the run, and to any other owner the run does not exist."""

    async def submit(self, spec: RunSpec, owner: str) -> RunState:
        """Start `spec` without waiting; a run of that id that exists already is returned
        (the id is derived from the owner's idempotency key, so it is the owner's)."""
        ...

    async def read(self, run_id: str, owner: str) -> RunState | None:
        """The run now, or None if `owner` has none of that id (never made, or expired)."""
        ...

    async def events(self, run_id: str, owner: str) -> AsyncIterator[RunEvent] | None:
        """Follow the run: its output as it comes (`OutputChunk`), then its final state;
        None if `owner` has no such run."""
        ...

    async def cancel(self, run_id: str, owner: str) -> RunState | None:
        """Stop `owner`'s run unless it has ended; the run as it is then."""
        ...


def chunks_of(result: RunResult) -> list[OutputChunk]:
    """A finished result's output as the chunks a stream of it would have shown."""
    stages = [("compile", result.compile), ("run", result)]
    return [
        OutputChunk(stage, stream, text)
        for stage, output in stages
        if output is not None
        for stream, text in (("stdout", output.stdout), ("stderr", output.stderr))
        if text
    ]
