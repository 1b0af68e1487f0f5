"""Listings page through with `limit` and `continue`, and start over after 410 Gone.

The paging logic is pure; these tests serve pages from a fake list function, as the API
server does (the cluster test of the retention sweep, tests/backends/test_coderun_limits.py,
pages through real CodeRuns).
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from kubernetes.client.exceptions import ApiException

from isobox.kubernetes import paging
from isobox.kubernetes.watcher import ObjectWatcher


class FakeList:
    """A list call over `names`, answering pages as the API server does: `limit` objects and
    a continue token of the next offset; `gone` continue tokens answer 410 once each."""

    def __init__(self, names: list[str], gone: set[str] | None = None, version: str = "42"):
        self.names = names
        self.gone = set(gone or ())
        self.version = version
        self.calls: list[dict] = []

    def __call__(self, *args, **kwargs) -> dict:
        self.calls.append(kwargs)
        token = kwargs.get("_continue")
        if token in self.gone:
            self.gone.discard(token)
            raise ApiException(status=410, reason="Gone")
        start = int(token or 0)
        limit = kwargs["limit"]
        end = start + limit
        metadata = {"resourceVersion": self.version}
        if end < len(self.names):
            metadata["continue"] = str(end)
        items = [{"metadata": {"name": name}} for name in self.names[start:end]]
        return {"metadata": metadata, "items": items}


NAMES = [f"run-{index}" for index in range(7)]


def names_of(objects) -> list[str]:
    return [item["metadata"]["name"] for item in objects]


def test_a_listing_is_read_a_page_at_a_time_until_no_continue_token():
    fake = FakeList(NAMES)
    listing = paging.custom_objects(fake, "isobox.dev", "v1alpha1", "ns", "coderuns")
    assert names_of(paging.items(listing, page_size=3)) == NAMES
    assert [call["limit"] for call in fake.calls] == [3, 3, 3]
    assert [call["_continue"] for call in fake.calls] == [None, "3", "6"]


def test_a_listing_smaller_than_a_page_is_one_call():
    fake = FakeList(NAMES[:2])
    assert names_of(paging.items(paging.custom_objects(fake))) == NAMES[:2]
    assert len(fake.calls) == 1
    assert fake.calls[0]["limit"] == paging.PAGE_SIZE


def test_an_expired_continue_token_restarts_the_listing_and_misses_nothing():
    fake = FakeList(NAMES, gone={"6"})
    seen = names_of(paging.items(paging.custom_objects(fake), page_size=3))
    assert set(seen) == set(NAMES)  # the first pages again: seen twice, none missed
    assert seen == NAMES[:6] + NAMES
    assert [call["_continue"] for call in fake.calls] == [None, "3", "6", None, "3", "6"]


def test_a_listing_that_keeps_expiring_gives_up():
    fake = FakeList(NAMES)

    def always_gone(*args, **kwargs):
        if kwargs.get("_continue"):
            raise ApiException(status=410, reason="Gone")
        return fake(*args, **kwargs)

    with pytest.raises(ApiException) as raised:
        list(paging.items(paging.custom_objects(always_gone), page_size=3))
    assert raised.value.status == 410
    assert len(fake.calls) == paging.MAX_RESTARTS + 1


@pytest.mark.parametrize("status", [410, 403, 500])
def test_an_error_on_the_first_page_is_raised(status):
    def failing(*args, **kwargs):
        raise ApiException(status=status, reason="no")

    with pytest.raises(ApiException):
        list(paging.items(paging.custom_objects(failing)))


def test_typed_listings_page_through_their_metadata():
    fake = FakeList(NAMES)

    def typed(namespace, **kwargs):
        document = fake(namespace, **kwargs)
        metadata = SimpleNamespace(
            _continue=document["metadata"].get("continue"), resource_version="42"
        )
        items = [SimpleNamespace(name=item["metadata"]["name"]) for item in document["items"]]
        return SimpleNamespace(metadata=metadata, items=items)

    listing = paging.models(typed, "ns", label_selector="a=b")
    assert [pod.name for pod in paging.items(listing, page_size=4)] == NAMES
    assert all(call["label_selector"] == "a=b" for call in fake.calls)
    assert len(fake.calls) == 2


class WatchAsked(Exception):
    pass


def test_the_watcher_lists_in_pages_then_watches_from_the_listings_version():
    fake = FakeList(NAMES, version="777")
    watched: list[dict] = []

    def list_function(namespace, **kwargs):
        if kwargs.get("watch"):
            watched.append(kwargs)
            raise WatchAsked
        return SimpleNamespace(data=json.dumps(fake(namespace, **kwargs)).encode())

    watcher = ObjectWatcher(list_function, "ns", "app=x", page_size=3)
    delivered: list[tuple[str, str]] = []
    watcher._deliver = lambda kind, item: delivered.append((kind, item["metadata"]["name"]))
    with pytest.raises(WatchAsked):
        watcher._list_then_watch()
    assert delivered == [("LISTED", name) for name in NAMES]
    assert [call["limit"] for call in fake.calls] == [3, 3, 3]
    assert watched[0]["resource_version"] == "777"
    assert "limit" not in watched[0]
