"""What bounds a client's CodeRuns, and the sweep that reads them all, on a real cluster.

- `POST /runs` counts the client's unfinished CodeRuns (by their owner label) before making
  another, and answers 429 past ISOBOX_MAX_IN_FLIGHT_CODERUNS_PER_CLIENT; another client is
  not held back. No operator runs here: the CodeRuns stay unfinished, which is what counts.
- The operator's retention sweep reads the namespace's CodeRuns a page at a time and expires
  every one past retention, however many pages they take (driven in-process, page size 3).

Runs on the cluster KUBECONFIG names, in a namespace of its own.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from kubernetes import client as k8s

from isobox.api.auth import key_digest
from isobox.backends.coderun import OWNER_LABEL, owner_label
from isobox.kubernetes import manifests
from isobox.languages import LanguageRegistry
from isobox.operator import Reconciler
from tests import kube
from tests.helpers.app import api_client
from tests.helpers.backends import backend_settings

pytestmark = pytest.mark.cluster

NAMESPACE = "isobox-test-limits"
KEYS = {"alpha": "alpha-limits-key", "beta": "beta-limits-key"}
# Never run (no operator): each stays unfinished for as long as the test needs.
LONG = {"language": "bash", "code": "sleep 25", "timeout": 30}


@pytest.fixture(scope="module")
def api():
    return kube.api_client()


@pytest.fixture(scope="module")
def limits_namespace(api):
    with kube.coderun_namespace(api, NAMESPACE) as namespace:
        yield namespace


@pytest.fixture
def custom(api, limits_namespace):
    custom = k8s.CustomObjectsApi(api)
    yield custom
    custom.delete_collection_namespaced_custom_object(
        manifests.GROUP, manifests.VERSION, NAMESPACE, manifests.CODERUN_PLURAL
    )
    kube.wait_until(lambda: not names(custom), 30, "the test's CodeRuns to go")


def names(custom) -> set[str]:
    listed = custom.list_namespaced_custom_object(
        manifests.GROUP, manifests.VERSION, NAMESPACE, manifests.CODERUN_PLURAL
    )
    return {item["metadata"]["name"] for item in listed["items"]}


def as_(name: str, **headers: str) -> dict[str, str]:
    return {"X-API-Key": KEYS[name], **headers}


async def test_a_client_at_its_limit_of_coderuns_in_flight_gets_429_and_others_do_not(custom):
    settings = backend_settings("coderun").model_copy(
        update={
            "kubernetes_namespace": NAMESPACE,
            "api_key_hashes": ",".join(key_digest(key) for key in KEYS.values()),
            "max_in_flight_coderuns_per_client": 2,
        }
    )
    async with api_client(settings) as client:
        first = await client.post(
            "/runs", json=LONG, headers=as_("alpha", **{"Idempotency-Key": "a1"})
        )
        second = await client.post("/runs", json=LONG, headers=as_("alpha"))
        assert (first.status_code, second.status_code) == (202, 202), second.text

        third = await client.post("/runs", json=LONG, headers=as_("alpha"))
        assert third.status_code == 429, third.text
        assert third.json()["error"] == "too_many_runs"
        assert int(third.headers["Retry-After"]) >= 1
        assert "2 runs in flight" in third.json()["message"]

        # A retried submission of a run it has is no new run: it gets that run.
        retried = await client.post(
            "/runs", json=LONG, headers=as_("alpha", **{"Idempotency-Key": "a1"})
        )
        assert retried.status_code == 202, retried.text
        assert retried.json()["run_id"] == first.json()["run_id"]

        other = await client.post("/runs", json=LONG, headers=as_("beta"))
        assert other.status_code == 202, other.text

        owned = custom.list_namespaced_custom_object(
            manifests.GROUP,
            manifests.VERSION,
            NAMESPACE,
            manifests.CODERUN_PLURAL,
            label_selector=f"{OWNER_LABEL}={owner_label(key_digest(KEYS['alpha']))}",
        )
        assert len(owned["items"]) == 2  # the refused one made no CodeRun

        # A run that ends frees its place.
        custom.patch_namespaced_custom_object_status(
            manifests.GROUP,
            manifests.VERSION,
            NAMESPACE,
            manifests.CODERUN_PLURAL,
            f"run-{second.json()['run_id']}",
            {"status": {"phase": "Cancelled", "finishedAt": stamp(datetime.now(UTC))}},
        )
        again = await client.post("/runs", json=LONG, headers=as_("alpha"))
        assert again.status_code == 202, again.text


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class CountingCustomObjects(k8s.CustomObjectsApi):
    """The real API, counting the list calls and the page size each asked for."""

    def __init__(self, api) -> None:
        super().__init__(api)
        self.limits: list[int | None] = []

    def list_namespaced_custom_object(self, *args, **kwargs):
        self.limits.append(kwargs.get("limit"))
        return super().list_namespaced_custom_object(*args, **kwargs)


def make_coderun(custom, name: str, phase: str | None, finished: datetime | None) -> None:
    body = manifests.coderun(name, NAMESPACE, {"language": "bash", "code": "true"})
    custom.create_namespaced_custom_object(
        manifests.GROUP, manifests.VERSION, NAMESPACE, manifests.CODERUN_PLURAL, body
    )
    if phase is not None:
        status = {"phase": phase, **({"finishedAt": stamp(finished)} if finished else {})}
        custom.patch_namespaced_custom_object_status(
            manifests.GROUP,
            manifests.VERSION,
            NAMESPACE,
            manifests.CODERUN_PLURAL,
            name,
            {"status": status},
        )


def test_the_retention_sweep_pages_through_and_expires_every_old_coderun(api, custom):
    old = datetime.now(UTC) - timedelta(hours=2)
    expired = {f"old-{index}" for index in range(7)}
    for index, name in enumerate(sorted(expired)):
        make_coderun(custom, name, ("Succeeded", "Failed", "Error")[index % 3], old)
    make_coderun(custom, "recent", "Succeeded", datetime.now(UTC))
    make_coderun(custom, "unfinished", "Running", None)
    counting = CountingCustomObjects(api)
    reconciler = Reconciler(
        settings=backend_settings("coderun").model_copy(
            update={"kubernetes_namespace": NAMESPACE, "coderun_retention_s": 3600}
        ),
        languages=LanguageRegistry.load(),
        core=k8s.CoreV1Api(api),
        custom=counting,
    )

    assert reconciler.expire_finished(NAMESPACE, page_size=3) == 7
    assert names(custom) == {"recent", "unfinished"}
    assert counting.limits == [3, 3, 3]  # 9 CodeRuns, three pages
