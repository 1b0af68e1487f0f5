"""The local sandbox's bubblewrap command line: a pure function, unit-tested for its shape.

New user, PID, IPC, UTS, cgroup and network namespaces (only a loopback that leads nowhere),
no nested user namespaces, the host's /usr read-only and nothing else of the host but the few
files interpreters need, /proc masked as Docker masks it, size-limited tmpfs work directory
and /tmp, a clean environment, and the launcher as PID 1, which reads its bundle from stdin
(never the command line, where every host user could read it) and runs the program under
isobox's seccomp filter.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from isobox.sandbox import SANDBOX_UID, TMP_MIB, WORKDIR

LAUNCHER_IN_SANDBOX = "/.isobox/launch"
# Host paths every interpreter needs, bound read-only when present (Debian's JDK keeps its
# security and logging configuration under /etc).
SYSTEM_BINDS = (
    "/usr",
    "/etc/alternatives",
    "/etc/ld.so.cache",
    "/etc/localtime",
    "/etc/java-17-openjdk",
)
MERGED_USR_LINKS = (
    ("usr/bin", "/bin"),
    ("usr/sbin", "/sbin"),
    ("usr/lib", "/lib"),
    ("usr/lib64", "/lib64"),
)
# Docker's default masked paths under /proc: emptied files and directories...
MASKED_PROC_FILES = (
    "kcore",
    "keys",
    "latency_stats",
    "timer_list",
    "timer_stats",
    "sched_debug",
    "sysrq-trigger",
)
MASKED_PROC_DIRS = ("acpi", "asound", "scsi")
# ...and its read-only ones. Bound from the host's /proc, which holds the same kernel-global
# content (namespaced sysctls are looked up in the reader's namespaces).
READ_ONLY_PROC_DIRS = ("bus", "fs", "irq", "sys")
MIB = 1024 * 1024


@dataclass(frozen=True)
class BwrapSandbox:
    """What varies between local sandboxes."""

    bwrap: str
    launcher: str
    scratch_mib: int
    tool_dirs: tuple[str, ...] = ()
    """Host directories outside /usr that the run's tool needs (bound read-only)."""
    launcher_env: tuple[tuple[str, str], ...] = ()
    """The launcher's own environment (ISOBOX_BUNDLE_WAIT_MS); never anything of a run."""


def bwrap_argv(sandbox: BwrapSandbox, existing: frozenset[str]) -> list[str]:
    """bwrap's argv for one sandbox; `existing` names the host paths that exist (the one
    fact of the host this needs, passed in so the function stays pure)."""
    argv = [
        sandbox.bwrap,
        "--unshare-all",
        # Explicit: --unshare-all only *tries* a user namespace, and nested ones are refused.
        "--unshare-user",
        "--disable-userns",
        "--die-with-parent",
        "--new-session",
        "--as-pid-1",
        "--uid",
        str(SANDBOX_UID),
        "--gid",
        str(SANDBOX_UID),
        "--hostname",
        "isobox",
    ]
    for path in (*SYSTEM_BINDS, *sandbox.tool_dirs):
        if path in existing:
            argv += ["--ro-bind", path, path]
    for target, link in MERGED_USR_LINKS:
        argv += ["--symlink", target, link]
    argv += ["--proc", "/proc", *_masked_proc(existing), "--dev", "/dev"]
    argv += ["--size", str(TMP_MIB * MIB), "--tmpfs", "/tmp"]
    argv += ["--size", str(sandbox.scratch_mib * MIB), "--tmpfs", WORKDIR]
    argv += ["--ro-bind", sandbox.launcher, LAUNCHER_IN_SANDBOX, "--clearenv"]
    for name, value in sandbox.launcher_env:
        argv += ["--setenv", name, value]
    # Remounting / read-only last keeps /workspace and /tmp (separate mounts) writable.
    return [*argv, "--remount-ro", "/", "--chdir", WORKDIR, "--", LAUNCHER_IN_SANDBOX]


def _masked_proc(existing: frozenset[str]) -> list[str]:
    argv: list[str] = []
    for name in MASKED_PROC_FILES:
        if f"/proc/{name}" in existing:
            argv += ["--ro-bind", "/dev/null", f"/proc/{name}"]
    for name in MASKED_PROC_DIRS:
        if f"/proc/{name}" in existing:
            argv += ["--perms", "0555", "--tmpfs", f"/proc/{name}", "--remount-ro", f"/proc/{name}"]
    for name in READ_ONLY_PROC_DIRS:
        if f"/proc/{name}" in existing:
            argv += ["--ro-bind", f"/proc/{name}", f"/proc/{name}"]
    return argv


def tool_dirs(tool: str) -> tuple[str, ...]:
    """The directories a host tool outside /usr needs: the one holding the real binary and
    its prefix's lib/ (pyenv, /opt installs); never the prefix itself, which may hold more
    (a rustup proxy in ~/.cargo/bin would otherwise expose ~/.cargo)."""
    if not tool or not Path(tool).is_absolute():
        return ()
    real = Path(tool).resolve()
    if real.is_relative_to("/usr"):
        return ()
    return (str(real.parent), str(real.parent.parent / "lib"))


def host_paths(sandbox: BwrapSandbox) -> frozenset[str]:
    """Which of the host paths `bwrap_argv` may bind exist (the I/O half of it)."""
    candidates = [
        *SYSTEM_BINDS,
        *sandbox.tool_dirs,
        *(f"/proc/{name}" for name in (*MASKED_PROC_FILES, *MASKED_PROC_DIRS)),
        *(f"/proc/{name}" for name in READ_ONLY_PROC_DIRS),
    ]
    return frozenset(path for path in candidates if Path(path).exists())
