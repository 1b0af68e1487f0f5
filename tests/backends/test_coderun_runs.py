"""In coderun mode an asynchronous run is its CodeRun: submitted at once, run by the operator,
read back by any API instance, deduplicated by the API server, cancelled through the object.

Runs on the cluster KUBECONFIG names, in a namespace of its own with an operator of its own.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from isobox.api.auth import key_digest
from isobox.ids import run_id_for_key
from isobox.kubernetes import manifests
from isobox.settings import Settings
from tests import kube
from tests.helpers.app import api_client
from tests.helpers.backends import backend_settings

pytestmark = pytest.mark.cluster

NAMESPACE = "isobox-test-runs"
LONG = {"language": "bash", "code": "echo started; sleep 25; echo finished", "timeout": 30}


def settings(**changes) -> Settings:
    return backend_settings("coderun").model_copy(
        update={"kubernetes_namespace": NAMESPACE, **changes}
    )


@pytest.fixture(scope="module")
def api():
    return kube.api_client()


@pytest.fixture(scope="module")
def runs_namespace(api):
    with kube.coderun_namespace(api, NAMESPACE) as namespace:
        yield namespace


@pytest.fixture(scope="module")
def runs_operator(runs_namespace, tmp_path_factory):
    log = tmp_path_factory.mktemp("runs-operator") / "operator.log"
    with kube.operator_process(
        runs_namespace, log, ISOBOX_KUBERNETES_IMAGE_PULL_POLICY="Never"
    ) as process:
        yield process


@pytest.fixture(scope="module")
async def runs(runs_operator):
    async with api_client(settings()) as client:
        yield client


@pytest.fixture(scope="module")
async def finished_run(runs) -> dict:
    submitted = await runs.post("/runs", json={"language": "bash", "code": "echo fine; exit 0"})
    assert submitted.status_code == 202, submitted.text
    return await until_ended(runs, submitted.json()["run_id"])


async def until_ended(client, run_id: str, headers: dict | None = None) -> dict:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        response = await client.get(f"/runs/{run_id}", headers=headers)
        assert response.status_code == 200, response.text
        if response.json()["status"] != "running":
            return response.json()
        await asyncio.sleep(0.25)
    raise AssertionError(f"run {run_id} never ended")


def coderun(api, run_id: str) -> dict | None:
    try:
        return k8s.CustomObjectsApi(api).get_namespaced_custom_object(
            manifests.GROUP, manifests.VERSION, NAMESPACE, manifests.CODERUN_PLURAL, f"run-{run_id}"
        )
    except ApiException as error:
        if error.status == 404:
            return None
        raise


def coderun_names(api) -> set[str]:
    listed = k8s.CustomObjectsApi(api).list_namespaced_custom_object(
        manifests.GROUP, manifests.VERSION, NAMESPACE, manifests.CODERUN_PLURAL
    )
    return {item["metadata"]["name"] for item in listed["items"]}


def sandbox_pods(api) -> list[str]:
    pods = k8s.CoreV1Api(api).list_namespaced_pod(
        NAMESPACE, label_selector=manifests.SANDBOX_SELECTOR
    )
    return [pod.metadata.name for pod in pods.items]


def phase(api, run_id: str) -> str | None:
    return ((coderun(api, run_id) or {}).get("status") or {}).get("phase")


async def test_a_run_answers_at_once_then_gives_the_execute_result(api, runs):
    body = {"language": "bash", "code": "sleep 4; echo later; echo warn >&2; exit 3"}
    started = time.monotonic()
    submitted = await runs.post("/runs", json=body)
    answered_s = time.monotonic() - started
    assert submitted.status_code == 202, submitted.text
    assert submitted.json()["status"] == "running"
    assert submitted.json()["result"] is None
    run_id = submitted.json()["run_id"]
    assert phase(api, run_id) in {None, "Pending", "Running"}  # answered, not waited for
    # Well under the program's own 4 s (a fresh CRD can make the very first create slow).
    assert answered_s < 3

    ended, executed = await asyncio.gather(
        until_ended(runs, run_id), runs.post("/execute", json=body)
    )
    assert executed.status_code == 200, executed.text
    assert ended["status"] == "failed"
    assert ended["error"] is None
    result, expected = ended["result"], executed.json()
    assert set(result) == set(expected)
    assert (result["run_id"], result["backend"], result["language"]) == (run_id, "coderun", "bash")
    # What differs between two runs of one program: its id, its timing and its usage.
    ignored = {"run_id", "duration_ms", "cpu_time_ms", "memory_peak_kib", "warm"}
    assert {k: v for k, v in result.items() if k not in ignored} == {
        k: v for k, v in expected.items() if k not in ignored
    }
    assert (result["stdout"], result["stderr"], result["exit_code"]) == ("later\n", "warn\n", 3)


async def test_the_run_is_a_coderun_that_kubectl_lists(api, runs, finished_run):
    run_id = finished_run["run_id"]
    assert finished_run["status"] == "succeeded"
    assert finished_run["result"]["stdout"] == "fine\n"
    assert (
        kube.kubectl(
            "get", "coderun", f"run-{run_id}", "-n", NAMESPACE, "-o", "jsonpath={.spec.runId}"
        )
        == run_id
    )
    rows = kube.kubectl("get", "coderuns", "-n", NAMESPACE).splitlines()[1:]
    by_name = {row.split()[0]: row.split() for row in rows}
    assert by_name[f"run-{run_id}"][1:4] == ["bash", "Succeeded", "0"]


async def test_another_api_instance_reads_a_run_that_outlived_the_one_that_took_it(api, runs):
    async with api_client(settings()) as first:
        submitted = await first.post(
            "/runs", json={"language": "bash", "code": "sleep 3; echo survived"}
        )
    assert submitted.status_code == 202, submitted.text
    run_id = submitted.json()["run_id"]
    # The accepting instance has shut down while the run was still going.
    assert phase(api, run_id) in {None, "Pending", "Running"}
    async with api_client(settings()) as second:
        ended = await until_ended(second, run_id)
    assert ended["status"] == "succeeded"
    assert ended["result"]["stdout"] == "survived\n"
    assert (await runs.get(f"/runs/{run_id}")).json() == ended


async def test_the_same_idempotency_key_returns_the_same_run(api, runs):
    body = {"language": "bash", "code": "echo once"}
    before = coderun_names(api)
    first = await runs.post("/runs", json=body, headers={"Idempotency-Key": "order-42"})
    again = await runs.post("/runs", json=body, headers={"Idempotency-Key": "order-42"})
    other = await runs.post("/runs", json=body, headers={"Idempotency-Key": "order-43"})
    assert {first.status_code, again.status_code, other.status_code} == {202}
    assert first.json()["run_id"] == again.json()["run_id"] != other.json()["run_id"]
    assert coderun_names(api) - before == {
        f"run-{first.json()['run_id']}",
        f"run-{other.json()['run_id']}",
    }
    ended = await until_ended(runs, first.json()["run_id"])
    repeated = await runs.post("/runs", json=body, headers={"Idempotency-Key": "order-42"})
    assert repeated.json() == ended  # a retry after the end gets the result, not a new run
    assert ended["result"]["stdout"] == "once\n"


async def test_two_replicas_given_the_same_key_at_once_make_one_coderun(api, runs_operator):
    body = {"language": "bash", "code": "echo raced"}
    headers = {"Idempotency-Key": "raced-key"}
    before = coderun_names(api)
    async with api_client(settings()) as one, api_client(settings()) as two:
        answers = await asyncio.gather(
            *(client.post("/runs", json=body, headers=headers) for client in (one, two, one, two))
        )
        assert {answer.status_code for answer in answers} == {202}
        run_ids = {answer.json()["run_id"] for answer in answers}
        assert len(run_ids) == 1
        (run_id,) = run_ids
        assert coderun_names(api) - before == {f"run-{run_id}"}
        ended = await until_ended(two, run_id)
    assert (ended["status"], ended["result"]["stdout"]) == ("succeeded", "raced\n")


async def test_idempotency_keys_are_per_client(api, runs_operator):
    keys = settings(api_key_hashes=f"{key_digest('alpha')},{key_digest('beta')}")
    body = {"language": "bash", "code": "echo mine"}
    async with api_client(keys) as client:
        alpha = await client.post(
            "/runs", json=body, headers={"X-API-Key": "alpha", "Idempotency-Key": "shared"}
        )
        beta = await client.post(
            "/runs", json=body, headers={"X-API-Key": "beta", "Idempotency-Key": "shared"}
        )
        alpha_again = await client.post(
            "/runs", json=body, headers={"X-API-Key": "alpha", "Idempotency-Key": "shared"}
        )
        assert {alpha.status_code, beta.status_code, alpha_again.status_code} == {202}
        assert alpha.json()["run_id"] == alpha_again.json()["run_id"] != beta.json()["run_id"]
        for answer, key in ((alpha, "alpha"), (beta, "beta")):
            ended = await until_ended(client, answer.json()["run_id"], {"X-API-Key": key})
            assert ended["result"]["stdout"] == "mine\n"


async def test_cancel_stops_a_long_run_and_its_pod_is_removed(api, runs):
    submitted = await runs.post("/runs", json=LONG)
    run_id = submitted.json()["run_id"]
    await asyncio.to_thread(
        kube.wait_until, lambda: phase(api, run_id) == "Running", 90, "the run to start"
    )
    started = time.monotonic()
    cancelled = await runs.delete(f"/runs/{run_id}")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["result"] is None
    assert time.monotonic() - started < 10  # confirmed by the operator, not waited out
    recorded = coderun(api, run_id)
    assert recorded["spec"]["cancelled"] is True
    assert recorded["status"]["phase"] == "Cancelled"
    await asyncio.to_thread(
        kube.wait_until, lambda: not sandbox_pods(api), 30, "the sandbox pod to be deleted"
    )
    assert (await runs.get(f"/runs/{run_id}")).json()["status"] == "cancelled"
    assert (await runs.delete(f"/runs/{run_id}")).json()["status"] == "cancelled"


async def test_cancelling_an_ended_run_leaves_it_as_it_ended(api, runs, finished_run):
    run_id = finished_run["run_id"]
    answer = await runs.delete(f"/runs/{run_id}")
    assert answer.status_code == 200
    assert answer.json() == finished_run
    assert "cancelled" not in coderun(api, run_id)["spec"]


@pytest.mark.parametrize("run_id", ["nope", "0123456789abcdef0123", "Not_A_Name", "a" * 64])
async def test_an_unknown_run_is_404(runs, run_id):
    for answer in (await runs.get(f"/runs/{run_id}"), await runs.delete(f"/runs/{run_id}")):
        assert answer.status_code == 404
        assert answer.json()["error"] == "not_found"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"language": "bash", "code": "echo", "timeout": 1000}, "timeout"),
        ({"language": "cobol", "code": "x"}, "language"),
        ({"language": "bash"}, "code"),
        ({"language": "bash", "code": "echo", "colour": "red"}, "colour"),
    ],
)
async def test_a_bad_submission_is_422_naming_the_field_and_makes_no_coderun(
    api, runs, body, field
):
    before = coderun_names(api)
    refused = await runs.post("/runs", json=body, headers={"Idempotency-Key": f"bad-{field}"})
    assert refused.status_code == 422, refused.text
    assert refused.json()["field"] == field
    assert coderun_names(api) == before
    assert coderun(api, run_id_for_key(f":bad-{field}")) is None


def test_every_run_ended_and_no_sandbox_pod_is_left(api, runs_operator):
    def all_ended() -> bool:
        listed = k8s.CustomObjectsApi(api).list_namespaced_custom_object(
            manifests.GROUP, manifests.VERSION, NAMESPACE, manifests.CODERUN_PLURAL
        )
        phases = [(item.get("status") or {}).get("phase") for item in listed["items"]]
        return all(p in {"Succeeded", "Failed", "Cancelled"} for p in phases)

    kube.wait_until(all_ended, 90, "every CodeRun to end")
    kube.wait_until(lambda: not sandbox_pods(api), 30, "sandbox pods to be deleted")
