"""In coderun mode too, a run belongs to the client that submitted it: the CodeRun records a
digest of the client id in its `isobox.dev/owner` label, and another key's GET and DELETE
answer 404 without touching it. No operator runs here: the CodeRun stays pending, which is
all these requests need.

Runs on the cluster KUBECONFIG names, in a namespace of its own.
"""

from __future__ import annotations

import pytest
from kubernetes import client as k8s

from isobox.api.auth import key_digest
from isobox.backends.coderun import OWNER_LABEL, owner_label
from isobox.kubernetes import manifests
from tests import kube
from tests.helpers.app import api_client
from tests.helpers.backends import backend_settings

pytestmark = pytest.mark.cluster

NAMESPACE = "isobox-test-owners"
KEYS = {"alpha": "alpha-owner-key", "beta": "beta-owner-key"}
PENDING = {"language": "bash", "code": "echo never run", "timeout": 5}


@pytest.fixture(scope="module")
def api():
    return kube.api_client()


@pytest.fixture(scope="module")
def owners_namespace(api):
    with kube.coderun_namespace(api, NAMESPACE) as namespace:
        yield namespace


@pytest.fixture(scope="module")
async def client(owners_namespace):
    settings = backend_settings("coderun").model_copy(
        update={
            "kubernetes_namespace": NAMESPACE,
            "api_key_hashes": ",".join(key_digest(key) for key in KEYS.values()),
        }
    )
    async with api_client(settings) as client:
        yield client


def as_(name: str) -> dict[str, str]:
    return {"X-API-Key": KEYS[name]}


def coderun(api, run_id: str) -> dict:
    return k8s.CustomObjectsApi(api).get_namespaced_custom_object(
        manifests.GROUP, manifests.VERSION, NAMESPACE, manifests.CODERUN_PLURAL, f"run-{run_id}"
    )


async def test_another_key_gets_404_and_leaves_the_coderun_alone(api, client):
    submitted = await client.post("/runs", json=PENDING, headers=as_("alpha"))
    assert submitted.status_code == 202, submitted.text
    run_id = submitted.json()["run_id"]
    label = coderun(api, run_id)["metadata"]["labels"][OWNER_LABEL]
    assert label == owner_label(key_digest(KEYS["alpha"]))
    assert key_digest(KEYS["alpha"])[:16] not in label  # a digest of the id, not the id

    for answer in (
        await client.get(f"/runs/{run_id}", headers=as_("beta")),
        await client.delete(f"/runs/{run_id}", headers=as_("beta")),
    ):
        assert answer.status_code == 404, answer.text
        assert answer.json()["error"] == "not_found"
    assert "cancelled" not in coderun(api, run_id)["spec"]
    mine = await client.get(f"/runs/{run_id}", headers=as_("alpha"))
    assert (mine.status_code, mine.json()["status"]) == (200, "running")


async def test_the_same_idempotency_key_of_two_keys_names_two_runs(client):
    body = {**PENDING, "code": "echo keyed"}
    headers = {"Idempotency-Key": "shared-order"}
    alpha = await client.post("/runs", json=body, headers={**headers, **as_("alpha")})
    beta = await client.post("/runs", json=body, headers={**headers, **as_("beta")})
    assert alpha.json()["run_id"] != beta.json()["run_id"]
    theirs = await client.get(f"/runs/{alpha.json()['run_id']}", headers=as_("beta"))
    assert theirs.status_code == 404
