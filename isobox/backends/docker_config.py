"""The sandbox container's configuration: a pure function, unit-tested for its security shape.

No network, a read-only root, every capability dropped, no privilege gain, a non-root user,
memory without swap, a CPU quota, a process limit, no core dumps, size-limited tmpfs work
directory and /tmp, and a log no bigger than the launcher can legitimately write.
"""

from __future__ import annotations

from typing import Any

from docker.types import LogConfig, Ulimit

from isobox.launcher import bundle_environment, log_read_cap
from isobox.sandbox import (
    LANGUAGE_LABEL,
    LAUNCHER_PATH,
    RUN_ID_LABEL,
    SANDBOX_UID,
    TMP_MIB,
    WORKDIR,
)
from isobox.spec import RunSpec


def container_name(run_id: str) -> str:
    """Named by the run, so a sandbox is found (and removed) even if its create call's answer
    never arrived."""
    return f"isobox-run-{run_id}"


def container_config(spec: RunSpec, runtime: str = "") -> dict[str, Any]:
    """Keyword arguments of `containers.create` for the sandbox that runs `spec`, with its
    bundle in the environment; `runtime` names the engine's OCI runtime ("" for its default)."""
    limits = spec.limits
    memory = f"{spec.sandbox_memory_mib}m"
    # A compiled program runs from the work directory, so only then may it hold executables.
    workdir_exec = ",exec" if spec.compile_command is not None else ""
    config: dict[str, Any] = {
        "name": container_name(spec.run_id),
        "image": spec.language.image,
        "entrypoint": [LAUNCHER_PATH],
        "command": [],
        "environment": bundle_environment(spec),
        "labels": {RUN_ID_LABEL: spec.run_id, LANGUAGE_LABEL: spec.language.name},
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
        "pids_limit": limits.pids,
        "ulimits": [Ulimit(name="core", soft=0, hard=0)],
        "log_config": LogConfig(
            type="json-file",
            config={"max-size": str(log_read_cap(limits.output_bytes)), "max-file": "1"},
        ),
        "stdin_open": False,
        "detach": True,
    }
    if runtime:
        config["runtime"] = runtime
    return config
