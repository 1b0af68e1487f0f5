"""An Ingress routes a request from the host to a pod.

ISOBOX_INGRESS_URL names the Ingress controller's HTTP entry point (default
http://127.0.0.1:8081, where `make cluster-up` runs Traefik). Requests carry a per-test Host
header, so the test works with any controller that serves the default IngressClass.
"""

from __future__ import annotations

import urllib.error
import urllib.request
import uuid

import pytest
from kubernetes import client

from tests.helpers.wait import wait_until

from .conftest import INGRESS_URL, NamespaceFactory, pod_manifest, wait_pod_ready

pytestmark = pytest.mark.cluster


def _get(url: str, host: str) -> tuple[int, str]:
    req = urllib.request.Request(url, headers={"Host": host})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, ""
    except (urllib.error.URLError, OSError) as e:
        return -1, str(e)


def test_ingress_routes_host_request_to_pod(
    core: client.CoreV1Api, netv1: client.NetworkingV1Api, make_namespace: NamespaceFactory
) -> None:
    ns = make_namespace()
    token = f"ingress-{uuid.uuid4().hex}"
    cmd = [
        "sh",
        "-c",
        f"mkdir -p /tmp/www && echo {token} > /tmp/www/index.html"
        " && exec httpd -f -p 8080 -h /tmp/www",
    ]
    core.create_namespaced_pod(ns, pod_manifest("web", cmd, labels={"app": "web"}, port=8080))
    core.create_namespaced_service(
        ns,
        client.V1Service(
            metadata=client.V1ObjectMeta(name="web"),
            spec=client.V1ServiceSpec(
                selector={"app": "web"}, ports=[client.V1ServicePort(port=80, target_port=8080)]
            ),
        ),
    )
    host = f"{ns}.isobox.test"
    netv1.create_namespaced_ingress(
        ns,
        client.V1Ingress(
            metadata=client.V1ObjectMeta(name="web"),
            spec=client.V1IngressSpec(
                rules=[
                    client.V1IngressRule(
                        host=host,
                        http=client.V1HTTPIngressRuleValue(
                            paths=[
                                client.V1HTTPIngressPath(
                                    path="/",
                                    path_type="Prefix",
                                    backend=client.V1IngressBackend(
                                        service=client.V1IngressServiceBackend(
                                            name="web", port=client.V1ServiceBackendPort(number=80)
                                        )
                                    ),
                                )
                            ]
                        ),
                    )
                ]
            ),
        ),
    )
    wait_pod_ready(core, ns, "web")

    def routed() -> tuple[int, str] | None:
        r = _get(INGRESS_URL + "/", host)
        return r if r[0] == 200 else None

    _, body = wait_until(routed, 60, f"ingress {INGRESS_URL} Host: {host} -> 200")
    assert body.strip() == token
    # the other side: a Host no Ingress names is not routed to the pod (controller answers 404)
    other_status, other_body = _get(INGRESS_URL + "/", f"other-{host}")
    assert other_status == 404, (other_status, other_body)
    assert token not in other_body
