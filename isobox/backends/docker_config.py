"""The sandbox container's configuration: a pure function, unit-tested for its security shape.

No network, a read-only root, every capability dropped, no privilege gain, a non-root user,
memory without swap, a CPU quota, a process limit, no core dumps, size-limited tmpfs work
directory and /tmp, and a log no bigger than the launcher can legitimately write.
"""

from __future__ import annotations

from typing import Any

from docker.types import LogConfig, Ulimit

from isobox.launcher import bundle_environment, spec_log_read_cap
from isobox.sandbox import (
    INSTANCE_LABEL,
    LANGUAGE_LABEL,
    LAUNCHER_PATH,
    LAUNCHER_TASKS,
    POOL_LABEL,
    RUN_ID_LABEL,
    SANDBOX_UID,
    TMP_MIB,
    WORKDIR,
)
from isobox.spec import RunSpec

GVISOR_RUNTIME = "runsc"
# Tasks of gVisor's own sandbox (Sentry, gofer, their threads) that a host pids limit counts.
GVISOR_TASKS = 64


def container_name(run_id: str) -> str:
    """Named by the run, so a sandbox is found (and removed) even if its create call's answer
    never arrived."""
    return f"isobox-run-{run_id}"


def pool_container_name(sandbox_id: str) -> str:
    return f"isobox-pool-{sandbox_id}"


def container_config(spec: RunSpec, runtime: str = "", instance: str = "") -> dict[str, Any]:
    """Keyword arguments of `containers.create` for the sandbox that runs `spec`, with its
    bundle in the environment; `runtime` names the engine's OCI runtime ("" for its default),
    `instance` the isobox instance whose sandbox it is."""
    config = _sandbox_config(spec, runtime)
    config.update(
        name=container_name(spec.run_id),
        environment=bundle_environment(spec, max_processes=process_limit(spec, runtime)),
        labels={
            RUN_ID_LABEL: spec.run_id,
            LANGUAGE_LABEL: spec.language.name,
            INSTANCE_LABEL: instance,
        },
    )
    return config


def pool_container_config(
    shape: RunSpec, sandbox_id: str, owner: str, max_idle_s: float, runtime: str = ""
) -> dict[str, Any]:
    """A warm sandbox shaped like `shape`: the same container with no bundle, its stdin open
    for the one bundle line a run sends, ending itself after max_idle_s without one.
    `owner` names the isobox instance that made it, so a restarted one can remove the pool
    a dead instance left."""
    config = _sandbox_config(shape, runtime)
    config.update(
        name=pool_container_name(sandbox_id),
        environment={"ISOBOX_BUNDLE_WAIT_MS": str(int(max_idle_s * 1000))},
        labels={
            RUN_ID_LABEL: f"pool-{sandbox_id}",
            LANGUAGE_LABEL: shape.language.name,
            POOL_LABEL: shape.language.name,
            INSTANCE_LABEL: owner,
        },
        stdin_open=True,
    )
    return config


def process_limit(spec: RunSpec, runtime: str) -> int:
    """The program's RLIMIT_NPROC, set by the launcher: under gVisor only, which counts it
    per sandbox (under runc it would count every container of the shared uid 10001)."""
    return spec.limits.pids + LAUNCHER_TASKS if runtime == GVISOR_RUNTIME else 0


def _host_pids_limit(spec: RunSpec, runtime: str) -> int:
    """The container's pids limit. Under gVisor the host counts the sandbox's own tasks and
    about two per guest process, so it is a backstop sized for that (the program's own
    limit is its RLIMIT_NPROC, which gVisor enforces); under runc it is the run's limit."""
    own = spec.limits.pids + LAUNCHER_TASKS
    return 3 * own + GVISOR_TASKS if runtime == GVISOR_RUNTIME else own


def _sandbox_config(spec: RunSpec, runtime: str) -> dict[str, Any]:
    limits = spec.limits
    memory = f"{spec.sandbox_memory_mib}m"
    # A compiled program runs from the work directory, so only then may it hold executables.
    workdir_exec = ",exec" if spec.compile_command is not None else ""
    config: dict[str, Any] = {
        "image": spec.language.image,
        "entrypoint": [LAUNCHER_PATH],
        "command": [],
        "user": f"{SANDBOX_UID}:{SANDBOX_UID}",
        "working_dir": WORKDIR,
        "hostname": "isobox",
        "network_mode": "none",
        "read_only": True,
        "tmpfs": {
            WORKDIR: f"size={limits.scratch_mib}m,uid={SANDBOX_UID},gid={SANDBOX_UID}"
            + workdir_exec,
            "/tmp": f"size={TMP_MIB}m,mode=1777",
        },
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "mem_limit": memory,
        "memswap_limit": memory,
        "nano_cpus": int(limits.cpus * 1e9),
        "pids_limit": _host_pids_limit(spec, runtime),
        "ulimits": [Ulimit(name="core", soft=0, hard=0)],
        "log_config": LogConfig(
            type="json-file",
            config={"max-size": str(spec_log_read_cap(spec)), "max-file": "1"},
        ),
        "stdin_open": False,
        "detach": True,
    }
    if runtime:
        config["runtime"] = runtime
    return config
