"""Per-run cgroups for the local backend: memory (no swap), pids and CPU limits, OOM count.

Works on cgroup v1 (one directory per controller) and on a pure cgroup v2 host. Where the
hierarchy is not writable (not root, no delegation) the local backend runs without these
limits and says so in /readyz.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from isobox.models import Limits

CGROUP_FS = Path("/sys/fs/cgroup")
CPU_PERIOD_US = 100_000


@dataclass(frozen=True)
class RunCgroup:
    """The cgroup directories of one run."""

    directories: tuple[Path, ...]
    oom_file: Path
    oom_key: str

    def oom_kills(self) -> int:
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
    """Creates run cgroups under `<controller>/<root>/`; `available` says whether it can."""

    def __init__(self, root_name: str) -> None:
        self._root_name = root_name
        self.version = _detect_version()
        self.available = self.version != 0 and self._prepare_root()

    def _controller_roots(self) -> list[Path]:
        if self.version == 2:
            return [CGROUP_FS / self._root_name]
        return [CGROUP_FS / name / self._root_name for name in ("memory", "pids", "cpu")]

    def _prepare_root(self) -> bool:
        try:
            for root in self._controller_roots():
                root.mkdir(exist_ok=True)
            if self.version == 2:
                (self._controller_roots()[0] / "cgroup.subtree_control").write_text(
                    "+memory +pids +cpu"
                )
        except OSError:
            return False
        return True

    def create(self, run_id: str, limits: Limits) -> RunCgroup:
        directories = tuple(root / run_id for root in self._controller_roots())
        for directory in directories:
            directory.mkdir()
        memory_bytes = limits.memory_mib * 1024 * 1024
        quota = str(int(limits.cpus * CPU_PERIOD_US))
        if self.version == 2:
            (cgroup,) = directories
            _write(cgroup / "memory.max", str(memory_bytes))
            _write(cgroup / "memory.swap.max", "0", optional=True)
            _write(cgroup / "pids.max", str(limits.pids))
            _write(cgroup / "cpu.max", f"{quota} {CPU_PERIOD_US}")
            return RunCgroup(directories, cgroup / "memory.events", "oom_kill")
        memory, pids, cpu = directories
        _write(memory / "memory.limit_in_bytes", str(memory_bytes))
        _write(memory / "memory.memsw.limit_in_bytes", str(memory_bytes), optional=True)
        _write(pids / "pids.max", str(limits.pids))
        _write(cpu / "cpu.cfs_period_us", str(CPU_PERIOD_US))
        _write(cpu / "cpu.cfs_quota_us", quota)
        return RunCgroup(directories, memory / "memory.oom_control", "oom_kill")

    def remove_leftovers(self) -> None:
        """Remove run cgroups a killed previous instance left behind."""
        for root in self._controller_roots():
            with contextlib.suppress(OSError):
                for child in root.iterdir():
                    if child.is_dir():
                        RunCgroup((child,), child, "").remove(wait_s=0.5)


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
