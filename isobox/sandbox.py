"""What every sandbox looks like, whatever the backend: its user, layout, labels.

The docker container, the Pod, the bwrap argv and the launcher bundle all take these from
here, so a program sees the same machine on every backend.
"""

from __future__ import annotations

LAUNCHER_PATH = "/usr/local/bin/isobox-launch"
WORKDIR = "/workspace"
SANDBOX_UID = 10001
TMP_MIB = 16
# Tasks of the launcher itself (its reserved threads and a margin), added to the run's process
# limit wherever that limit also counts the launcher (cgroup pids, a container's pids limit, the
# uid's RLIMIT_NPROC): the program gets its own `pids`, and the launcher never runs out.
LAUNCHER_TASKS = 16
SANDBOX_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "HOME": WORKDIR,
    "LANG": "C.UTF-8",
    "TMPDIR": "/tmp",
}

RUN_ID_LABEL = "isobox.dev/run-id"
LANGUAGE_LABEL = "isobox.dev/language"
# Warm sandboxes: the language they wait for, and the isobox instance that made them.
POOL_LABEL = "isobox.dev/pool"
POOL_OWNER_LABEL = "isobox.dev/pool-owner"
# Every docker sandbox, cold or warm: the isobox instance ("host:pid") whose it is, so that a
# starting instance removes only a dead one's leftovers, never a live one's ended runs.
INSTANCE_LABEL = "isobox.dev/instance"
