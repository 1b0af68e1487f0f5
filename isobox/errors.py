"""The few errors isobox raises across layers.

The API layer maps them to HTTP statuses; nothing below it knows about HTTP. The tree is
kept shallow on purpose: a request problem, a backend problem, and nothing in between.
"""

from __future__ import annotations

from enum import Enum


class IsoboxError(Exception):
    """Base of every error isobox raises on purpose."""


class RequestProblem(Enum):
    """Why a request was refused; the API layer turns each into a status code."""

    INVALID = "invalid_request"
    TOO_LARGE = "too_large"
    UNKNOWN_LANGUAGE = "unknown_language"


class PolicyError(IsoboxError):
    """A request the policy refuses; `field` names the offending part of the request."""

    def __init__(
        self, field: str, message: str, problem: RequestProblem = RequestProblem.INVALID
    ) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.problem = problem


class BackendUnavailable(IsoboxError):
    """The backend cannot run anything right now (daemon down, cluster unreachable)."""


class SandboxError(IsoboxError):
    """The sandbox failed for a reason that is not the program's fault."""


class Saturated(IsoboxError):
    """Every run slot is busy and the wait queue is full; retry after `retry_after_s`."""

    def __init__(self, message: str, retry_after_s: int = 1) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class TooManyRuns(IsoboxError):
    """One client holds as many runs as it may; retry after `retry_after_s` (HTTP 429)."""

    def __init__(self, message: str, retry_after_s: int = 1) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class ConfigError(IsoboxError):
    """The service configuration (settings, language registry) is unusable."""
