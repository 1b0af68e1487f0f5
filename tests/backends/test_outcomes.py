"""One answer to "how did it end", the same on every backend and on every endpoint.

The same edge programs run on each real backend; `/execute`, `/runs/{id}`, the CodeRun phase
(coderun), the Piston status and the metric outcome must all tell the same story, and exit
statuses, signals and reaping must be exact (the launcher is PID 1 everywhere).
"""

from __future__ import annotations

import asyncio
import time

import pytest

from isobox.kubernetes import manifests
from tests.helpers.backends import SANDBOX_NAMESPACE

OOM_CHILD = (
    "import subprocess, sys\n"
    "child = subprocess.run([sys.executable, '-c', 'x = bytearray(400 * 2**20); x[::4096] = b\"1\" * len(x[::4096])'])\n"
    "print('child', child.returncode)\n"
)
EDGES = {
    # name: (request, expected /execute fields, /runs status, CodeRun phase, Piston status, metric)
    "exit 0 after an OOM-killed child": (
        {"language": "python", "code": OOM_CHILD, "memory": 64},
        {"exit_code": 0, "oom_killed": True, "timed_out": False},
        "failed",
        "Failed",
        "SG",
        "oom",
    ),
    "killed by a signal": (
        {"language": "python", "code": "import os; os.abort()"},
        {"exit_code": None, "signal": "SIGABRT", "oom_killed": False},
        "failed",
        "Failed",
        "SG",
        "error",
    ),
    "timed out after output": (
        {
            "language": "python",
            "code": "import time; print('partial', flush=True); time.sleep(60)",
            "timeout": 1,
        },
        {"timed_out": True, "stdout": "partial\n", "exit_code": None},
        "failed",
        "TimedOut",
        "TO",
        "timeout",
    ),
    "compile failure": (
        {"language": "c", "code": "int main(void) { return undefined_name; }"},
        {"exit_code": None, "timed_out": False},
        "failed",
        "Failed",
        "RE",
        "error",
    ),
    "plain success": (
        {"language": "bash", "code": "echo fine"},
        {"exit_code": 0, "stdout": "fine\n", "oom_killed": False},
        "succeeded",
        "Succeeded",
        None,
        "ok",
    ),
}


def metric(text: str, backend: str, language: str, outcome: str) -> float:
    labels = (f'backend="{backend}"', f'language="{language}"', f'outcome="{outcome}"')
    for line in text.splitlines():
        if line.startswith("isobox_executions_total{") and all(label in line for label in labels):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def until_ended(client, run_id: str) -> dict:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        response = await client.get(f"/runs/{run_id}")
        assert response.status_code == 200, response.text
        if response.json()["status"] != "running":
            return response.json()
        await asyncio.sleep(0.25)
    raise AssertionError(f"run {run_id} never ended")


def coderun_phase(run_id: str) -> str | None:
    from kubernetes import client as k8s

    from tests import kube

    found = k8s.CustomObjectsApi(kube.api_client()).get_namespaced_custom_object(
        manifests.GROUP,
        manifests.VERSION,
        SANDBOX_NAMESPACE,
        manifests.CODERUN_PLURAL,
        f"run-{run_id}",
    )
    return (found.get("status") or {}).get("phase")


@pytest.mark.parametrize("edge", sorted(EDGES))
async def test_every_endpoint_agrees_on_how_a_run_ended(client, edge):
    request, fields, run_status, phase, piston_status, outcome = EDGES[edge]
    backend, language = client.backend_name, request["language"]
    before = metric((await client.get("/metrics")).text, backend, language, outcome)

    executed = await client.post("/execute", json=request)
    assert executed.status_code == 200, executed.text
    result = executed.json()
    assert {key: result[key] for key in fields} == fields, result
    if edge == "compile failure":
        assert result["compile"]["exit_code"] == 1
    after = metric((await client.get("/metrics")).text, backend, language, outcome)
    assert after == before + 1

    submitted = await client.post("/runs", json=request)
    assert submitted.status_code == 202, submitted.text
    run = await until_ended(client, submitted.json()["run_id"])
    assert run["status"] == run_status, run
    assert {key: run["result"][key] for key in fields} == fields
    if backend == "coderun":
        assert coderun_phase(run["run_id"]) == phase

    piston_body = {
        "language": language,
        "version": "*",
        "files": [{"content": request["code"]}],
        **({"run_memory_limit": request["memory"] * 2**20} if "memory" in request else {}),
        **({"run_timeout": request["timeout"] * 1000} if "timeout" in request else {}),
    }
    piston = await client.post("/api/v2/execute", json=piston_body)
    assert piston.status_code == 200, piston.text
    answer = piston.json()
    stage = answer["compile"] if edge == "compile failure" else answer["run"]
    assert stage["status"] == piston_status, answer


EXITS = {
    "exit 0": ("import sys; sys.exit(0)", 0, None),
    "exit 1": ("import sys; sys.exit(1)", 1, None),
    "exit 2": ("import sys; sys.exit(2)", 2, None),
    "exit 137": ("import os; os._exit(137)", 137, None),
    "exit 255": ("import sys; sys.exit(255)", 255, None),
    "a real SIGSEGV": ("import ctypes; ctypes.string_at(0)", None, "SIGSEGV"),
    "a self SIGKILL": ("import os, signal; os.kill(os.getpid(), signal.SIGKILL)", None, "SIGKILL"),
}


@pytest.mark.parametrize("case", sorted(EXITS))
async def test_exit_statuses_and_signals_are_exact(client, case):
    code, exit_code, signal = EXITS[case]
    response = await client.post("/execute", json={"language": "python", "code": code})
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["exit_code"], result["signal"]) == (exit_code, signal), result
    assert not result["oom_killed"]
    assert not result["timed_out"]


ORPHAN_ZOMBIE = """
import os, time
child = os.fork()
if child == 0:
    if os.fork() == 0:
        os._exit(0)           # the grandchild ends first: a zombie of the child...
    time.sleep(0.3)
    os._exit(0)               # ...orphaned when the child ends: PID 1 must reap it
os.waitpid(child, 0)
time.sleep(0.5)
zombies = 0
for pid in filter(str.isdigit, os.listdir('/proc')):
    try:
        with open(f'/proc/{pid}/stat') as stat:
            zombies += stat.read().rsplit(')', 1)[1].split()[0] == 'Z'
    except OSError:
        pass
print('zombies', zombies)
"""


async def test_orphaned_zombies_are_reaped(client):
    response = await client.post("/execute", json={"language": "python", "code": ORPHAN_ZOMBIE})
    result = response.json()
    assert (result["stdout"], result["exit_code"]) == ("zombies 0\n", 0), result


async def test_a_program_cannot_stop_its_launcher_with_signals(client):
    code = "for s in TERM INT HUP QUIT USR1 USR2 ALRM PIPE; do kill -$s 1; done; echo alive"
    response = await client.post("/execute", json={"language": "bash", "code": code})
    result = response.json()
    assert (result["stdout"], result["exit_code"]) == ("alive\n", 0), result
