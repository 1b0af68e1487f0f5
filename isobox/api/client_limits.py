"""Per-client limits on executions: a request rate and a number in flight, answered with 429.

A client is its API key (by digest) when keys are on, else its address. Counters live in this
process; with several API replicas each enforces its share.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator
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

    def admit(self, client: str, now: float) -> None:
        """Count one execution for `client`, or raise a 429 saying when to retry."""
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

    def done(self, client: str) -> None:
        bucket = self._buckets.get(client)
        if bucket is not None:
            bucket.in_flight -= 1

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


async def limit_client(request: Request) -> AsyncIterator[None]:
    """Dependency of the execution routes: admit the client for the request's duration."""
    limits: ClientLimits = request.app.state.client_limits
    if not (limits.per_minute or limits.max_in_flight):
        yield
        return
    client = getattr(request.state, "client_id", None) or (
        request.client.host if request.client else "unknown"
    )
    limits.admit(client, time.monotonic())
    try:
        yield
    finally:
        limits.done(client)
