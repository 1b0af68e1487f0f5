"""Warm pools on the real backends: fast and fresh, every sandbox used once.

Each backend gets its own API with a small python pool; runs that fit claim a warm sandbox,
runs that do not (or find the pool empty) go cold, and nothing of one run reaches the next.
"""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import subprocess
import time

import pytest

from tests.helpers import leaks
from tests.helpers.app import api_client
from tests.helpers.backends import SANDBOX_NAMESPACE, backend_settings
from tests.helpers.pool import LEAVE_TRACES, LOOK_FOR_TRACES, MARK_AND_LIST_TMP
from tests.helpers.server import isobox_server
from tests.helpers.wait import async_wait_until, wait_until

POOLED = [
    pytest.param("local", marks=pytest.mark.local, id="local"),
    pytest.param("docker", marks=pytest.mark.docker, id="docker"),
    pytest.param("kubernetes", marks=pytest.mark.cluster, id="kubernetes"),
]


def pool_settings(backend: str, size: int):
    return backend_settings(backend).model_copy(update={"pool_size": f"python={size}"})


async def ready(client) -> float:
    text = (await client.get("/metrics")).text
    for line in text.splitlines():
        if line.startswith("isobox_pool_ready{") and 'language="python"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def until_ready(client, count: int) -> None:
    async def filled():
        return await ready(client) >= count

    await async_wait_until(filled, 120, f"{count} warm python sandboxes")


async def execute(client, code: str, **fields) -> dict:
    response = await client.post("/execute", json={"language": "python", "code": code, **fields})
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture(scope="module", params=POOLED)
async def pooled(request):
    if request.param == "kubernetes":
        request.getfixturevalue("sandbox_namespace")
    async with api_client(pool_settings(request.param, 2)) as client:
        client.backend_name = request.param
        await until_ready(client, 2)
        yield client


async def test_a_warm_run_sees_nothing_of_the_run_before(pooled):
    first = await execute(pooled, LEAVE_TRACES)
    assert (first["stdout"], first["warm"]) == ("left\n", True), first
    await until_ready(pooled, 2)
    second = await execute(pooled, LOOK_FOR_TRACES)
    assert second["warm"], second
    assert second["stdout"] == "False False False\n", second


async def test_concurrent_warm_runs_never_share_a_sandbox(pooled):
    await until_ready(pooled, 2)
    results = await asyncio.gather(
        *(execute(pooled, MARK_AND_LIST_TMP, args=[name]) for name in ("one", "two"))
    )
    assert all(result["warm"] for result in results), results
    assert [result["stdout"] for result in results] == ["['one']\n", "['two']\n"]


async def warm_claims(client) -> float:
    text = (await client.get("/metrics")).text
    for line in text.splitlines():
        if line.startswith("isobox_pool_claims_total{") and 'warm="true"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_cancelling_a_warm_run_removes_its_sandbox(pooled):
    """The claimed sandbox of a cancelled async run is destroyed, not returned. The run's
    process is found by a marker in its argv (a warm python run's code is a file, so its
    text is on no command line); runc sandboxes, the cluster's too, show on this host."""
    await until_ready(pooled, 1)
    claims = await warm_claims(pooled)
    marker = f"warm-cancel-{os.getpid()}-{time.monotonic_ns()}"
    body = {"language": "python", "code": "import time\ntime.sleep(25)", "args": [marker]}
    submitted = await pooled.post("/runs", json={**body, "timeout": 30})
    assert submitted.status_code == 202, submitted.text
    run_id = submitted.json()["run_id"]
    await asyncio.to_thread(
        wait_until, lambda: leaks.program_processes(marker), 60, "the warm run to start"
    )
    assert await warm_claims(pooled) == claims + 1
    cancelled = await pooled.delete(f"/runs/{run_id}")
    assert cancelled.json()["status"] == "cancelled", cancelled.text
    await asyncio.to_thread(
        wait_until,
        lambda: not leaks.program_processes(marker),
        30,
        "the cancelled warm run's sandbox to be removed",
        detail=lambda: leaks.program_processes(marker),
    )


async def test_a_run_that_does_not_fit_the_pool_goes_cold(pooled):
    result = await execute(pooled, "print('big')", memory=1024)
    assert (result["stdout"], result["warm"]) == ("big\n", False)


async def test_a_warm_run_is_held_to_its_own_smaller_memory_limit(pooled):
    await until_ready(pooled, 1)
    hog = "x = bytearray(120 * 2**20)\nx[::4096] = b'1' * len(x[::4096])\nprint('held')"
    small = await execute(pooled, hog, memory=64)
    assert small["warm"], small
    assert small["oom_killed"], small
    await until_ready(pooled, 1)
    roomy = await execute(pooled, hog, memory=256)
    assert (roomy["stdout"], roomy["oom_killed"], roomy["warm"]) == ("held\n", False, True)


async def test_a_hundred_concurrent_requests_on_a_pool_of_four(request):
    backend = "local"
    # The default slots (64) and queue (64) hold 100 requests (the test backends' 32 slots
    # would not); the pool has 4 warm sandboxes.
    settings = pool_settings(backend, 4).model_copy(
        update={"max_concurrent_runs": 64, "max_queued_runs": 64}
    )
    async with api_client(settings) as client:
        await until_ready(client, 4)

        async def one(index: int) -> tuple[int, bool, float, str]:
            started = time.monotonic()
            response = await client.post(
                "/execute", json={"language": "python", "code": f"print({index})"}
            )
            body = response.json()
            return (
                response.status_code,
                body.get("warm", False),
                time.monotonic() - started,
                body.get("stdout", ""),
            )

        answers = await asyncio.gather(*(one(index) for index in range(100)))
    assert [status for status, *_ in answers] == [200] * 100
    assert [stdout for *_, stdout in answers] == [f"{index}\n" for index in range(100)]
    for warm in (True, False):
        times = sorted(elapsed for _, was_warm, elapsed, _ in answers if was_warm == warm)
        if times:
            p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
            print(
                f"{'warm' if warm else 'cold'}: n={len(times)} p50={statistics.median(times) * 1000:.0f} ms p99={p99 * 1000:.0f} ms"
            )
    assert any(warm for _, warm, _, _ in answers)


@pytest.mark.docker
def test_a_killed_apis_docker_pool_is_removed_by_the_next_start(tmp_path):
    import docker

    from isobox.backends.docker import DockerBackend
    from isobox.settings import Settings

    engine = docker.from_env()
    with isobox_server(
        tmp_path / "serve.log", ISOBOX_BACKEND="docker", ISOBOX_POOL_SIZE="python=2"
    ) as (_, process):

        def pool_containers():
            return engine.containers.list(
                filters={"label": f"isobox.dev/instance={os.uname().nodename}:{process.pid}"}
            )

        wait_until(lambda: len(pool_containers()) == 2, 60, "a full docker pool")
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        assert len(pool_containers()) == 2, "a SIGKILL leaves them; the next start removes them"
        backend = DockerBackend(Settings(backend="docker"))
        asyncio.run(backend.start())
        asyncio.run(backend.close())
        assert pool_containers() == []


@pytest.mark.local
def test_a_killed_apis_local_pool_dies_with_it(tmp_path):
    with isobox_server(
        tmp_path / "serve.log", ISOBOX_BACKEND="local", ISOBOX_POOL_SIZE="python=2"
    ) as (_, process):

        def sandboxes():
            listed = subprocess.run(
                ["pgrep", "-f", "-P", str(process.pid), "bwrap"], capture_output=True, text=True
            )
            return listed.stdout.split()

        wait_until(lambda: len(sandboxes()) >= 2, 60, "a full local pool")
        children = sandboxes()
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        wait_until(
            lambda: not any(os.path.exists(f"/proc/{pid}") for pid in children),
            10,
            "the pool's bwrap processes to die with their parent",
        )


@pytest.mark.cluster
async def test_a_pool_pod_that_failed_its_isolation_check_is_never_claimed(sandbox_namespace):
    """Another policy that opens egress to sandbox pods: the launcher's isolation probe
    connects, it never says ready, the pod never joins the pool, and a run is refused (fail
    closed) rather than run warm or cold with network access."""
    from kubernetes import client as k8s

    from isobox.kubernetes import manifests
    from tests import kube

    namespace = f"{SANDBOX_NAMESPACE}-open"
    with kube.coderun_namespace(kube.api_client(), namespace):
        allow_all = {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "allow-all-egress", "namespace": namespace},
            "spec": {
                "podSelector": {"matchLabels": dict(manifests.SANDBOX_LABELS)},
                "policyTypes": ["Egress"],
                "egress": [{}],
            },
        }
        k8s.NetworkingV1Api(kube.api_client()).create_namespaced_network_policy(
            namespace, allow_all
        )
        settings = pool_settings("kubernetes", 1).model_copy(
            update={"kubernetes_namespace": namespace, "kubernetes_isolation_wait_s": 3}
        )
        async with api_client(settings) as client:
            await asyncio.sleep(15)
            assert await ready(client) == 0
            response = await client.post(
                "/execute", json={"language": "python", "code": "print(1)"}
            )
            assert response.status_code == 503, response.text
            # Refused by the policy check, or failing the launcher's probe if that came first.
            message = response.json()["message"]
            assert "NetworkPolicy" in message or "isolation" in message, message
