"""Another NetworkPolicy that opens egress for sandbox pods stops the cluster backends.

NetworkPolicies add up, so an "allow DNS" policy selecting sandbox pods gives every sandbox
DNS whatever isobox's deny-all says. While one is in the sandbox namespace, the kubernetes
backend is unready (naming it) and refuses runs, and the operator ends a CodeRun as Error
(`NetworkPolicyOpensEgress`) without making its pod; once it is gone, runs run again.

Runs on the cluster KUBECONFIG names, in a namespace of its own.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from isobox.api.auth import key_digest
from isobox.kubernetes import manifests
from tests import kube
from tests.helpers.app import api_client
from tests.helpers.backends import backend_settings

pytestmark = pytest.mark.cluster

NAMESPACE = "isobox-test-egress"
KEY = "egress-test-key"
POLICY = "allow-dns"
HELLO = {"language": "bash", "code": "echo isolated"}


def allow_dns(namespace: str) -> dict:
    """The usual "every pod may use DNS" policy, for sandbox pods."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": POLICY, "namespace": namespace},
        "spec": {
            "podSelector": {"matchLabels": {"app.kubernetes.io/component": "sandbox"}},
            "policyTypes": ["Egress"],
            "egress": [
                {"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]}
            ],
        },
    }


@pytest.fixture(scope="module")
def api():
    return kube.api_client()


@pytest.fixture(scope="module")
def egress_namespace(api):
    with kube.coderun_namespace(api, NAMESPACE) as namespace:
        yield namespace


@contextlib.contextmanager
def dns_allowed(api) -> Iterator[None]:
    networking = k8s.NetworkingV1Api(api)
    networking.create_namespaced_network_policy(NAMESPACE, allow_dns(NAMESPACE))
    try:
        yield
    finally:
        with contextlib.suppress(ApiException):
            networking.delete_namespaced_network_policy(POLICY, NAMESPACE)


@pytest.fixture
async def client(egress_namespace):
    settings = backend_settings("kubernetes", pool=False).model_copy(
        update={
            "kubernetes_namespace": NAMESPACE,
            "api_key_hashes": key_digest(KEY),
            "readyz_cache_s": 0,
        }
    )
    async with api_client(settings) as client:
        client.headers["X-API-Key"] = KEY
        yield client


async def test_an_allow_dns_policy_makes_the_kubernetes_backend_refuse(api, client):
    with dns_allowed(api):
        ready = await client.get("/readyz")
        assert ready.status_code == 503, ready.text
        assert POLICY in ready.json()["message"]
        refused = await client.post("/execute", json=HELLO)
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"] == "backend_unavailable"
        assert POLICY in refused.json()["message"]
        pods = k8s.CoreV1Api(api).list_namespaced_pod(
            NAMESPACE, label_selector=manifests.SANDBOX_SELECTOR
        )
        assert not pods.items  # refused before any pod was made

    ready = await client.get("/readyz")
    assert ready.status_code == 200, ready.text
    ran = await client.post("/execute", json=HELLO)
    assert ran.status_code == 200, ran.text
    assert ran.json()["stdout"] == "isolated\n"


def phase_and_reason(custom, name: str) -> tuple[str | None, str | None]:
    found = custom.get_namespaced_custom_object(
        manifests.GROUP, manifests.VERSION, NAMESPACE, manifests.CODERUN_PLURAL, name
    )
    status = found.get("status") or {}
    return status.get("phase"), status.get("reason")


def test_the_operator_ends_a_coderun_as_error_while_a_policy_opens_egress(
    api, egress_namespace, tmp_path
):
    custom = k8s.CustomObjectsApi(api)
    with (
        kube.operator_process(
            NAMESPACE, tmp_path / "operator.log", ISOBOX_KUBERNETES_IMAGE_PULL_POLICY="Never"
        ),
        dns_allowed(api),
    ):
        custom.create_namespaced_custom_object(
            manifests.GROUP,
            manifests.VERSION,
            NAMESPACE,
            manifests.CODERUN_PLURAL,
            manifests.coderun("refused", NAMESPACE, HELLO),
        )
        kube.wait_until(
            lambda: phase_and_reason(custom, "refused")[0] is not None, 60, "the operator"
        )
        assert phase_and_reason(custom, "refused") == ("Error", "NetworkPolicyOpensEgress")
        status = custom.get_namespaced_custom_object(
            manifests.GROUP, manifests.VERSION, NAMESPACE, manifests.CODERUN_PLURAL, "refused"
        )["status"]
        assert POLICY in status["message"]
        assert "podName" not in status  # no pod was made
        pods = k8s.CoreV1Api(api).list_namespaced_pod(
            NAMESPACE, label_selector=f"{manifests.CODERUN_LABEL}=refused"
        )
        assert not pods.items
