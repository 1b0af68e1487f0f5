"""Fixtures for the cluster tests: they run against whatever cluster KUBECONFIG names.

Environment:
  KUBECONFIG            the cluster (this repo's `make cluster-up` prints it; kind works too)
  ISOBOX_TEST_IMAGE     test image (default localhost/isobox/busybox:test, built by
                        hack/cluster/images.sh; on kind: `kind load image-archive busybox.tar`)
  ISOBOX_INGRESS_URL    where the Ingress controller listens (default http://127.0.0.1:8081)
  ISOBOX_HELM           helm binary (default: `helm` on PATH)
  ISOBOX_HOST_ADDR      host address pods can reach, for the host-listener test (default: the
                        local address this machine uses to reach the node's InternalIP)
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Iterator

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from tests.helpers.wait import wait_until

TEST_IMAGE = os.environ.get("ISOBOX_TEST_IMAGE", "localhost/isobox/busybox:test")
INGRESS_URL = os.environ.get("ISOBOX_INGRESS_URL", "http://127.0.0.1:8081").rstrip("/")
NS_LABEL = "isobox.dev/test"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/cluster/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.cluster)


@pytest.fixture(scope="session")
def api_client() -> client.ApiClient:
    config.load_kube_config()  # honours KUBECONFIG
    return client.ApiClient()


@pytest.fixture(scope="session")
def core(api_client: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api_client)


@pytest.fixture(scope="session")
def netv1(api_client: client.ApiClient) -> client.NetworkingV1Api:
    return client.NetworkingV1Api(api_client)


NamespaceFactory = Callable[..., str]


@pytest.fixture
def make_namespace(core: client.CoreV1Api) -> Iterator[NamespaceFactory]:
    """Create uniquely named namespaces; all are deleted (and waited for) after the test."""
    created: list[str] = []

    def make(prefix: str = "isobox-ct", labels: dict[str, str] | None = None) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:6]}"
        meta = client.V1ObjectMeta(name=name, labels={NS_LABEL: "cluster", **(labels or {})})
        core.create_namespace(client.V1Namespace(metadata=meta))
        created.append(name)
        # the controller-manager creates the default service account asynchronously
        wait_until(lambda: _sa_exists(core, name), 60, f"default serviceaccount in {name}")
        return name

    yield make
    for name in created:
        try:
            core.delete_namespace(name, grace_period_seconds=0)
        except ApiException as e:
            if e.status != 404:
                raise
    for name in created:
        wait_until(lambda n=name: _ns_gone(core, n), 120, f"namespace {name} deleted")


def _sa_exists(core: client.CoreV1Api, ns: str) -> bool:
    try:
        core.read_namespaced_service_account("default", ns)
    except ApiException as e:
        if e.status == 404:
            return False
        raise
    return True


def _ns_gone(core: client.CoreV1Api, ns: str) -> bool:
    try:
        core.read_namespace(ns)
    except ApiException as e:
        if e.status == 404:
            return True
        raise
    return False


def pod_manifest(
    name: str,
    command: list[str],
    *,
    labels: dict[str, str] | None = None,
    restricted: bool = True,
    restart: str = "Never",
    port: int | None = None,
) -> client.V1Pod:
    """A pod running the test image. restricted=True gives it the shape isobox uses."""
    sc = None
    psc = None
    if restricted:
        psc = client.V1PodSecurityContext(
            run_as_non_root=True,
            run_as_user=10001,
            run_as_group=10001,
            seccomp_profile=client.V1SeccompProfile(type="RuntimeDefault"),
        )
        sc = client.V1SecurityContext(
            allow_privilege_escalation=False,
            capabilities=client.V1Capabilities(drop=["ALL"]),
            read_only_root_filesystem=True,
        )
    container = client.V1Container(
        name="main",
        image=TEST_IMAGE,
        image_pull_policy="IfNotPresent",
        command=command,
        security_context=sc,
        ports=[client.V1ContainerPort(container_port=port)] if port else None,
        volume_mounts=[client.V1VolumeMount(name="tmp", mount_path="/tmp")],
    )
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, labels=labels or {"app": name}),
        spec=client.V1PodSpec(
            containers=[container],
            restart_policy=restart,
            automount_service_account_token=False,
            enable_service_links=False,
            security_context=psc,
            termination_grace_period_seconds=1,
            volumes=[client.V1Volume(name="tmp", empty_dir=client.V1EmptyDirVolumeSource())],
        ),
    )


def wait_pod_phase(
    core: client.CoreV1Api, ns: str, name: str, phases: set[str], timeout: float = 90
) -> client.V1Pod:
    def check() -> client.V1Pod | None:
        pod = core.read_namespaced_pod(name, ns)
        if pod.status.phase in phases:
            return pod
        if pod.status.phase in {"Failed", "Succeeded"} and pod.status.phase not in phases:
            raise AssertionError(
                f"pod {ns}/{name} ended {pod.status.phase}: {pod_debug(core, ns, name)}"
            )
        return None

    try:
        return wait_until(check, timeout, f"pod {ns}/{name} in {phases}")
    except AssertionError as e:
        raise AssertionError(f"{e}\n{pod_debug(core, ns, name)}") from None


def wait_pod_ready(core: client.CoreV1Api, ns: str, name: str, timeout: float = 90) -> client.V1Pod:
    def ready() -> client.V1Pod | None:
        pod = core.read_namespaced_pod(name, ns)
        conds = {c.type: c.status for c in (pod.status.conditions or [])}
        return pod if conds.get("Ready") == "True" and pod.status.pod_ip else None

    try:
        return wait_until(ready, timeout, f"pod {ns}/{name} ready")
    except AssertionError as e:
        raise AssertionError(f"{e}\n{pod_debug(core, ns, name)}") from None


def pod_debug(core: client.CoreV1Api, ns: str, name: str) -> str:
    try:
        pod = core.read_namespaced_pod(name, ns)
        events = core.list_namespaced_event(ns, field_selector=f"involvedObject.name={name}")
        ev = "; ".join(f"{e.reason}: {e.message}" for e in events.items)
        return f"status={pod.status.phase} containers={pod.status.container_statuses} events=[{ev}]"
    except ApiException as e:
        return f"(no debug info: {e.status})"


def node_internal_ip(core: client.CoreV1Api) -> str:
    node = core.list_node().items[0]
    for a in node.status.addresses:
        if a.type == "InternalIP":
            return str(a.address)
    raise AssertionError(f"node {node.metadata.name} has no InternalIP")


def host_address(core: client.CoreV1Api) -> str:
    """An address of THIS machine that pods can reach: the source address the kernel uses to
    reach the node (on the isobox cluster that is the node IP itself; on kind, the host side of
    the kind docker network). Never an outside address."""
    if env := os.environ.get("ISOBOX_HOST_ADDR"):
        return env
    node_ip = node_internal_ip(core)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect((node_ip, 9))  # UDP connect sends nothing; it only picks a route
        return str(s.getsockname()[0])
