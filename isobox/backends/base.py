"""The interface every execution backend implements, and the sandbox lifecycle most share.

A run on a backend that manages its own sandboxes is four steps (docs/design.md, "Sandbox
lifecycle"): *provision* a sandbox (created, started, isolation checked), *deliver* the
run's bundle, *collect* the result, *destroy* the sandbox. The cold path is the four in a row;
a warm pool provisions ahead of time and puts the sandbox aside between the first two.
"""

from __future__ import annotations

import asyncio
import contextlib
from abc import ABC, abstractmethod
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from isobox.errors import SandboxError
from isobox.languages import Language
from isobox.launcher import OutputListener
from isobox.models import RunResult
from isobox.runstate import DurableRuns
from isobox.spec import RunSpec

S = TypeVar("S", bound="SandboxHandle")
T = TypeVar("T")


def provisioned(part: T | None, what: str) -> T:
    """`part` of a sandbox that provisioning makes, or the error of a step run out of order
    (a backend's bug, said as one rather than as an AttributeError later)."""
    if part is None:
        raise SandboxError(f"the sandbox has no {what}: it was not provisioned")
    return part


@dataclass(eq=False)
class SandboxHandle:
    """What every backend's sandbox handle has: who listens to its output as it comes."""

    on_output: OutputListener | None = field(default=None, kw_only=True)


class Backend(ABC):
    """Runs one validated program in a sandbox and reports what happened.

    `run` must leave nothing behind (container, pod, process, temp dir) in every path,
    including cancellation, which is how a client disconnect or a shutdown reaches it.
    """

    name: str
    runtime: str = ""
    """What isolates the program, as results report it: runc, runsc, bubblewrap."""

    async def start(self) -> None:
        """Acquire clients and clean up what a previous, killed instance left."""

    @abstractmethod
    async def check(self) -> None:
        """Raise BackendUnavailable if runs cannot happen now (used by /readyz)."""

    @abstractmethod
    async def run(self, spec: RunSpec, on_output: OutputListener | None = None) -> RunResult:
        """Execute `spec`; a failing program is a result, not an exception. `on_output` hears
        each piece of output as the sandbox produces it (streaming), possibly from a worker
        thread."""

    def supports(self, language: Language) -> bool:
        """Whether this backend can run `language` at all."""
        return True

    @property
    def enforces_resource_limits(self) -> bool:
        """Whether memory, CPU and process limits hold (the local backend without writable
        cgroups is the exception)."""
        return True

    def durable_runs(self) -> DurableRuns | None:
        """The backend's own store of asynchronous runs, if it keeps them outside the API
        process; None means the service keeps them in memory."""
        return None

    async def close(self) -> None:
        """Stop in-flight runs and release clients."""


class SandboxBackend(Backend, Generic[S]):
    """A backend whose runs are sandboxes it manages itself (local, docker, kubernetes).

    Each sandbox `S` is used for exactly one run and destroyed after it, in every path.
    """

    async def run(self, spec: RunSpec, on_output: OutputListener | None = None) -> RunResult:
        """The cold path: provision, deliver, collect, destroy."""
        sandbox = self.sandbox_for(spec)
        sandbox.on_output = on_output
        try:
            await _to_completion(self.provision(sandbox, spec))
            await self.deliver(sandbox, spec)
            return await self.collect(sandbox, spec)
        finally:
            # Shielded so that a cancelled run (client gone, shutdown) still removes it.
            await asyncio.shield(self.destroy(sandbox))

    @abstractmethod
    def sandbox_for(self, spec: RunSpec) -> S:
        """The handle of `spec`'s sandbox, named before anything exists (no I/O), so that
        `destroy` finds whatever a failed or cancelled provision left."""

    @abstractmethod
    async def provision(self, sandbox: S, spec: RunSpec) -> None:
        """Create and start `sandbox` shaped for `spec` (image, limits), isolation checked.

        On the cold path the bundle goes in with it (the environment), so `deliver` has
        nothing left to do.
        """

    @abstractmethod
    async def deliver(self, sandbox: S, spec: RunSpec) -> None:
        """Hand `spec`'s bundle to the launcher waiting in `sandbox` (its stdin)."""

    @abstractmethod
    async def collect(self, sandbox: S, spec: RunSpec) -> RunResult:
        """Wait for the run to end (the backend's backstop deadline included) and merge the
        launcher's report with what the runtime saw (`launcher.sandbox_result`)."""

    @abstractmethod
    async def destroy(self, sandbox: S) -> None:
        """Remove the sandbox and all it holds; idempotent, never raises."""

    # The warm path (isobox/pool.py): a sandbox provisioned ahead of any run, holding nothing
    # of any user, whose launcher waits for its bundle on stdin. A backend without it has
    # no warm pool; its runs are always cold.
    supports_warm_pool = False

    def idle_sandbox(self, shape: RunSpec) -> S:
        """The handle of a new pooled sandbox shaped like `shape` (named by a fresh id)."""
        raise NotImplementedError(f"the {self.name} backend has no warm pool")

    async def provision_idle(self, sandbox: S, shape: RunSpec, max_idle_s: float) -> None:
        """Create and start `sandbox` with no bundle, returning once its launcher said it is
        ready (isolation checked); it ends itself if no bundle comes within `max_idle_s`."""
        raise NotImplementedError(f"the {self.name} backend has no warm pool")

    def alive(self, sandbox: S) -> bool:
        """Whether a pooled sandbox can still take its run (its launcher is waiting)."""
        return False


async def _to_completion(step: Coroutine[Any, Any, None]) -> None:
    """Await `step`; if cancelled meanwhile, let it finish first (a sandbox being created
    must exist before it can be destroyed), then pass the cancellation on."""
    task = asyncio.ensure_future(step)
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await task
        raise
