"""The interface every execution backend implements."""

from __future__ import annotations

from abc import ABC, abstractmethod

from isobox.languages import Language
from isobox.models import RunResult
from isobox.runstate import DurableRuns
from isobox.spec import RunSpec


class Backend(ABC):
    """Runs one validated program in a sandbox and reports what happened.

    `run` must leave nothing behind (container, pod, process, temp dir) in every path,
    including cancellation, which is how a client disconnect or a shutdown reaches it.
    """

    name: str

    async def start(self) -> None:
        """Acquire clients and clean up what a previous, killed instance left."""

    @abstractmethod
    async def check(self) -> None:
        """Raise BackendUnavailable if runs cannot happen now (used by /readyz)."""

    @abstractmethod
    async def run(self, spec: RunSpec) -> RunResult:
        """Execute `spec`; a failing program is a result, not an exception."""

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
