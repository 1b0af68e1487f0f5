"""Lists of Kubernetes objects read a page at a time (`limit` and `continue`).

A sweep or a watcher's initial list reads a whole namespace's objects; in one response those
are all held at once, specs and statuses included (a CodeRun's status can be a MiB). Pages
keep a listing's memory, and the API server's work per request, to PAGE_SIZE objects. A
continue token the API server no longer honours (410 Gone: its snapshot was compacted away)
restarts the listing from the first page, so a consumer may see an object twice and must not
mind (every consumer here deletes or dispatches idempotently).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from kubernetes.client.exceptions import ApiException

PAGE_SIZE = 200
# Restarts after 410 Gone within one listing before it gives up (a sweep tries next round).
MAX_RESTARTS = 3


@dataclass(frozen=True)
class Page:
    items: list[Any]
    continue_token: str | None
    resource_version: str
    """The listing's resourceVersion (the same on every page of one snapshot): a watch
    started from it misses nothing that changed after the list."""


# Reads the page after `continue_token` (the first page for None), at most `limit` objects.
FetchPage = Callable[[str | None, int], Page]


def pages(fetch: FetchPage, page_size: int = PAGE_SIZE) -> Iterator[Page]:
    """Every page of a listing, from the first to the one without a continue token."""
    restarts = 0
    token: str | None = None
    while True:
        try:
            page = fetch(token, page_size)
        except ApiException as error:
            if error.status != 410 or token is None or restarts >= MAX_RESTARTS:
                raise
            restarts += 1
            token = None
            continue
        yield page
        if not page.continue_token:
            return
        token = page.continue_token


def items(fetch: FetchPage, page_size: int = PAGE_SIZE) -> Iterator[Any]:
    """Every object of a listing, page by page."""
    for page in pages(fetch, page_size):
        yield from page.items


def dict_page(document: Any) -> Page:
    """The page of a listing answered as a plain document (custom objects, or a raw
    response's JSON)."""
    metadata = document.get("metadata") or {}
    return Page(
        list(document.get("items") or []),
        metadata.get("continue") or None,
        str(metadata.get("resourceVersion") or ""),
    )


def model_page(listed: Any) -> Page:
    """The page of a listing answered as a client model (V1PodList and the like)."""
    metadata = listed.metadata
    return Page(
        list(listed.items or []),
        getattr(metadata, "_continue", None) or None,
        str(getattr(metadata, "resource_version", "") or ""),
    )


def custom_objects(list_function: Callable[..., Any], *args: Any, **kwargs: Any) -> FetchPage:
    """A FetchPage over `list_function(*args, **kwargs)`, e.g. CustomObjectsApi's
    `list_namespaced_custom_object` with group, version, namespace and plural."""

    def fetch(token: str | None, limit: int) -> Page:
        return dict_page(list_function(*args, limit=limit, _continue=token, **kwargs))

    return fetch


def models(list_function: Callable[..., Any], *args: Any, **kwargs: Any) -> FetchPage:
    """A FetchPage over a typed list call, e.g. CoreV1Api's `list_namespaced_pod`."""

    def fetch(token: str | None, limit: int) -> Page:
        return model_page(list_function(*args, limit=limit, _continue=token, **kwargs))

    return fetch
