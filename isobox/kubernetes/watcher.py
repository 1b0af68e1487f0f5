"""One watch stream per resource, fanning object updates out to the runs waiting on them.

Hundreds of runs in flight share a single thread and a single watch connection: each run
registers a predicate for its object's name, and the first object state that satisfies it
resolves the run's future on the event loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from kubernetes import watch
from kubernetes.client.exceptions import ApiException

from isobox.kubernetes import paging

log = logging.getLogger(__name__)

T = TypeVar("T")
Object = dict[str, Any]
# Returns None while the object is not yet in the awaited state.
Predicate = Callable[[str, Object], T | None]
RETRY_DELAY_S = 1.0
MAX_RETRY_DELAY_S = 30.0
WATCH_TIMEOUT_S = 300


class _Waiter(Generic[T]):
    def __init__(self, predicate: Predicate[T], future: asyncio.Future[T]) -> None:
        self.predicate = predicate
        self.future = future


class ObjectWatcher:
    """Watches one kind of object in one namespace, e.g. `list_function=list_namespaced_pod`."""

    def __init__(
        self,
        list_function: Callable[..., Any],
        namespace: str,
        label_selector: str,
        *,
        page_size: int = paging.PAGE_SIZE,
        **list_args: Any,
    ) -> None:
        self._list = list_function
        self._page_size = page_size
        self._namespace = namespace
        self._selector = label_selector
        self._list_args = list_args
        self._waiters: dict[str, _Waiter[Any]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop = threading.Event()
        self._watch: watch.Watch | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name="isobox-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._watch is not None:
            self._watch.stop()  # type: ignore[no-untyped-call]

    def expect(self, name: str, predicate: Predicate[T]) -> asyncio.Future[T]:
        """A future resolved with predicate's first non-None answer about object `name`.

        Register before creating the object so that no event can be missed.
        """
        if self._loop is None:
            raise RuntimeError("start() the watcher before expecting objects")
        future: asyncio.Future[T] = self._loop.create_future()
        self._waiters[name] = _Waiter(predicate, future)
        return future

    def forget(self, name: str) -> None:
        self._waiters.pop(name, None)

    def _run(self) -> None:
        delay = RETRY_DELAY_S
        while not self._stop.is_set():
            try:
                self._list_then_watch()
                delay = RETRY_DELAY_S
            except Exception as error:  # noqa: BLE001 - the watch must outlive API hiccups
                if not self._stop.is_set():
                    log.warning("watch restarts in %.0f s after error: %s", delay, error)
                    # Backs off while the API is down; stop() cuts the wait short.
                    self._stop.wait(delay)
                    delay = min(delay * 2, MAX_RETRY_DELAY_S)

    def _fetch_page(self, token: str | None, limit: int) -> paging.Page:
        listed = self._list(
            self._namespace,
            label_selector=self._selector,
            _preload_content=False,
            limit=limit,
            _continue=token,
            **self._list_args,
        )
        return paging.dict_page(json.loads(listed.data))

    def _list_then_watch(self) -> None:
        # The initial list a page at a time; the watch then starts from the listing's version.
        resource_version = ""
        for page in paging.pages(self._fetch_page, self._page_size):
            for item in page.items:
                self._deliver("LISTED", item)
            resource_version = page.resource_version
        # return_type "object": events stay plain dicts; the client ships no types for watch.
        self._watch = watch.Watch(return_type="object")  # type: ignore[no-untyped-call]
        try:
            for event in self._watch.stream(  # type: ignore[no-untyped-call]
                self._list,
                self._namespace,
                label_selector=self._selector,
                resource_version=resource_version,
                timeout_seconds=WATCH_TIMEOUT_S,
                deserialize=False,
                **self._list_args,
            ):
                if self._stop.is_set():
                    return
                if event["type"] == "ERROR":
                    raise ApiException(reason=str(event["object"]))
                self._deliver(event["type"], event["object"])
        finally:
            self._watch.stop()  # type: ignore[no-untyped-call]

    def _deliver(self, event_type: str, item: Object) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._dispatch, event_type, item)

    def _dispatch(self, event_type: str, item: Object) -> None:
        name = item.get("metadata", {}).get("name", "")
        waiter = self._waiters.get(name)
        if waiter is None or waiter.future.done():
            return
        try:
            outcome = waiter.predicate(event_type, item)
        except Exception as error:  # noqa: BLE001 - a predicate bug fails its run only
            waiter.future.set_exception(error)
            return
        if outcome is not None:
            waiter.future.set_result(outcome)
