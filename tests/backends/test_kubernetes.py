"""What only the cluster backends promise: Pod Security, no API access, the CodeRun audit trail,
operator restarts and retention. Runs on the cluster KUBECONFIG names."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from isobox.kubernetes import manifests
from tests import kube
from tests.helpers.app import api_client
from tests.helpers.backends import SANDBOX_NAMESPACE, backend_settings
from tests.helpers.server import free_port

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def api(sandbox_namespace):
    return kube.api_client()


async def execute(backend: str, code: str, language: str = "bash", **fields) -> dict:
    async with api_client(backend_settings(backend)) as client:
        response = await client.post(
            "/execute", json={"language": language, "code": code, **fields}
        )
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("backend", ["kubernetes", "coderun"])
async def test_no_service_account_token_and_no_api_access(backend, api, operator):
    service = k8s.CoreV1Api(api).read_namespaced_service("kubernetes", "default")
    address, port = service.spec.cluster_ip, service.spec.ports[0].port
    code = (
        "ls /var/run/secrets/kubernetes.io 2>&1 | head -1\n"
        f"timeout 5 bash -c 'echo > /dev/tcp/{address}/{port}' 2>/dev/null && echo API-REACHED || echo api-blocked\n"
    )
    result = await execute(backend, code, timeout=15)
    assert "No such file or directory" in result["stdout"]
    assert "api-blocked" in result["stdout"]
    assert "API-REACHED" not in result["stdout"]


def test_the_namespace_enforces_restricted_and_refuses_a_root_pod(api):
    core = k8s.CoreV1Api(api)
    labels = core.read_namespace(SANDBOX_NAMESPACE).metadata.labels
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    root_pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "root-pod"},
        "spec": {
            "containers": [
                {
                    "name": "c",
                    "image": "localhost/isobox/runtime-bash:0.1.0",
                    "securityContext": {"runAsUser": 0},
                }
            ]
        },
    }
    with pytest.raises(ApiException) as refused:
        core.create_namespaced_pod(SANDBOX_NAMESPACE, root_pod)
    assert refused.value.status == 403
    assert "PodSecurity" in refused.value.body


async def test_kubectl_get_coderuns_shows_the_finished_runs(operator):
    ok = await execute("coderun", "echo fine")
    failed = await execute("coderun", "exit 3")
    table = kube.kubectl("get", "coderuns", "-n", SANDBOX_NAMESPACE)
    header, *rows = table.splitlines()
    assert header.split()[:5] == ["NAME", "LANGUAGE", "PHASE", "EXIT", "DURATION-MS"]
    by_name = {row.split()[0]: row.split() for row in rows}
    assert by_name[f"run-{ok['run_id']}"][1:4] == ["bash", "Succeeded", "0"]
    assert by_name[f"run-{failed['run_id']}"][1:4] == ["bash", "Failed", "3"]


async def test_a_run_survives_an_operator_restart(api, quiet_namespace, tmp_path):
    custom = k8s.CustomObjectsApi(api)
    name = "restart-probe"
    body = manifests.coderun(
        name, quiet_namespace, {"language": "bash", "code": "sleep 6; echo survived"}
    )
    with kube.operator_process(
        quiet_namespace, tmp_path / "first.log", ISOBOX_KUBERNETES_IMAGE_PULL_POLICY="Never"
    ) as first:
        custom.create_namespaced_custom_object(
            manifests.GROUP, manifests.VERSION, quiet_namespace, manifests.CODERUN_PLURAL, body
        )
        kube.wait_until(
            lambda: _phase(custom, quiet_namespace, name) in {"Pending", "Running"},
            60,
            "the run to start",
        )
        first.kill()  # dies mid-run, no chance to clean up
        first.wait()
    await asyncio.sleep(7)  # the pod finishes while no operator runs
    assert _phase(custom, quiet_namespace, name) not in {"Succeeded"}
    with kube.operator_process(
        quiet_namespace, tmp_path / "second.log", ISOBOX_KUBERNETES_IMAGE_PULL_POLICY="Never"
    ):
        kube.wait_until(
            lambda: _phase(custom, quiet_namespace, name) == "Succeeded",
            90,
            "the run to be recorded",
        )
        status = _status(custom, quiet_namespace, name)
        assert status["stdout"] == "survived\n"
        assert status["exitCode"] == 0
        kube.wait_until(
            lambda: not _pods_of(api, quiet_namespace, name), 30, "the pod to be deleted"
        )


def test_the_operator_answers_its_liveness_probe(quiet_namespace, tmp_path):
    port = free_port()
    with kube.operator_process(
        quiet_namespace, tmp_path / "operator.log", ISOBOX_OPERATOR_HEALTH_PORT=str(port)
    ) as process:

        def answers() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        kube.wait_until(answers, 60, "the operator's liveness endpoint")
        assert process.poll() is None


def test_retention_deletes_old_coderuns(api, quiet_namespace, tmp_path):
    custom = k8s.CustomObjectsApi(api)
    name = "retention-probe"
    body = manifests.coderun(
        name, quiet_namespace, {"language": "bash", "code": "echo short-lived"}
    )
    with kube.operator_process(
        quiet_namespace,
        tmp_path / "op.log",
        ISOBOX_KUBERNETES_IMAGE_PULL_POLICY="Never",
        ISOBOX_CODERUN_RETENTION_S="2",
        ISOBOX_CODERUN_GC_INTERVAL_S="1",
    ):
        custom.create_namespaced_custom_object(
            manifests.GROUP, manifests.VERSION, quiet_namespace, manifests.CODERUN_PLURAL, body
        )
        kube.wait_until(
            lambda: _phase(custom, quiet_namespace, name) == "Succeeded", 90, "the run to finish"
        )
        started = time.monotonic()
        kube.wait_until(
            lambda: _phase(custom, quiet_namespace, name) is None, 30, "retention to delete it"
        )
        assert time.monotonic() - started >= 1


@pytest.fixture
def quiet_namespace(api):
    """A sandbox namespace no session operator watches, for tests that drive their own."""
    name = "isobox-test-quiet"
    kube.create_sandbox_namespace(api, name)
    yield name
    kube.delete_namespace(api, name)


def _status(custom: k8s.CustomObjectsApi, namespace: str, name: str) -> dict:
    try:
        found = custom.get_namespaced_custom_object(
            manifests.GROUP, manifests.VERSION, namespace, manifests.CODERUN_PLURAL, name
        )
    except ApiException as error:
        if error.status == 404:
            return {"phase": None}
        raise
    return found.get("status") or {}


def _phase(custom: k8s.CustomObjectsApi, namespace: str, name: str) -> str | None:
    return _status(custom, namespace, name).get("phase")


def _pods_of(api, namespace: str, coderun: str) -> list:
    return (
        k8s.CoreV1Api(api)
        .list_namespaced_pod(namespace, label_selector=f"{manifests.CODERUN_LABEL}={coderun}")
        .items
    )
