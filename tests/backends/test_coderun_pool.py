"""The operator's warm pool (coderun mode), on the real cluster.

A CodeRun whose limits fit claims a warm pod of the operator's pool; the operator hands the pod
over to it (the CodeRun's label and ownerReference, as a pod made for it has) and sends the
bundle through pods/attach, then records the result from the pod's log as for any CodeRun.
The pod is used once and deleted; the pool refills; what does not fit, or finds no warm pod,
goes cold. The operator deletes its pool on shutdown, and a killed operator's pool is removed
by the next operator's start.
"""

from __future__ import annotations

import asyncio
import signal
import time

import pytest
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from isobox.kubernetes import manifests
from tests import kube
from tests.helpers.app import api_client
from tests.helpers.backends import POOL_NAMESPACE, operator_pool_settings
from tests.helpers.pool import LEAVE_TRACES, LOOK_FOR_TRACES, MARK_AND_LIST_TMP
from tests.helpers.processes import stop_process
from tests.helpers.wait import wait_until

pytestmark = pytest.mark.cluster


def pod_exists(namespace: str, name: str) -> bool:
    try:
        k8s.CoreV1Api(kube.api_client()).read_namespaced_pod(name, namespace)
    except ApiException as error:
        if error.status == 404:
            return False
        raise
    return True


def coderun_status(namespace: str, run_id: str) -> dict:
    found = k8s.CustomObjectsApi(kube.api_client()).get_namespaced_custom_object(
        manifests.GROUP, manifests.VERSION, namespace, manifests.CODERUN_PLURAL, f"run-{run_id}"
    )
    return found.get("status") or {}


def until_ready(count: int, namespace: str = POOL_NAMESPACE) -> list[str]:
    return wait_until(
        lambda: (found := kube.warm_pods(namespace)) and len(found) >= count and found,
        120,
        f"{count} warm python pods in {namespace}",
        interval_s=0.5,
    )


@pytest.fixture(scope="module")
async def runs(pool_operator):
    async with api_client(operator_pool_settings()) as client:
        yield client


async def execute(client, code: str, language: str = "python", **fields) -> dict:
    response = await client.post("/execute", json={"language": language, "code": code, **fields})
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_coderun_that_fits_runs_in_a_warm_pod_used_once(runs):
    before = await asyncio.to_thread(until_ready, 2)
    result = await execute(runs, "print('warm hello')")
    assert (result["stdout"], result["exit_code"], result["warm"]) == ("warm hello\n", 0, True)
    status = coderun_status(POOL_NAMESPACE, result["run_id"])
    # The audit record says so too, and names the pod of the pool that ran it.
    assert (status["phase"], status["warm"]) == ("Succeeded", True), status
    assert status["podName"] in before, (status["podName"], before)
    await asyncio.to_thread(
        wait_until,
        lambda: not pod_exists(POOL_NAMESPACE, status["podName"]),
        30,
        "the used warm pod to be deleted",
    )
    refilled = await asyncio.to_thread(until_ready, 2)
    assert status["podName"] not in refilled  # never back in the pool


async def test_a_warm_coderun_sees_nothing_of_the_run_before(runs):
    await asyncio.to_thread(until_ready, 2)
    first = await execute(runs, LEAVE_TRACES)
    assert (first["stdout"], first["warm"]) == ("left\n", True), first
    await asyncio.to_thread(until_ready, 2)
    second = await execute(runs, LOOK_FOR_TRACES)
    assert second["warm"], second
    assert second["stdout"] == "False False False\n", second
    pods = {coderun_status(POOL_NAMESPACE, r["run_id"])["podName"] for r in (first, second)}
    assert len(pods) == 2


async def test_concurrent_warm_coderuns_never_share_a_pod(runs):
    await asyncio.to_thread(until_ready, 2)
    results = await asyncio.gather(
        *(execute(runs, MARK_AND_LIST_TMP, args=[name]) for name in ("one", "two"))
    )
    assert all(result["warm"] for result in results), results
    assert [result["stdout"] for result in results] == ["['one']\n", "['two']\n"]


async def test_a_coderun_that_does_not_fit_or_has_no_pool_goes_cold(runs):
    await asyncio.to_thread(until_ready, 1)
    big = await execute(runs, "print('big')", memory=1024)
    shell = await execute(runs, "echo cold", language="bash")
    for result, stdout in ((big, "big\n"), (shell, "cold\n")):
        assert (result["stdout"], result["warm"]) == (stdout, False), result
        status = coderun_status(POOL_NAMESPACE, result["run_id"])
        assert status["warm"] is False
        assert not status["podName"].startswith("isobox-pool-"), status


async def test_a_warm_coderun_is_held_to_its_own_smaller_memory_limit(runs):
    await asyncio.to_thread(until_ready, 1)
    hog = "x = bytearray(120 * 2**20)\nx[::4096] = b'1' * len(x[::4096])\nprint('held')"
    small = await execute(runs, hog, memory=64)
    assert (small["warm"], small["oom_killed"]) == (True, True), small
    assert small["verdict"] == "memory_limit_exceeded"


async def test_cancelling_a_warm_coderun_deletes_its_pod(runs):
    await asyncio.to_thread(until_ready, 1)
    submitted = await runs.post(
        "/runs", json={"language": "python", "code": "import time\ntime.sleep(25)", "timeout": 30}
    )
    assert submitted.status_code == 202, submitted.text
    run_id = submitted.json()["run_id"]
    status = await asyncio.to_thread(
        wait_until,
        lambda: (
            (found := coderun_status(POOL_NAMESPACE, run_id)).get("phase") == "Running" and found
        ),
        60,
        "the warm run to be running",
    )
    assert status["warm"] is True, status
    cancelled = await runs.delete(f"/runs/{run_id}")
    assert cancelled.status_code == 200, cancelled.text
    await asyncio.to_thread(
        wait_until,
        lambda: not pod_exists(POOL_NAMESPACE, status["podName"]),
        30,
        "the cancelled run's warm pod to be deleted",
    )
    assert coderun_status(POOL_NAMESPACE, run_id)["phase"] == "Cancelled"


def test_a_stopped_operator_deletes_its_pool_and_a_killed_ones_goes_at_the_next_start(tmp_path):
    namespace = f"{POOL_NAMESPACE}-owner"
    with kube.coderun_namespace(kube.api_client(), namespace):
        pool = {"ISOBOX_POOL_SIZE": "python=1", "ISOBOX_KUBERNETES_IMAGE_PULL_POLICY": "Never"}
        with kube.operator_process(namespace, tmp_path / "killed.log", **pool) as killed:
            (orphan,) = until_ready(1, namespace)
            killed.send_signal(signal.SIGKILL)
            killed.wait(timeout=10)
        assert pod_exists(namespace, orphan)  # nobody was left to delete it
        with kube.operator_process(namespace, tmp_path / "next.log", **pool) as successor:
            wait_until(
                lambda: not pod_exists(namespace, orphan),
                60,
                "the killed operator's warm pod to be removed by the next one",
            )
            (own,) = until_ready(1, namespace)
            stopped_at = time.monotonic()
            stop_process(successor)
            assert successor.returncode is not None
        wait_until(lambda: not pod_exists(namespace, own), 30, "the stopped operator's pool to go")
        assert time.monotonic() - stopped_at < 40
