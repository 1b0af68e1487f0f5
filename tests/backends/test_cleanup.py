"""After everything above ran, nothing of any run is left on the host.

Named to sort after test_behaviour.py; pytest runs the files of a folder in name order.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import pytest


@pytest.mark.local
def test_no_bubblewrap_process_is_left_and_pooled_cgroups_are_empty():
    processes = subprocess.run(["pgrep", "-x", "bwrap"], capture_output=True, text=True).stdout
    assert processes == ""
    for controller in ("memory", "pids", "cpu"):
        root = Path("/sys/fs/cgroup") / controller / "isobox"
        for slot in root.glob("*/cgroup.procs"):
            assert slot.read_text() == "", slot


@pytest.mark.docker
def test_no_sandbox_container_is_left():
    listed = subprocess.run(
        ["docker", "ps", "-aq", "--filter", "label=isobox.dev/run-id"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert listed.strip() == ""


def test_no_temp_dir_is_left(temp_entries_at_start):
    # Directories only: the kubernetes client keeps kubeconfig certificates in temp *files*
    # until its process exits (a SIGKILLed operator leaves them), which no sandbox causes.
    tmp = Path(tempfile.gettempdir())
    new = {p.name for p in tmp.iterdir() if p.is_dir()} - temp_entries_at_start
    assert sorted(name for name in new if name.startswith(("isobox", "tmp"))) == []


@pytest.mark.cluster
def test_no_sandbox_pod_is_left(sandbox_namespace):
    from kubernetes import client

    from isobox.kubernetes import manifests
    from tests import kube

    core = client.CoreV1Api(kube.api_client())
    kube.wait_until(
        lambda: (
            not core.list_namespaced_pod(
                sandbox_namespace, label_selector=manifests.SANDBOX_SELECTOR
            ).items
        ),
        30,
        "sandbox pods to be deleted",
    )
    assert core.list_namespaced_config_map(sandbox_namespace).items == [] or all(
        item.metadata.name == "kube-root-ca.crt"
        for item in core.list_namespaced_config_map(sandbox_namespace).items
    )
