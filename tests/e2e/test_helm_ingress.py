"""The user's whole path: `helm install`, POST /execute through the Ingress, audit with
`kubectl get coderuns`, `helm test`, `helm uninstall` leaving nothing but the audit trail.

Runs against the cluster KUBECONFIG names, with the isobox and runtime images loaded on its
nodes and an Ingress controller answering at ISOBOX_INGRESS_URL (default http://127.0.0.1:8081,
the test cluster's Traefik).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests import kube
from tests.helpers.host import host_ipv4_addresses

pytestmark = [pytest.mark.cluster, pytest.mark.e2e]

RELEASE = "isobox"
NAMESPACE = "isobox-e2e"
SANDBOX = "isobox-e2e-sandbox"
HOST = "isobox.e2e.test"
INGRESS_URL = os.environ.get("ISOBOX_INGRESS_URL", "http://127.0.0.1:8081")
CRD = "coderuns.isobox.dev"


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["helm", *args], capture_output=True, text=True, timeout=600)


def adopt_existing_crd() -> None:
    """Let this release own a CRD that an earlier test applied directly (Helm's adoption)."""
    if subprocess.run(["kubectl", "get", "crd", CRD], capture_output=True).returncode != 0:
        return
    subprocess.run(
        ["kubectl", "label", "--overwrite", "crd", CRD, "app.kubernetes.io/managed-by=Helm"],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            "kubectl",
            "annotate",
            "--overwrite",
            "crd",
            CRD,
            f"meta.helm.sh/release-name={RELEASE}",
            f"meta.helm.sh/release-namespace={NAMESPACE}",
        ],
        check=True,
        capture_output=True,
    )


@pytest.fixture(scope="module")
def release():
    api = kube.api_client()
    kube.delete_namespace(api, SANDBOX)
    helm("uninstall", RELEASE, "-n", NAMESPACE, "--wait")
    adopt_existing_crd()
    installed = helm(
        "install",
        RELEASE,
        "charts/isobox",
        "-n",
        NAMESPACE,
        "--create-namespace",
        "--wait",
        "--timeout",
        "5m",
        "--set",
        "backend=coderun",
        "--set",
        f"sandbox.namespace={SANDBOX}",
        "--set",
        "sandbox.imagePullPolicy=Never",
        "--set",
        "image.pullPolicy=Never",
        "--set",
        "api.ingress.enabled=true",
        # No API keys on this closed test machine: anonymous execution must be asked for.
        "--set",
        "api.allowAnonymous=true",
        "--set",
        "api.ingress.className=traefik",
        "--set",
        f"api.ingress.host={HOST}",
    )
    assert installed.returncode == 0, installed.stderr
    yield
    helm("uninstall", RELEASE, "-n", NAMESPACE, "--wait")
    kube.delete_namespace(api, SANDBOX)
    kube.delete_namespace(api, NAMESPACE)


@pytest.fixture(scope="module")
def ingress(release):
    with httpx.Client(base_url=INGRESS_URL, headers={"Host": HOST}, timeout=120) as client:
        kube.wait_until(lambda: _answers(client), 60, "the Ingress route to the API")
        yield client


def _answers(client: httpx.Client) -> bool:
    try:
        return client.get("/readyz").status_code == 200
    except httpx.HTTPError:
        return False


def _release_objects() -> list[str]:
    kinds = "pods,services,deployments,roles,rolebindings,serviceaccounts,configmaps,ingresses"
    left = kube.kubectl("get", kinds, "-n", NAMESPACE, "-o", "name")
    defaults = ("serviceaccount/default", "configmap/kube-root-ca.crt")
    return [line for line in left.splitlines() if not line.startswith(defaults)]


def execute(client: httpx.Client, **body) -> dict:
    response = client.post("/execute", json=body)
    assert response.status_code == 200, response.text
    return response.json()


RUNS: dict[str, dict] = {}


def test_the_readme_python_example_through_the_ingress(ingress):
    RUNS["python"] = execute(ingress, language="python", code="print('Hello from isobox!')")
    assert RUNS["python"]["stdout"] == "Hello from isobox!\n"
    assert RUNS["python"]["backend"] == "coderun"


def test_the_readme_node_example(ingress):
    RUNS["node"] = execute(ingress, language="node", code="console.log('Hello from isobox!')")
    assert RUNS["node"]["stdout"] == "Hello from isobox!\n"


def test_the_readme_error_example(ingress):
    RUNS["error"] = execute(ingress, language="python", code="print(undefined_variable)")
    assert RUNS["error"]["exit_code"] == 1
    assert "NameError" in RUNS["error"]["stderr"]


def test_a_compiled_language_through_the_ingress(ingress):
    code = '#include <stdio.h>\nint main(void) { puts("Hello from C"); return 0; }\n'
    RUNS["c"] = execute(ingress, language="c", code=code)
    assert (RUNS["c"]["stdout"], RUNS["c"]["compile"]["exit_code"]) == ("Hello from C\n", 0)
    broken = execute(ingress, language="c", code="int main(void) { return nope; }")
    assert broken["compile"]["exit_code"] != 0
    assert "nope" in broken["compile"]["stderr"]


def test_an_async_run_is_a_coderun_through_the_ingress(ingress):
    submitted = ingress.post("/runs", json={"language": "bash", "code": "echo later"})
    assert submitted.status_code == 202, submitted.text
    run_id = submitted.json()["run_id"]
    kube.wait_until(
        lambda: ingress.get(f"/runs/{run_id}").json()["status"] != "running", 120, "the run"
    )
    ended = ingress.get(f"/runs/{run_id}").json()
    assert (ended["status"], ended["result"]["stdout"]) == ("succeeded", "later\n")
    kube.kubectl("get", "coderun", f"run-{run_id}", "-n", SANDBOX)


def test_piston_endpoints_through_the_ingress(ingress):
    runtimes = {entry["language"] for entry in ingress.get("/api/v2/runtimes").json()}
    assert {"python", "c", "java"} <= runtimes
    answer = ingress.post(
        "/api/v2/execute",
        json={"language": "python", "version": "*", "files": [{"content": "print(6 * 7)"}]},
    ).json()
    assert (answer["run"]["stdout"], answer["run"]["code"]) == ("42\n", 0)


async def test_an_mcp_call_through_the_ingress(ingress):
    # The MCP SDK's own client on /mcp (streamable HTTP, stateless) through Traefik.
    async with (
        httpx2.AsyncClient(headers={"Host": HOST}, timeout=120) as http,
        Client(streamable_http_client(f"{INGRESS_URL}/mcp", http_client=http)) as client,
    ):
        tools = {tool.name for tool in (await client.list_tools()).tools}
        result = await client.call_tool("execute", {"language": "python", "code": "print(6 * 7)"})
    assert tools == {"execute", "list_languages"}
    assert result.is_error is False
    assert (result.structured_content["stdout"], result.structured_content["backend"]) == (
        "42\n",
        "coderun",
    )


def test_a_bad_request_is_a_4xx_through_the_ingress(ingress):
    response = ingress.post("/execute", json={"language": "cobol", "code": "x"})
    assert response.status_code == 422
    assert response.json()["field"] == "language"


def test_a_timeout(ingress):
    RUNS["timeout"] = execute(ingress, language="python", code="while True: pass", timeout=2)
    assert RUNS["timeout"]["timed_out"] is True


def test_egress_fails(ingress):
    server = socket.create_server(("0.0.0.0", 0))
    port = server.getsockname()[1]
    try:
        code = (
            "import socket, sys\n"
            "for a in sys.argv[2:]:\n"
            "    try: socket.create_connection((a, int(sys.argv[1])), timeout=2); print('REACHED', a)\n"
            "    except OSError: print('blocked', a)\n"
        )
        addresses = [a for a in host_ipv4_addresses() if not a.startswith("127.")]
        result = execute(
            ingress, language="python", code=code, args=[str(port), *addresses], timeout=20
        )
    finally:
        server.close()
    assert "REACHED" not in result["stdout"]
    assert result["stdout"].count("blocked") == len(addresses)


def test_kubectl_get_coderuns_lists_the_runs(ingress):
    table = kube.kubectl("get", "coderuns", "-n", SANDBOX, "-o", "json")
    by_name = {item["metadata"]["name"]: item for item in json.loads(table)["items"]}
    expected = {
        "python": ("Succeeded", 0),
        "node": ("Succeeded", 0),
        "error": ("Failed", 1),
        "c": ("Succeeded", 0),
    }
    for key, (phase, exit_code) in expected.items():
        status = by_name[f"run-{RUNS[key]['run_id']}"]["status"]
        assert (status["phase"], status["exitCode"]) == (phase, exit_code)
    assert by_name[f"run-{RUNS['timeout']['run_id']}"]["status"]["phase"] == "TimedOut"
    printed = kube.kubectl("get", "coderuns", "-n", SANDBOX)
    assert printed.splitlines()[0].split()[:3] == ["NAME", "LANGUAGE", "PHASE"]


def test_the_operator_answers_its_liveness_probe(ingress):
    pods = kube.kubectl(
        "get", "pods", "-n", NAMESPACE, "-l", "app.kubernetes.io/component=operator", "-o", "json"
    )
    (pod,) = json.loads(pods)["items"]
    name = pod["metadata"]["name"]
    # Through the API server's pod proxy: the same port and path the kubelet probes.
    health = kube.kubectl(
        "get", "--raw", f"/api/v1/namespaces/{NAMESPACE}/pods/{name}:8080/proxy/healthz"
    )
    assert json.loads(health) == {}
    assert pod["status"]["containerStatuses"][0]["restartCount"] == 0


def test_a_python_run_gets_a_warm_pod_of_the_operators_pool(ingress):
    kube.wait_until(lambda: kube.warm_pods(SANDBOX), 120, "a warm python pod of the operator")
    result = execute(ingress, language="python", code="print('warm')")
    assert (result["stdout"], result["warm"]) == ("warm\n", True), result
    coderun = json.loads(
        kube.kubectl("get", "coderun", f"run-{result['run_id']}", "-n", SANDBOX, "-o", "json")
    )
    assert coderun["status"]["warm"] is True
    assert coderun["status"]["podName"].startswith("isobox-pool-")


def test_a_deleted_operator_pods_pool_goes_with_it(ingress):
    """The operator Pod is deleted (as by a node drain or a crash): within a minute its warm
    pods are gone, deleted by it on the way out or by its replacement's first sweep (they
    name it as their owner), and the replacement's own pool is ready."""
    kube.wait_until(lambda: kube.warm_pods(SANDBOX), 120, "a warm python pod of the operator")
    before = set(kube.warm_pods(SANDBOX, ready=False)) | set(
        kube.warm_pods(SANDBOX, "node", ready=False)
    )
    selector = "app.kubernetes.io/component=operator"
    kube.kubectl("delete", "pod", "-n", NAMESPACE, "-l", selector, "--grace-period=0", "--force")
    kube.wait_until(
        lambda: not before & set(kube.warm_pods(SANDBOX, ready=False)),
        60,
        "the deleted operator's warm pods to go",
    )
    kube.wait_until(lambda: kube.warm_pods(SANDBOX), 120, "the new operator's warm pods")
    result = execute(ingress, language="python", code="print('again')")
    assert (result["stdout"], result["warm"]) == ("again\n", True), result


def test_helm_test_runs_a_hello_world(ingress):
    tested = helm("test", RELEASE, "-n", NAMESPACE, "--timeout", "3m")
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_uninstall_leaves_only_the_audit_trail(ingress):
    removed = helm("uninstall", RELEASE, "-n", NAMESPACE, "--wait")
    assert removed.returncode == 0, removed.stderr
    kube.wait_until(lambda: _release_objects() == [], 120, "the release's objects to go")
    # The idle warm pods go with the deny-all policy that owns them (garbage collection).
    kube.wait_until(
        lambda: kube.kubectl("get", "pods", "-n", SANDBOX, "-o", "name").strip() == "",
        60,
        "the sandbox pods to go",
    )
    release_label = f"app.kubernetes.io/instance={RELEASE}"
    assert (
        kube.kubectl("get", "clusterroles,clusterrolebindings", "-l", release_label, "-o", "name")
        == ""
    )
    assert (
        kube.kubectl("get", "crd", CRD, "-o", "name").strip()
        == f"customresourcedefinition.apiextensions.k8s.io/{CRD}"
    )
    kept = json.loads(kube.kubectl("get", "coderuns", "-n", SANDBOX, "-o", "json"))["items"]
    assert {f"run-{RUNS[k]['run_id']}" for k in RUNS} <= {i["metadata"]["name"] for i in kept}


# gVisor once through the chart: a second, small release (backend kubernetes, so it owns no CRD
# beside the coderun release above; no warm pool) with sandbox.runtimeClassName=gvisor, the
# test cluster's RuntimeClass (handler runsc).
GVISOR_RELEASE = "isobox-gvisor"
GVISOR_NAMESPACE = "isobox-e2e-gvisor"
GVISOR_SANDBOX = "isobox-e2e-gvisor-sandbox"
GVISOR_HOST = "isobox-gvisor.e2e.test"


@pytest.fixture(scope="module")
def gvisor_ingress():
    api = kube.api_client()
    helm("uninstall", GVISOR_RELEASE, "-n", GVISOR_NAMESPACE, "--wait")
    kube.delete_namespace(api, GVISOR_SANDBOX)
    settings = {
        "backend": "kubernetes",
        "sandbox.namespace": GVISOR_SANDBOX,
        "sandbox.runtimeClassName": "gvisor",
        "sandbox.pool.size": "",
        "sandbox.imagePullPolicy": "Never",
        "image.pullPolicy": "Never",
        "api.ingress.enabled": "true",
        "api.allowAnonymous": "true",
        "api.ingress.className": "traefik",
        "api.ingress.host": GVISOR_HOST,
    }
    sets = [arg for key, value in settings.items() for arg in ("--set", f"{key}={value}")]
    installed = helm(
        "install",
        GVISOR_RELEASE,
        "charts/isobox",
        "-n",
        GVISOR_NAMESPACE,
        "--create-namespace",
        "--wait",
        "--timeout",
        "5m",
        *sets,
    )
    assert installed.returncode == 0, installed.stderr
    try:
        with httpx.Client(
            base_url=INGRESS_URL, headers={"Host": GVISOR_HOST}, timeout=180
        ) as client:
            kube.wait_until(lambda: _answers(client), 120, "the Ingress route to the gVisor API")
            yield client
    finally:
        helm("uninstall", GVISOR_RELEASE, "-n", GVISOR_NAMESPACE, "--wait")
        kube.delete_namespace(api, GVISOR_SANDBOX)
        kube.delete_namespace(api, GVISOR_NAMESPACE)


def test_a_run_under_gvisor_through_the_ingress(gvisor_ingress):
    ready = gvisor_ingress.get("/readyz").json()
    assert (ready["backend"], ready["runtime"]) == ("kubernetes", "runsc"), ready
    result = execute(gvisor_ingress, language="bash", code="cat /proc/version")
    assert (result["runtime"], result["exit_code"]) == ("runsc", 0), result
    # gVisor's Sentry names a kernel of its own, never the node's: 4.4.0 in older releases,
    # 4.19.0-gvisor in the runsc hack/cluster/versions.env pins.
    release = result["stdout"].split()[2]
    assert result["stdout"].startswith("Linux version "), result
    assert release == "4.4.0" or release.endswith("-gvisor"), result
    assert release != os.uname().release, result
