"""What isobox runs can leave behind on this host, each kind found by one function returning a
list of leftovers (human-readable lines; empty: nothing is left).

Used by the session check of tests/backends/conftest.py and by the test that plants one leak of
each kind to prove the detection (tests/backends/test_leak_detector.py).

Each function takes `since` (epoch seconds): only what was created at or after it counts, so a
session judges what its own tests made rather than what another isobox on the host runs (a
concurrent test session on the same host can still show up: run one at a time).
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import tempfile
import time
from datetime import datetime
from pathlib import Path

from isobox.backends.cgroups import CGROUP_FS, INSTANCE_PREFIX
from isobox.sandbox import LAUNCHER_PATH, RUN_ID_LABEL

# argv[0] (its last path component) of processes that only exist for a sandbox: bubblewrap,
# the launcher (host path, and where the local backend binds it in bwrap), gVisor's sandbox
# and gofer processes.
SANDBOX_PROGRAMS = frozenset({"bwrap", "isobox-launch", "launch", "runsc-sandbox", "runsc-gofer"})
RUNSC_PROGRAMS = frozenset({"runsc-sandbox", "runsc-gofer"})
# runsc processes under Docker's runtime root belong to a Docker container; those of a
# Kubernetes pod (containerd's root) are judged by the pod check.
DOCKER_RUNSC_ROOT = "/var/run/docker/runtime-runsc"
CONTAINER_ID = re.compile(r"\b[0-9a-f]{64}\b")
CONTROLLERS_V1 = ("memory", "pids", "cpu")
TEMP_PREFIXES = ("isobox", "tmp")


# Processes


def sandbox_processes(
    since: float | None = None,
    proc: Path = Path("/proc"),
    isobox_container_ids: frozenset[str] | None = None,
) -> list[str]:
    """Sandbox processes (bwrap, the launcher, gVisor's runsc-sandbox and runsc-gofer) started
    at or after `since`. A runsc process counts when it serves a Docker container that is an
    isobox sandbox (`isobox_container_ids`, default: asked from Docker) or that no longer
    exists."""
    boot = _boot_time(proc)
    found = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        argv = _argv(entry)
        if not argv or (Path(argv[0]).name not in SANDBOX_PROGRAMS and argv[0] != LAUNCHER_PATH):
            continue
        started = _start_time(entry, boot)
        if since is not None and (started is None or started < since):
            continue
        if Path(argv[0]).name in RUNSC_PROGRAMS and not _isobox_runsc(argv, isobox_container_ids):
            continue
        found.append(f"process {entry.name}: {' '.join(argv)[:200]}")
    return found


def _argv(entry: Path) -> list[str]:
    try:
        raw = (entry / "cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _boot_time(proc: Path) -> float:
    """When this host booted, in epoch seconds (to the clock tick, unlike /proc/stat's btime)."""
    uptime = float((proc / "uptime").read_text().split()[0])
    return time.time() - uptime


def _start_time(entry: Path, boot: float) -> float | None:
    try:
        stat = (entry / "stat").read_text()
    except OSError:
        return None
    # Fields after the command name, which is in parentheses and may hold spaces.
    fields = stat[stat.rindex(")") + 2 :].split()
    return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")


def _isobox_runsc(argv: list[str], isobox_container_ids: frozenset[str] | None) -> bool:
    command = " ".join(argv)
    if DOCKER_RUNSC_ROOT not in command:
        return False
    ids = set(CONTAINER_ID.findall(command))
    if isobox_container_ids is None:
        isobox_container_ids = frozenset(_docker_ids(f"label={RUN_ID_LABEL}"))
    live = _docker_ids(None)
    return any(cid in isobox_container_ids or cid not in live for cid in ids)


def _docker_ids(label_filter: str | None) -> set[str]:
    if shutil.which("docker") is None:
        return set()
    argv = ["docker", "ps", "-aq", "--no-trunc"]
    if label_filter:
        argv += ["--filter", label_filter]
    done = subprocess.run(argv, capture_output=True, text=True)
    return set(done.stdout.split()) if done.returncode == 0 else set()


# Docker containers


def docker_answers() -> bool:
    """Whether a Docker engine answers here (only then can containers be left)."""
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True).returncode == 0


def sandbox_containers(since: float | None = None) -> list[str]:
    """Containers, running or not, labelled `isobox.dev/run-id` and created at or after
    `since`."""
    ids = subprocess.run(
        ["docker", "ps", "-aq", "--no-trunc", "--filter", f"label={RUN_ID_LABEL}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    if not ids:
        return []
    template = "{{.Id}} {{.Created}} {{.Config.Image}} {{.State.Status}}"
    described = subprocess.run(
        ["docker", "inspect", "--format", template, *ids], capture_output=True, text=True
    ).stdout.splitlines()
    found = []
    for line in described:
        fields = line.split(" ")
        if len(fields) != 4:  # removed between `ps` and `inspect`: gone, so no leak
            continue
        container_id, created, image, status = fields
        if since is not None and _docker_time(created) < since:
            continue
        found.append(f"container {container_id[:12]} ({image}, {status})")
    return found


def _docker_time(stamp: str) -> float:
    """Docker's RFC 3339 time with nanoseconds, in epoch seconds."""
    match = re.fullmatch(r"(.+?\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)", stamp)
    assert match is not None, stamp
    base, fraction, zone = match.groups()
    moment = datetime.fromisoformat(base + ("+00:00" if zone == "Z" else zone))
    return moment.timestamp() + float(fraction or 0)


# Kubernetes pods


def cluster_configured() -> bool:
    """Whether KUBECONFIG names a cluster (the cluster tests' condition)."""
    path = os.environ.get("KUBECONFIG")
    return bool(path) and Path(path).is_file()


def sandbox_pods(since: float | None = None) -> list[str]:
    """Pods labelled `isobox.dev/run-id` in any namespace, created at or after `since`.

    A creation timestamp has whole seconds, so a pod made in the same second as `since` counts
    (comparing the exact float missed a pod created 0.3 s after it)."""
    from kubernetes import client

    from tests import kube

    pods = client.CoreV1Api(kube.api_client()).list_pod_for_all_namespaces(
        label_selector=RUN_ID_LABEL
    )
    return [
        f"pod {pod.metadata.namespace}/{pod.metadata.name} ({pod.status.phase})"
        for pod in pods.items
        if since is None or pod.metadata.creation_timestamp.timestamp() >= math.floor(since)
    ]


# Local backend cgroups


def cgroup_roots(root_name: str, cgroup_fs: Path = CGROUP_FS) -> list[Path]:
    """Where the local backend keeps its instances (`settings.local_cgroup_root`)."""
    if (cgroup_fs / "cgroup.controllers").exists():
        return [cgroup_fs / root_name]
    return [cgroup_fs / controller / root_name for controller in CONTROLLERS_V1]


def cgroup_leftovers(
    root_name: str, since: float | None = None, cgroup_fs: Path = CGROUP_FS
) -> list[str]:
    """Under each controller's `<root_name>/`, the instance directories made at or after `since`
    that outlived their backend: their owner process is gone, or it is this one (whose backends
    all closed, which removes them). Every `slot-N` of such an instance, and of any instance
    whose owner is gone, that still holds a process is listed with its pids."""
    found = []
    for root in cgroup_roots(root_name, cgroup_fs):
        if not root.is_dir():
            continue
        for instance in sorted(path for path in root.iterdir() if path.is_dir()):
            owner = _owner(instance.name)
            if owner is not None and owner != os.getpid() and _alive(owner):
                continue  # a live backend of another process: its runs are its business
            for slot in sorted(instance.glob("slot-*")):
                pids = _procs(slot)
                if pids:
                    found.append(f"cgroup {slot} holds processes {pids}")
            if since is None or instance.stat().st_mtime >= since:
                found.append(f"cgroup {instance} outlived its backend")
    return found


def _owner(instance: str) -> int | None:
    if not instance.startswith(INSTANCE_PREFIX):
        return None
    pid = instance[len(INSTANCE_PREFIX) :].split("-", 1)[0]
    return int(pid) if pid.isdigit() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _procs(cgroup: Path) -> list[int]:
    try:
        return [int(pid) for pid in (cgroup / "cgroup.procs").read_text().split()]
    except OSError:
        return []


# Temp dirs


def temp_entries() -> set[str]:
    """The names in the temp directory now (a baseline for `temp_dirs`)."""
    return {path.name for path in Path(tempfile.gettempdir()).iterdir()}


def temp_dirs(before: set[str]) -> list[str]:
    """Directories named isobox* or tmp* (tempfile's default) in the temp directory that were
    not there `before`. isobox itself makes none (work files are in-memory); a sandbox or a
    backend that did would show here. Directories only: the kubernetes client keeps kubeconfig
    certificates in temp *files* until its process exits."""
    tmp = Path(tempfile.gettempdir())
    return [
        f"temp dir {tmp / name}"
        for name in sorted(temp_entries() - before)
        if name.startswith(TEMP_PREFIXES) and (tmp / name).is_dir()
    ]


# One run's sandbox


def program_processes(program: str, proc: Path = Path("/proc")) -> list[str]:
    """Processes whose command line contains `program` (a run's own command, e.g. a sleep of
    an unusual length), as `pgrep -f` finds them; a runc sandbox's processes show on the host."""
    found = []
    for entry in proc.iterdir():
        if entry.name.isdigit() and entry.name != str(os.getpid()):
            command = " ".join(_argv(entry))
            if program in command:
                found.append(f"process {entry.name}: {command[:200]}")
    return found


def run_sandboxes(backend: str, program: str, since: float | None = None) -> list[str]:
    """What is left of the run of `program` on `backend`: its processes (local, docker; warm
    pool sandboxes waiting for a run are not it), or sandbox pods made since `since`."""
    if backend in {"local", "docker"}:
        return program_processes(program)
    if backend in {"kubernetes", "coderun"}:
        return sandbox_pods(since)
    raise ValueError(f"no sandboxes known for backend {backend!r}")
