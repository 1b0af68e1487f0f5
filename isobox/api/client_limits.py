"""Per-client limits on executions: a request rate and a number in flight, answered with 429.

A client is its API key (by digest) when keys are on, else its address (`client_id`; behind a
proxy that does not keep addresses apart, every client is then one). Counters live in this
process; with several API replicas each enforces its share. An execution is in flight until
it ends: for `POST /execute` until the answer, for `POST /runs` until the run ends.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from fastapi import HTTPException, Request

from isobox.settings import Settings

# Buckets of clients not seen for this long are forgotten, so memory stays bounded.
IDLE_FORGET_S = 600


@dataclass
class _Bucket:
    tokens: float
    updated: float
    in_flight: int = 0


@dataclass
class ClientLimits:
    """Token bucket (rate per minute, burst of the same size) and in-flight count per client."""

    per_minute: int
    max_in_flight: int
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings) -> ClientLimits:
        return cls(settings.rate_limit_per_minute, settings.max_in_flight_per_client)

    def admit(self, client: str, now: float) -> Callable[[], None]:
        """Count one execution for `client`, or raise a 429 saying when to retry; the answer
        ends the execution's count (calling it again does nothing)."""
        if not (self.per_minute or self.max_in_flight):
            return _nothing
        self._forget_idle(now)
        bucket = self._buckets.setdefault(client, _Bucket(float(self.per_minute), now))
        if self.max_in_flight and bucket.in_flight >= self.max_in_flight:
            raise _too_many(f"at most {self.max_in_flight} executions in flight per client", 1)
        if self.per_minute:
            rate = self.per_minute / 60
            bucket.tokens = min(self.per_minute, bucket.tokens + (now - bucket.updated) * rate)
            bucket.updated = now
            if bucket.tokens < 1:
                wait = math.ceil((1 - bucket.tokens) / rate)
                raise _too_many(f"at most {self.per_minute} executions per minute", wait)
            bucket.tokens -= 1
        bucket.in_flight += 1
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                bucket.in_flight -= 1

        return release

    def _forget_idle(self, now: float) -> None:
        if len(self._buckets) < 1024:
            return
        for client in [
            c
            for c, b in self._buckets.items()
            if not b.in_flight and now - b.updated > IDLE_FORGET_S
        ]:
            del self._buckets[client]


def _too_many(message: str, retry_after_s: int) -> HTTPException:
    return HTTPException(429, detail=message, headers={"Retry-After": str(retry_after_s)})


def _nothing() -> None:
    pass


def client_id(request: Request) -> str:
    """Who is asking: the API key's digest (set by the key check), else the peer address."""
    known: str | None = getattr(request.state, "client_id", None)
    if known:
        return known
    return request.client.host if request.client else "unknown"


def admit_client(request: Request) -> Callable[[], None]:
    """Admit one execution of the requesting client (429 if over a limit); call the answer
    when the execution ends."""
    limits: ClientLimits = request.app.state.client_limits
    return limits.admit(client_id(request), time.monotonic())


async def limit_client(request: Request) -> AsyncIterator[None]:
    """Dependency of the synchronous execution routes: admit the client for the request."""
    release = admit_client(request)
    try:
        yield
    finally:
        release()
