"""Whether the backend can run anything now, asked at most once per `cache_s`.

`/readyz` is open to anyone (probes carry no key), so it must not let them hammer the backend
(a Docker daemon, the Kubernetes API server) or read its internal error text: the answer is
reused for `cache_s`, concurrent probes share one check, and the reason goes to the log.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time

from isobox.backends.base import Backend
from isobox.errors import BackendUnavailable

log = logging.getLogger(__name__)


class Readiness:
    def __init__(self, backend: Backend, cache_s: float) -> None:
        self._backend = backend
        self._cache_s = cache_s
        self._checked = -math.inf
        self._problem: str | None = None
        self._lock = asyncio.Lock()

    async def problem(self) -> str | None:
        """None when the backend answers, else why not (for the log and key holders only)."""
        async with self._lock:  # probes arriving together wait for one check
            if time.monotonic() - self._checked >= self._cache_s:
                self._problem = await self._check()
                self._checked = time.monotonic()
        return self._problem

    async def _check(self) -> str | None:
        try:
            await self._backend.check()
        except BackendUnavailable as error:
            log.warning("backend not ready: %s", error)
            return str(error)
        except Exception as error:  # a probe must answer, whatever went wrong (logged)
            log.exception("backend readiness check failed")
            return f"{type(error).__name__}: {error}"
        return None
