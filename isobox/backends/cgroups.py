"""Per-run cgroups for the local backend: memory (no swap), pids and CPU limits, OOM count.

Works on cgroup v1 (one directory per controller) and on a pure cgroup v2 host. Where the
hierarchy is not writable (not root, no delegation) the local backend runs without these
limits and says so in /readyz.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import signal
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path

from isobox.sandbox import LAUNCHER_TASKS
from isobox.spec import Limits

CGROUP_FS = Path("/sys/fs/cgroup")
INSTANCE_PREFIX = "i"
CPU_PERIOD_US = 100_000


@dataclass(frozen=True)
class RunCgroup:
    """The cgroup directories of one run."""

    directories: tuple[Path, ...]
    oom_file: Path
    oom_key: str
    oom_baseline: int = 0

    def oom_kills(self) -> int:
        """OOM kills in this cgroup since it was handed to the current run."""
        return self._oom_counter() - self.oom_baseline

    def _oom_counter(self) -> int:
        try:
            for line in self.oom_file.read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == self.oom_key:
                    return int(value)
        except (OSError, ValueError):
            pass
        return 0

    def kill_all(self) -> None:
        for directory in self.directories:
            with contextlib.suppress(OSError):
                for pid in (directory / "cgroup.procs").read_text().split():
                    with contextlib.suppress(ProcessLookupError, ValueError):
                        os.kill(int(pid), signal.SIGKILL)

    def empty(self, wait_s: float = 2.0) -> bool:
        """Kill what is left and wait until no process remains; False if some lingered."""
        deadline = time.monotonic() + wait_s
        while any(_has_processes(directory) for directory in self.directories):
            if time.monotonic() > deadline:
                return False
            self.kill_all()
            time.sleep(0.005)
        return True

    def remove(self, wait_s: float = 2.0) -> None:
        """Delete the directories once their processes are gone."""
        deadline = time.monotonic() + wait_s
        for directory in self.directories:
            while True:
                try:
                    directory.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        break
                    self.kill_all()
                    time.sleep(0.02)


class CgroupManager:
    """Hands out run cgroups under `<controller>/<root>/<instance>/`; `available` says whether
    it can.

    Each manager (one per backend instance, several may share a host or a process) owns a
    directory named after its process, so it never touches another live instance's runs and
    can clean up after dead ones. Cgroups are pooled: on cgroup v1, moving a process into a
    freshly made memory cgroup costs about 10 ms, a third of a hello-world run. An emptied
    cgroup is reused with the next run's limits; its OOM counter is read relative to the
    hand-over.
    """

    def __init__(self, root_name: str) -> None:
        self._root_name = root_name
        self._instance = f"{INSTANCE_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._idle: list[str] = []
        self._created = 0
        self.version = _detect_version()
        self.available = self.version != 0 and self._prepare_root()

    def _shared_roots(self) -> list[Path]:
        if self.version == 2:
            return [CGROUP_FS / self._root_name]
        return [CGROUP_FS / name / self._root_name for name in ("memory", "pids", "cpu")]

    def _controller_roots(self) -> list[Path]:
        return [root / self._instance for root in self._shared_roots()]

    def _prepare_root(self) -> bool:
        try:
            for shared, own in zip(self._shared_roots(), self._controller_roots(), strict=True):
                shared.mkdir(exist_ok=True)
                if self.version == 2:
                    _write(shared / "cgroup.subtree_control", "+memory +pids +cpu")
                own.mkdir(exist_ok=True)
                if self.version == 2:
                    _write(own / "cgroup.subtree_control", "+memory +pids +cpu")
        except OSError:
            return False
        return True

    def acquire(self, limits: Limits, memory_mib: int) -> RunCgroup:
        """An empty cgroup with `limits` and `memory_mib` (the sandbox's, which may exceed the
        program's for a compile step) for one run; hand it back with `release`."""
        while self._idle:
            name = self._idle.pop()
            try:
                return self._handed_over(self._directories(name), limits, memory_mib)
            except OSError:  # e.g. cached pages above a smaller new limit: start afresh
                RunCgroup(self._directories(name), Path(), "").remove(wait_s=0.2)
        self._created += 1
        directories = self._directories(f"slot-{self._created}")
        for directory in directories:
            directory.mkdir(exist_ok=True)
        return self._handed_over(directories, limits, memory_mib)

    async def release(self, cgroup: RunCgroup) -> None:
        """Empty the cgroup and pool it again, or remove it if processes linger."""
        if await asyncio.to_thread(cgroup.empty):
            self._idle.append(cgroup.directories[0].name)
        else:
            await asyncio.to_thread(cgroup.remove)

    def _directories(self, name: str) -> tuple[Path, ...]:
        return tuple(root / name for root in self._controller_roots())

    def _handed_over(
        self, directories: tuple[Path, ...], limits: Limits, memory_mib: int
    ) -> RunCgroup:
        cgroup = self._limit(directories, limits, memory_mib)
        return replace(cgroup, oom_baseline=cgroup.oom_kills())

    def _limit(self, directories: tuple[Path, ...], limits: Limits, memory_mib: int) -> RunCgroup:
        memory_bytes = memory_mib * 1024 * 1024
        quota = str(int(limits.cpus * CPU_PERIOD_US))
        if self.version == 2:
            (cgroup,) = directories
            _write(cgroup / "memory.max", str(memory_bytes))
            _write(cgroup / "memory.swap.max", "0", optional=True)
            _write(cgroup / "pids.max", str(limits.pids + LAUNCHER_TASKS))
            _write(cgroup / "cpu.max", f"{quota} {CPU_PERIOD_US}")
            return RunCgroup(directories, cgroup / "memory.events", "oom_kill")
        memory, pids, cpu = directories
        _write_memory_limits_v1(memory, memory_bytes)
        _write(pids / "pids.max", str(limits.pids + LAUNCHER_TASKS))
        _write(cpu / "cpu.cfs_period_us", str(CPU_PERIOD_US))
        _write(cpu / "cpu.cfs_quota_us", quota)
        return RunCgroup(directories, memory / "memory.oom_control", "oom_kill")

    def remove_leftovers(self) -> None:
        """Remove the cgroups of instances whose process is gone (killed, crashed)."""
        for shared in self._shared_roots():
            with contextlib.suppress(OSError):
                for instance in shared.iterdir():
                    if instance.is_dir() and not _owner_alive(instance.name):
                        _remove_tree(instance)

    def close(self) -> None:
        """Remove this instance's cgroups (its runs have ended)."""
        for own in self._controller_roots():
            _remove_tree(own)


def _owner_alive(instance: str) -> bool:
    """Whether the process that named this instance directory still runs."""
    if not instance.startswith(INSTANCE_PREFIX):
        return False
    pid_text = instance[len(INSTANCE_PREFIX) :].split("-", 1)[0]
    if not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_tree(directory: Path) -> None:
    with contextlib.suppress(OSError):
        for child in directory.iterdir():
            if child.is_dir():
                RunCgroup((child,), child, "").remove(wait_s=0.5)
    RunCgroup((directory,), directory, "").remove(wait_s=0.5)


def _detect_version() -> int:
    if (CGROUP_FS / "cgroup.controllers").exists():
        return 2
    if (CGROUP_FS / "memory" / "memory.limit_in_bytes").exists():
        return 1
    return 0


def _write(path: Path, value: str, optional: bool = False) -> None:
    try:
        path.write_text(value)
    except OSError:
        if not optional:
            raise


def _write_memory_limits_v1(memory: Path, limit_bytes: int) -> None:
    """memory+swap must never be below memory: the order of the two writes depends on
    whether the limit grows or shrinks, so try one order and fall back to the other."""
    limit, memsw = memory / "memory.limit_in_bytes", memory / "memory.memsw.limit_in_bytes"
    if not memsw.exists():
        _write(limit, str(limit_bytes))
        return
    try:
        _write(limit, str(limit_bytes))
    except OSError as error:
        if error.errno != errno.EINVAL:
            raise
        _write(memsw, str(limit_bytes))
        _write(limit, str(limit_bytes))
        return
    _write(memsw, str(limit_bytes))


def _has_processes(directory: Path) -> bool:
    try:
        return bool((directory / "cgroup.procs").read_text().strip())
    except OSError:
        return False
