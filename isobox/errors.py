"""The few errors isobox raises across layers.

The API layer maps them to HTTP statuses; nothing below it knows about HTTP. The tree is
kept shallow on purpose: a request problem, a backend problem, and nothing in between.
"""

from __future__ import annotations

from enum import Enum

# An error message quotes at most this much of any value a client sent: a refusal must not
# echo a megabyte back (nor turn the error log into a copy of the request).
EXCERPT_CHARS = 64


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """At most `limit` characters of `text`, ending in "…" when it was cut."""
    return text if len(text) <= limit else text[:limit] + "…"


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
