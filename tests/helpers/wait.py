"""The one way tests wait: poll a condition until it holds or a deadline passes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any


def _timed_out(
    timeout_s: float, what: str, last: object, detail: Callable[[], object] | None
) -> AssertionError:
    message = f"timed out after {timeout_s} s waiting for {what} (last: {last!r})"
    if detail is not None:
        message += f"; {detail()}"
    return AssertionError(message)


def wait_until(
    condition: Callable[[], Any],
    timeout_s: float,
    what: str,
    interval_s: float = 0.2,
    *,
    detail: Callable[[], object] | None = None,
) -> Any:
    """The first truthy value of `condition()`; an AssertionError naming `what` (and, if given,
    `detail()`) when `timeout_s` passes first."""
    deadline = time.monotonic() + timeout_s
    while True:
        last = condition()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise _timed_out(timeout_s, what, last, detail)
        time.sleep(interval_s)


async def async_wait_until(
    condition: Callable[[], Awaitable[Any]],
    timeout_s: float,
    what: str,
    interval_s: float = 0.1,
    *,
    detail: Callable[[], object] | None = None,
) -> Any:
    """`wait_until` for an async condition, without blocking the event loop."""
    deadline = time.monotonic() + timeout_s
    while True:
        last = await condition()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise _timed_out(timeout_s, what, last, detail)
        await asyncio.sleep(interval_s)
