"""The leak detector (tests/helpers/leaks.py) finds what it must: one leak of each kind is
planted, reported, then removed, and then no longer reported.

The session check of tests/backends/conftest.py trusts these functions; this proves they can
fail.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from isobox.sandbox import RUN_ID_LABEL
from tests.helpers import leaks
from tests.helpers.processes import stop_process
from tests.helpers.wait import wait_until

RUNTIME_IMAGE = "localhost/isobox/runtime-python:0.1.0"
PYTHON_SLEEP = ["-c", "import time; time.sleep(120)"]


@contextlib.contextmanager
def stray(argv0: str, *argv: str) -> Iterator[subprocess.Popen[bytes]]:
    """A sleeping Python whose argv[0] is `argv0` (as `exec -a` sets it), stopped afterwards."""
    process = subprocess.Popen([argv0, *PYTHON_SLEEP, *argv], executable=sys.executable)
    try:
        cmdline = Path(f"/proc/{process.pid}/cmdline")
        wait_until(lambda: cmdline.read_bytes().startswith(argv0.encode()), 10, "the stray")
        yield process
    finally:
        stop_process(process)


def reported(found: list[str], pid: int) -> bool:
    return any(line.startswith(f"process {pid}:") for line in found)


@pytest.mark.parametrize("argv0", ["isobox-launch", "/usr/local/bin/isobox-launch", "bwrap"])
def test_a_stray_sandbox_process_is_reported(argv0):
    since = time.time() - 1
    with stray(argv0) as process:
        assert reported(leaks.sandbox_processes(since), process.pid)
        # Only what started since the session began counts.
        assert not reported(leaks.sandbox_processes(time.time() + 60), process.pid)
    assert not reported(leaks.sandbox_processes(since), process.pid)


@pytest.mark.local
def test_a_real_stray_bubblewrap_is_reported():
    since = time.time() - 1
    seconds = f"120.{uuid.uuid4().int % 10**6}"  # marks both of bwrap's processes
    sandbox = ["--die-with-parent", "--ro-bind", "/", "/", "--dev", "/dev", "--unshare-pid"]
    process = subprocess.Popen(["bwrap", *sandbox, "sleep", seconds], start_new_session=True)

    def planted() -> list[str]:
        return [line for line in leaks.sandbox_processes(since) if seconds in line]

    try:
        wait_until(lambda: reported(planted(), process.pid), 10, "bwrap to be reported")
    finally:
        # bwrap's inner processes outlive a terminated outer one: kill its whole group.
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    wait_until(lambda: not planted(), 10, "bwrap to be gone", detail=planted)


def test_a_gvisor_process_counts_only_for_a_docker_container_that_is_isobox_or_gone():
    since = time.time() - 1
    gone = uuid.uuid4().hex * 2  # 64 hex digits, no such container
    docker_root = f"--root={leaks.DOCKER_RUNSC_ROOT}/moby"
    with (
        stray("runsc-gofer", docker_root, gone) as orphan,
        stray("runsc-sandbox", "--root=/run/containerd/runsc/k8s.io", gone) as of_a_pod,
    ):
        found = leaks.sandbox_processes(since)
        assert reported(found, orphan.pid)
        assert not reported(found, of_a_pod.pid)  # the pod check judges those


@pytest.mark.docker
def test_a_stopped_labelled_container_is_reported():
    since = time.time() - 1
    container_id = subprocess.run(
        ["docker", "create", "--label", f"{RUN_ID_LABEL}=leak-test", RUNTIME_IMAGE],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    try:
        found = leaks.sandbox_containers(since)
        assert f"container {container_id[:12]} ({RUNTIME_IMAGE}, created)" in found
        assert leaks.sandbox_containers(time.time() + 60) == []
    finally:
        subprocess.run(["docker", "rm", "-f", container_id], check=True, capture_output=True)
    assert not any(container_id[:12] in line for line in leaks.sandbox_containers(since))


@pytest.fixture
def cgroup_root_name() -> Iterator[str]:
    """A cgroup root of its own, so the session's real backends are not in the picture."""
    name = f"isobox-leak-test-{uuid.uuid4().hex[:8]}"
    yield name
    for root in leaks.cgroup_roots(name):
        for directory in sorted(root.rglob("*"), key=lambda p: -len(p.parts)):
            if directory.is_dir():
                directory.rmdir()
        if root.is_dir():
            root.rmdir()


@pytest.mark.local
def test_a_cgroup_holding_a_process_is_reported(cgroup_root_name):
    since = time.time() - 1
    instance = f"i{os.getpid()}-leaktest"
    slots = [root / instance / "slot-1" for root in leaks.cgroup_roots(cgroup_root_name)]
    for slot in slots:
        slot.mkdir(parents=True)
    process = subprocess.Popen(["sleep", "120"])
    try:
        for slot in slots:
            (slot / "cgroup.procs").write_text(str(process.pid))
        found = leaks.cgroup_leftovers(cgroup_root_name, since)
        for slot in slots:
            assert f"cgroup {slot} holds processes [{process.pid}]" in found
            assert f"cgroup {slot.parent} outlived its backend" in found
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    for slot in slots:
        wait_until(lambda s=slot: not (s / "cgroup.procs").read_text().strip(), 5, "an empty slot")
        slot.rmdir()
        slot.parent.rmdir()
    assert leaks.cgroup_leftovers(cgroup_root_name, since) == []


def test_a_new_temp_dir_is_reported():
    before = leaks.temp_entries()
    made = Path(tempfile.mkdtemp(prefix="isobox-"))
    try:
        assert f"temp dir {made}" in leaks.temp_dirs(before)
    finally:
        shutil.rmtree(made)
    assert f"temp dir {made}" not in leaks.temp_dirs(before)
