"""The shared watch survives an unreachable API by backing off, and stops promptly."""

import asyncio
import time

from isobox.kubernetes.watcher import ObjectWatcher


async def test_an_unreachable_api_is_retried_with_backoff_and_stop_is_prompt():
    calls: list[float] = []

    def unreachable(namespace, **_):
        calls.append(time.monotonic())
        raise ConnectionError("connection refused")

    watcher = ObjectWatcher(unreachable, "ns", "app=x")
    watcher.start()
    await asyncio.sleep(3.5)  # retries after 1 s, then 2 s: three calls, not one per loop turn
    stopped = time.monotonic()
    watcher.stop()
    watcher._thread.join(timeout=5)
    assert not watcher._thread.is_alive()
    assert time.monotonic() - stopped < 1
    assert len(calls) == 3
    assert calls[2] - calls[1] > calls[1] - calls[0] >= 0.9
