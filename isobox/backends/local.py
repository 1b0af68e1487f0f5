"""The embedded default backend: a bubblewrap namespace sandbox on this host.

It needs neither Docker nor a cluster, so `isobox serve` works on a fresh machine. Each run gets
new user, PID, IPC, UTS, cgroup and network namespaces (only loopback, so no network), a
read-only view of /usr, a size-limited tmpfs work directory filled from memory (no host temp
dir), a private /tmp, a clean environment, and cgroup limits where the host allows them. When
the service runs as root, the sandbox runs as an unprivileged host uid besides.

Interpreted languages run directly as the sandbox's PID 1. A language with a compile step runs
under `isobox-launch`, the launcher of the runtime images, bound into the sandbox: it gives the
compile and run stages their own time and memory limits and reports them apart, exactly as on
the docker and Kubernetes backends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import resource
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from isobox.backends.base import Backend
from isobox.backends.cgroups import CgroupManager, RunCgroup
from isobox.errors import BackendUnavailable, SandboxError
from isobox.languages import Language
from isobox.launcher import FrameDecoder, bundle_environment
from isobox.models import RunResult, StageResult
from isobox.outcome import SIGNAL_EXIT_BASE, signal_name
from isobox.output import CappedBuffer
from isobox.sandbox import SANDBOX_ENV, SANDBOX_UID, TMP_MIB, WORKDIR
from isobox.settings import Settings
from isobox.spec import RunSpec

log = logging.getLogger(__name__)

SEARCH_PATH = "/usr/local/bin:/usr/bin:/bin"
# Writes its own pid into each cgroup.procs named before "--", then execs the rest.
JOIN_CGROUPS_SCRIPT = (
    'for f do [ "$f" = -- ] && break; echo $$ > "$f"; shift; done; shift; exec "$@"'
)

READ_CHUNK = 65536
LAUNCHER_NAME = "isobox-launch"
LAUNCHER_IN_SANDBOX = "/.isobox/launch"
# The launcher applies the stage limits itself; this backstop only covers a launcher that cannot.
LAUNCHER_GRACE_S = 5.0
LAUNCHER_STDERR_BYTES = 4096
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


class LocalBackend(Backend):
    """Runs programs with the host's interpreters inside bubblewrap."""

    name = "local"

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._bwrap = shutil.which("bwrap")
        self._cgroups = CgroupManager(settings.local_cgroup_root)
        self._host_uid = settings.local_sandbox_uid if os.geteuid() == 0 else None
        self._setpriv = shutil.which("setpriv", path=SEARCH_PATH)
        self._launcher = _find_launcher(settings.local_launcher)

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
        if command is None or not _on_host(command[0]):
            return False
        compile_command = language.compile_command()
        return compile_command is None or (
            self._launcher is not None and _on_host(compile_command[0])
        )

    @property
    def enforces_resource_limits(self) -> bool:
        return self._cgroups.available

    async def run(self, spec: RunSpec) -> RunResult:
        await self.check()
        command = spec.language.local_command(list(spec.args))
        if not command or not self.supports(spec.language):
            raise SandboxError(f"{spec.language.name} is not installed on this host")
        cgroup = (
            self._cgroups.acquire(spec.limits, spec.sandbox_memory_mib)
            if self._cgroups.available
            else None
        )
        try:
            if spec.compile_command is not None:
                return await self._run_launched(spec, command, cgroup)
            with _memory_files(spec) as file_fds:
                interpreter = shutil.which(command[0], path=SEARCH_PATH) or command[0]
                mounts = [
                    arg
                    for path, fd in file_fds.items()
                    for arg in ("--file", str(fd), f"{WORKDIR}/{path}")
                ]
                argv = self._bwrap_argv(
                    spec, [interpreter, *command[1:]], mounts, SANDBOX_ENV, interpreter
                )
                return await self._execute(spec, argv, file_fds, cgroup)
        finally:
            if cgroup is not None:
                await self._cgroups.release(cgroup)

    async def _run_launched(
        self, spec: RunSpec, command: list[str], cgroup: RunCgroup | None
    ) -> RunResult:
        """Compile and run under the launcher, which writes the files and reports both stages."""
        assert self._launcher is not None
        mounts = ["--ro-bind", str(self._launcher), LAUNCHER_IN_SANDBOX]
        env = bundle_environment(spec, command=command)
        compiler = shutil.which((spec.compile_command or command)[0], path=SEARCH_PATH)
        argv = self._bwrap_argv(spec, [LAUNCHER_IN_SANDBOX], mounts, env, compiler or "")
        started = time.monotonic()
        decoder = FrameDecoder(spec.limits.output_bytes)
        launcher_stderr = CappedBuffer(LAUNCHER_STDERR_BYTES)
        limit_s = spec.limits.compile_timeout_s + spec.limits.timeout_s + LAUNCHER_GRACE_S
        process, backstop_fired = await self._supervise(
            argv, (), b"", decoder.feed, launcher_stderr.add, limit_s, cgroup
        )
        if decoder.launcher_error:
            raise SandboxError(f"the sandbox refused to run: {decoder.launcher_error}")
        if not decoder.has_report() and not backstop_fired and process.returncode != 0:
            log.error("isobox-launch failed: %s", launcher_stderr.text())
        result = _with_kernel_verdicts(decoder.result(), backstop_fired, cgroup)
        if result.duration_ms == 0 and backstop_fired:
            result = result.model_copy(
                update={"duration_ms": int((time.monotonic() - started) * 1000)}
            )
        return result

    def _bwrap_argv(
        self,
        spec: RunSpec,
        command: list[str],
        mounts: list[str],
        env: dict[str, str],
        tool: str,
    ) -> list[str]:
        """bwrap's arguments: the sandbox, then `mounts` into it, `env`, and `command`.

        `tool` is the host program the run needs, whose install prefix is bound in too when it
        lives outside /usr.
        """
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
        for path in (*SYSTEM_BINDS, *_interpreter_prefix(tool)):
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
        argv += [*mounts, "--clearenv"]
        for key, value in env.items():
            argv += ["--setenv", key, value]
        # Remounting / read-only last keeps /workspace and /tmp (separate mounts) writable.
        return [*argv, "--remount-ro", "/", "--chdir", WORKDIR, "--", *command]

    async def _execute(
        self, spec: RunSpec, argv: list[str], file_fds: dict[str, int], cgroup: RunCgroup | None
    ) -> RunResult:
        started = time.monotonic()
        stdout = CappedBuffer(spec.limits.output_bytes)
        stderr = CappedBuffer(spec.limits.output_bytes)
        process, timed_out = await self._supervise(
            argv,
            tuple(file_fds.values()),
            spec.stdin,
            stdout.add,
            stderr.add,
            spec.limits.timeout_s,
            cgroup,
        )
        return _result(process.returncode, stdout, stderr, timed_out, cgroup, started)

    async def _supervise(
        self,
        argv: list[str],
        pass_fds: tuple[int, ...],
        stdin: bytes,
        on_stdout: Callable[[bytes], None],
        on_stderr: Callable[[bytes], None],
        limit_s: float,
        cgroup: RunCgroup | None,
    ) -> tuple[asyncio.subprocess.Process, bool]:
        """Run bwrap to the end or for `limit_s`, then kill what is left; True if it timed out."""
        process = await asyncio.create_subprocess_exec(
            *self._launch_prefix(cgroup),
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            pass_fds=pass_fds,
            # bwrap's own pid-1 process keeps this environment, readable in /proc/1/environ.
            env={"PATH": SEARCH_PATH},
            start_new_session=True,
        )
        io_tasks = [
            asyncio.create_task(_feed(process.stdin, stdin)),
            asyncio.create_task(_drain(process.stdout, on_stdout)),
            asyncio.create_task(_drain(process.stderr, on_stderr)),
        ]
        timed_out = False
        try:
            try:
                await asyncio.wait_for(process.wait(), limit_s)
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
        return process, timed_out

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


def _find_launcher(configured: Path | None) -> Path | None:
    if configured is not None:
        return configured if configured.is_file() else None
    beside_python = Path(sys.executable).parent / LAUNCHER_NAME
    if beside_python.is_file():
        return beside_python
    found = shutil.which(LAUNCHER_NAME)
    return Path(found) if found else None


def _on_host(program: str) -> bool:
    """Whether the host provides `program`; paths such as ./main are made by a compile step."""
    return "/" in program or shutil.which(program, path=SEARCH_PATH) is not None


def _with_kernel_verdicts(
    result: RunResult, backstop_fired: bool, cgroup: RunCgroup | None
) -> RunResult:
    """The launcher's report, completed with what only the host sees: an OOM kill of the
    cgroup (the launcher cannot read it inside bwrap) and the backstop timeout."""
    if backstop_fired and result.exit_code is None and not result.timed_out:
        result = result.model_copy(update={"timed_out": True, "signal": "SIGKILL"})
    if cgroup is None or cgroup.oom_kills() == 0:
        return result
    compile_stage = result.compile
    if compile_stage is not None and _failed(compile_stage):
        if not compile_stage.oom_killed and compile_stage.signal == "SIGKILL":
            oom = compile_stage.model_copy(update={"oom_killed": True})
            return result.model_copy(update={"compile": oom})
        return result
    if result.signal == "SIGKILL" and not result.timed_out:
        return result.model_copy(update={"oom_killed": True})
    return result


def _failed(stage: StageResult) -> bool:
    return stage.exit_code != 0 or stage.signal is not None or stage.timed_out


def _interpreter_prefix(interpreter: str) -> list[str]:
    """The install prefix of an interpreter that lives outside /usr (pyenv, /opt)."""
    if not Path(interpreter).is_absolute():
        return []
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


async def _drain(stream: asyncio.StreamReader | None, sink: Callable[[bytes], None]) -> None:
    """Read until EOF into `sink`, which drops what is past its cap, so the program never
    blocks on a pipe."""
    if stream is None:
        return
    while chunk := await stream.read(READ_CHUNK):
        sink(chunk)


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
