"""The embedded default backend: a bubblewrap namespace sandbox on this host.

It needs neither Docker nor a cluster, so `isobox serve` works on a fresh machine. Each run gets
new user, PID, IPC, UTS, cgroup and network namespaces (only loopback, so no network), a
read-only view of /usr, a size-limited tmpfs work directory filled from memory (no host temp
dir), a private /tmp, a clean environment, and cgroup limits where the host allows them. When
the service runs as root, the sandbox runs as an unprivileged host uid besides.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import resource
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

from isobox.backends.base import Backend
from isobox.backends.cgroups import CgroupManager, RunCgroup
from isobox.errors import BackendUnavailable, SandboxError
from isobox.languages import Language
from isobox.launcher import SANDBOX_ENV, SANDBOX_UID, WORKDIR
from isobox.models import RunResult, RunSpec
from isobox.output import CappedBuffer, signal_name
from isobox.settings import Settings

log = logging.getLogger(__name__)

SEARCH_PATH = "/usr/local/bin:/usr/bin:/bin"
# Writes its own pid into each cgroup.procs named before "--", then execs the rest.
JOIN_CGROUPS_SCRIPT = (
    'for f do [ "$f" = -- ] && break; echo $$ > "$f"; shift; done; shift; exec "$@"'
)

READ_CHUNK = 65536
TMP_MIB = 16
# bwrap reports a signalled child as 128 + signal number, like a shell does.
SIGNAL_EXIT_BASE = 128
# Host paths every interpreter needs, bound read-only when present.
SYSTEM_BINDS = ("/usr", "/etc/alternatives", "/etc/ld.so.cache", "/etc/localtime")
MERGED_USR_LINKS = (
    ("usr/bin", "/bin"),
    ("usr/sbin", "/sbin"),
    ("usr/lib", "/lib"),
    ("usr/lib64", "/lib64"),
)


class LocalBackend(Backend):
    """Runs programs with the host's interpreters inside bubblewrap."""

    name = "local"

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._bwrap = shutil.which("bwrap")
        self._cgroups = CgroupManager(settings.local_cgroup_root)
        self._host_uid = settings.local_sandbox_uid if os.geteuid() == 0 else None
        self._setpriv = shutil.which("setpriv", path=SEARCH_PATH)

    async def start(self) -> None:
        # Inherited by every sandbox: no core dumps, which a host core_pattern could mishandle.
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if self._host_uid is not None and self._setpriv is None:
            raise BackendUnavailable("running as root needs setpriv (util-linux) to drop the uid")
        if self._cgroups.available:
            self._cgroups.remove_leftovers()
        else:
            log.warning("local backend: cgroups not writable; memory, pids and CPU unlimited")

    async def check(self) -> None:
        if self._bwrap is None:
            raise BackendUnavailable("bubblewrap (bwrap) is not installed on this host")

    def supports(self, language: Language) -> bool:
        command = language.local_command([])
        return command is not None and shutil.which(command[0], path=SEARCH_PATH) is not None

    @property
    def enforces_resource_limits(self) -> bool:
        return self._cgroups.available

    async def run(self, spec: RunSpec) -> RunResult:
        await self.check()
        if spec.compile_command is not None:
            raise SandboxError(f"the local backend does not compile ({spec.language.name})")
        command = spec.language.local_command(list(spec.args))
        interpreter = command and shutil.which(command[0], path=SEARCH_PATH)
        if not command or not interpreter:
            raise SandboxError(f"{spec.language.name} is not installed on this host")
        cgroup = self._cgroups.acquire(spec.limits) if self._cgroups.available else None
        try:
            with _memory_files(spec) as file_fds:
                argv = self._bwrap_argv(spec, [interpreter, *command[1:]], file_fds)
                return await self._execute(spec, argv, file_fds, cgroup)
        finally:
            if cgroup is not None:
                await self._cgroups.release(cgroup)

    def _bwrap_argv(self, spec: RunSpec, command: list[str], file_fds: dict[str, int]) -> list[str]:
        assert self._bwrap is not None
        argv = [
            self._bwrap,
            "--unshare-all",
            "--die-with-parent",
            "--new-session",
            # The program is PID 1 itself: no extra bwrap init to outlive its parent as a
            # zombie, and when the program exits the kernel kills everything it left running.
            "--as-pid-1",
            "--uid",
            str(SANDBOX_UID),
            "--gid",
            str(SANDBOX_UID),
            "--hostname",
            "isobox",
        ]
        for path in (*SYSTEM_BINDS, *_interpreter_prefix(command[0])):
            if Path(path).exists():
                argv += ["--ro-bind", path, path]
        for target, link in MERGED_USR_LINKS:
            argv += ["--symlink", target, link]
        argv += [
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "--size",
            str(TMP_MIB * 1024 * 1024),
            "--tmpfs",
            "/tmp",
            "--size",
            str(spec.limits.scratch_mib * 1024 * 1024),
            "--tmpfs",
            WORKDIR,
        ]
        for path, fd in file_fds.items():
            argv += ["--file", str(fd), f"{WORKDIR}/{path}"]
        argv += ["--clearenv"]
        for key, value in SANDBOX_ENV.items():
            argv += ["--setenv", key, value]
        # Remounting / read-only last keeps /workspace and /tmp (separate mounts) writable.
        return [*argv, "--remount-ro", "/", "--chdir", WORKDIR, "--", *command]

    async def _execute(
        self, spec: RunSpec, argv: list[str], file_fds: dict[str, int], cgroup: RunCgroup | None
    ) -> RunResult:
        started = time.monotonic()
        process = await asyncio.create_subprocess_exec(
            *self._launch_prefix(cgroup),
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            pass_fds=tuple(file_fds.values()),
            # bwrap's own pid-1 process keeps this environment, readable in /proc/1/environ.
            env={"PATH": SEARCH_PATH},
            start_new_session=True,
        )
        stdout = CappedBuffer(spec.limits.output_bytes)
        stderr = CappedBuffer(spec.limits.output_bytes)
        io_tasks = [
            asyncio.create_task(_feed(process.stdin, spec.stdin)),
            asyncio.create_task(_drain(process.stdout, stdout)),
            asyncio.create_task(_drain(process.stderr, stderr)),
        ]
        timed_out = False
        try:
            try:
                await asyncio.wait_for(process.wait(), spec.limits.timeout_s)
            except TimeoutError:
                timed_out = True
            # Our sandbox also dies with its bwrap parent; killing both is belt and braces.
            _kill(process, cgroup)
            await process.wait()
            await asyncio.wait(io_tasks, timeout=1.0)
        finally:
            _kill(process, cgroup)
            for task in io_tasks:
                task.cancel()
            await asyncio.gather(*io_tasks, return_exceptions=True)
            if process.returncode is None:
                await process.wait()
        return _result(process.returncode, stdout, stderr, timed_out, cgroup, started)

    def _launch_prefix(self, cgroup: RunCgroup | None) -> list[str]:
        """Commands that exec into bwrap after joining the run's cgroups and dropping root.

        Done with small exec wrappers rather than a Python `preexec_fn`, which would force a
        full fork of the server and block the event loop for several milliseconds per run.
        """
        prefix: list[str] = []
        if cgroup is not None:
            procs = [str(directory / "cgroup.procs") for directory in cgroup.directories]
            prefix += ["/bin/sh", "-c", JOIN_CGROUPS_SCRIPT, "isobox-join", *procs, "--"]
        if self._host_uid is not None and self._setpriv is not None:
            uid = str(self._host_uid)
            prefix += [self._setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--"]
        return prefix

    async def close(self) -> None:
        """Every run cleans up after itself; what remains is this instance's cgroup pool."""
        if self._cgroups.available:
            await asyncio.to_thread(self._cgroups.close)


@contextlib.contextmanager
def _memory_files(spec: RunSpec) -> Iterator[dict[str, int]]:
    """Each work file as a sealed in-memory file descriptor for `bwrap --file`."""
    fds: dict[str, int] = {}
    try:
        for item in spec.files:
            fd = os.memfd_create(f"isobox-{Path(item.path).name}", os.MFD_CLOEXEC)
            fds[item.path] = fd
            os.write(fd, item.content)
            os.lseek(fd, 0, os.SEEK_SET)
        yield fds
    finally:
        for fd in fds.values():
            os.close(fd)


def _interpreter_prefix(interpreter: str) -> list[str]:
    """The install prefix of an interpreter that lives outside /usr (pyenv, /opt)."""
    real = Path(interpreter).resolve()
    if real.is_relative_to("/usr"):
        return []
    return [str(real.parent.parent)]


async def _feed(stream: asyncio.StreamWriter | None, data: bytes) -> None:
    if stream is None:
        return
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        if data:
            stream.write(data)
            await stream.drain()
        stream.close()


async def _drain(stream: asyncio.StreamReader | None, sink: CappedBuffer) -> None:
    """Read until EOF; past the cap the data is dropped so the program never blocks on a pipe."""
    if stream is None:
        return
    while chunk := await stream.read(READ_CHUNK):
        sink.add(chunk)


def _kill(process: asyncio.subprocess.Process, cgroup: RunCgroup | None) -> None:
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
    if cgroup is not None:
        cgroup.kill_all()


def _result(
    returncode: int | None,
    stdout: CappedBuffer,
    stderr: CappedBuffer,
    timed_out: bool,
    cgroup: RunCgroup | None,
    started: float,
) -> RunResult:
    exit_code, signal = returncode, None
    if timed_out:
        exit_code, signal = None, "SIGKILL"
    elif returncode is not None and returncode > SIGNAL_EXIT_BASE:
        exit_code, signal = None, signal_name(returncode - SIGNAL_EXIT_BASE)
    oom_killed = cgroup is not None and cgroup.oom_kills() > 0 and not timed_out
    return RunResult(
        stdout=stdout.text(),
        stderr=stderr.text(),
        exit_code=exit_code,
        signal=signal,
        timed_out=timed_out,
        oom_killed=oom_killed,
        stdout_truncated=stdout.truncated,
        stderr_truncated=stderr.truncated,
        duration_ms=int((time.monotonic() - started) * 1000),
    )
