"""The embedded default backend: a bubblewrap namespace sandbox on this host.

It needs neither Docker nor a cluster, so `isobox serve` works on a fresh machine. Every run
is the launcher of the runtime images (`isobox-launch`) as PID 1 of a fresh bubblewrap sandbox
(`bwrap.py` gives its shape), in a cgroup of its own for memory, processes and CPU; when the
service runs as root the sandbox also runs as an unprivileged host uid. The launcher reads
its bundle from a pipe, gives each stage its limits, reaps every process, runs the program
under isobox's seccomp filter, and reports exactly as it does in a container or a Pod.
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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from isobox.backends.base import SandboxBackend, SandboxHandle, provisioned
from isobox.backends.bwrap import BwrapSandbox, bwrap_argv, host_paths, tool_dirs
from isobox.backends.cgroups import CgroupManager, RunCgroup
from isobox.errors import BackendUnavailable, SandboxError
from isobox.ids import new_run_id
from isobox.languages import Language
from isobox.launcher import FrameDecoder, SandboxEnd, bundle_line, sandbox_result
from isobox.models import RunResult
from isobox.output import CappedBuffer
from isobox.sandbox import LAUNCHER_TASKS
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
# The launcher applies the stage limits itself; this backstop only covers a launcher that cannot.
LAUNCHER_GRACE_S = 5.0
LAUNCHER_STDERR_BYTES = 4096
# A pooled sandbox is ready in tens of milliseconds; this only bounds a broken host.
READY_TIMEOUT_S = 20.0


@dataclass(eq=False)
class LocalSandbox(SandboxHandle):
    """One bubblewrap process tree, its cgroup, and what it printed so far."""

    run_id: str
    decoder: FrameDecoder
    process: asyncio.subprocess.Process | None = None
    cgroup: RunCgroup | None = None
    io_tasks: list[asyncio.Task[None]] = field(default_factory=list)
    launcher_stderr: CappedBuffer = field(
        default_factory=lambda: CappedBuffer(LAUNCHER_STDERR_BYTES)
    )
    started: float = 0.0
    warm_memory_mib: int | None = None
    """Set for a pooled sandbox: the memory it was shaped with."""
    ready: asyncio.Event = field(default_factory=asyncio.Event)


class LocalBackend(SandboxBackend[LocalSandbox]):
    """Runs programs with the host's interpreters and compilers inside bubblewrap."""

    name = "local"
    runtime = "bubblewrap"
    supports_warm_pool = True

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._bwrap = shutil.which("bwrap")
        self._cgroups = CgroupManager(settings.local_cgroup_root)
        self._host_uid = settings.local_sandbox_uid if os.geteuid() == 0 else None
        self._setpriv = shutil.which("setpriv", path=SEARCH_PATH)
        self._launcher = _find_launcher(settings.local_launcher)
        self._in_flight: set[LocalSandbox] = set()

    async def start(self) -> None:
        # Inherited by every sandbox: no core dumps, which a host core_pattern could mishandle.
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if self._host_uid is not None and self._setpriv is None:
            raise BackendUnavailable("running as root needs setpriv (util-linux) to drop the uid")
        if self._cgroups.available:
            self._cgroups.remove_leftovers()
        elif self._settings.local_allow_unlimited:
            log.warning("local backend: cgroups not writable; memory and CPU are unlimited")

    async def check(self) -> None:
        self._tools()
        if not self._cgroups.available and not self._settings.local_allow_unlimited:
            raise BackendUnavailable(
                "this host gives isobox no writable cgroups, so memory, process and CPU limits "
                "cannot hold; run as root or with a delegated cgroup v2 subtree, or set "
                "ISOBOX_LOCAL_ALLOW_UNLIMITED=true to run without them"
            )

    def _tools(self) -> tuple[str, Path]:
        """bwrap and the launcher, or why the backend cannot run."""
        if self._bwrap is None:
            raise BackendUnavailable("bubblewrap (bwrap) is not installed on this host")
        if self._launcher is None:
            raise BackendUnavailable(
                f"{LAUNCHER_NAME} not found (beside Python, on PATH, or ISOBOX_LOCAL_LAUNCHER); "
                "`make launcher` builds it"
            )
        return self._bwrap, self._launcher

    def supports(self, language: Language) -> bool:
        command = language.local_command([])
        if command is None or not _on_host(command[0]):
            return False
        compile_command = language.compile_command()
        return compile_command is None or _on_host(compile_command[0])

    @property
    def enforces_resource_limits(self) -> bool:
        return self._cgroups.available

    def sandbox_for(self, spec: RunSpec) -> LocalSandbox:
        return LocalSandbox(spec.run_id, FrameDecoder(spec.limits.output_bytes))

    async def provision(self, sandbox: LocalSandbox, spec: RunSpec) -> None:
        await self._spawn(sandbox, spec, launcher_env=())

    def idle_sandbox(self, shape: RunSpec) -> LocalSandbox:
        sandbox = LocalSandbox(f"pool-{new_run_id()}", FrameDecoder(shape.limits.output_bytes))
        sandbox.warm_memory_mib = shape.sandbox_memory_mib
        return sandbox

    async def provision_idle(
        self, sandbox: LocalSandbox, shape: RunSpec, max_idle_s: float
    ) -> None:
        wait_ms = str(int(max_idle_s * 1000))
        await self._spawn(sandbox, shape, launcher_env=(("ISOBOX_BUNDLE_WAIT_MS", wait_ms),))
        process = provisioned(sandbox.process, "process")
        ended = asyncio.ensure_future(process.wait())
        ready = asyncio.ensure_future(sandbox.ready.wait())
        await asyncio.wait({ended, ready}, timeout=READY_TIMEOUT_S, return_when="FIRST_COMPLETED")
        for waiter in (ended, ready):
            waiter.cancel()
        if not sandbox.ready.is_set():
            raise SandboxError(
                f"a pooled sandbox did not get ready: {sandbox.launcher_stderr.text()[:200]}"
            )

    def alive(self, sandbox: LocalSandbox) -> bool:
        return sandbox.process is not None and sandbox.process.returncode is None

    async def _spawn(
        self, sandbox: LocalSandbox, spec: RunSpec, launcher_env: tuple[tuple[str, str], ...]
    ) -> None:
        await self.check()
        if not self.supports(spec.language):
            raise SandboxError(f"{spec.language.name} is not installed on this host")
        bwrap, launcher = self._tools()
        tool = (spec.compile_command or spec.language.local_command([]) or [""])[0]
        shape = BwrapSandbox(
            bwrap=bwrap,
            launcher=str(launcher),
            scratch_mib=spec.limits.scratch_mib,
            tool_dirs=tool_dirs(shutil.which(tool, path=SEARCH_PATH) or ""),
            launcher_env=launcher_env,
        )
        argv = bwrap_argv(shape, host_paths(shape))
        self._in_flight.add(sandbox)
        if self._cgroups.available:
            sandbox.cgroup = self._cgroups.acquire(spec.limits, spec.sandbox_memory_mib)
        sandbox.started = time.monotonic()
        sandbox.process = await asyncio.create_subprocess_exec(
            *self._launch_prefix(sandbox.cgroup),
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            # bwrap's own pid-1 process keeps this environment, readable in /proc/1/environ.
            env={"PATH": SEARCH_PATH},
            start_new_session=True,
        )

        def frames(chunk: bytes) -> None:
            sandbox.decoder.feed(chunk)
            if sandbox.decoder.ready:
                sandbox.ready.set()

        sandbox.io_tasks = [
            asyncio.create_task(_drain(sandbox.process.stdout, frames)),
            asyncio.create_task(_drain(sandbox.process.stderr, sandbox.launcher_stderr.add)),
        ]

    async def deliver(self, sandbox: LocalSandbox, spec: RunSpec) -> None:
        process = provisioned(sandbox.process, "process")
        sandbox.decoder.on_output = sandbox.on_output
        command = spec.language.local_command(list(spec.args))
        # The sandbox's own uid namespace makes RLIMIT_NPROC count this run's tasks only.
        line = bundle_line(
            spec,
            command=command,
            max_processes=spec.limits.pids + LAUNCHER_TASKS,
            sandbox_memory_mib=sandbox.warm_memory_mib,
        )
        sandbox.started = time.monotonic()
        await _feed(process.stdin, line)

    async def collect(self, sandbox: LocalSandbox, spec: RunSpec) -> RunResult:
        process = provisioned(sandbox.process, "process")
        limit_s = spec.total_run_seconds + LAUNCHER_GRACE_S
        backstop_fired = False
        try:
            await asyncio.wait_for(process.wait(), limit_s)
        except TimeoutError:
            backstop_fired = True
        _kill(process, sandbox.cgroup)
        await process.wait()
        await asyncio.wait(sandbox.io_tasks, timeout=1.0)
        oom = sandbox.cgroup is not None and sandbox.cgroup.oom_kills() > 0
        end = SandboxEnd(exit_code=process.returncode, oom_killed=oom, deadline_hit=backstop_fired)
        if not sandbox.decoder.has_report() and not backstop_fired and not oom:
            log.error("isobox-launch failed: %s", sandbox.launcher_stderr.text())
        result = sandbox_result(sandbox.decoder, end)
        if result.duration_ms == 0:
            elapsed_ms = int((time.monotonic() - sandbox.started) * 1000)
            result = result.model_copy(update={"duration_ms": elapsed_ms})
        return result.model_copy(update={"runtime": self.runtime})

    async def destroy(self, sandbox: LocalSandbox) -> None:
        try:
            if sandbox.process is not None:
                _kill(sandbox.process, sandbox.cgroup)
                for task in sandbox.io_tasks:
                    task.cancel()
                await asyncio.gather(*sandbox.io_tasks, return_exceptions=True)
                if sandbox.process.returncode is None:
                    await sandbox.process.wait()
            if sandbox.cgroup is not None:
                await self._cgroups.release(sandbox.cgroup)
        except Exception as error:  # noqa: BLE001 - destroy never raises; logged for the operator
            log.error("local backend: cleaning up run %s failed: %s", sandbox.run_id, error)
        finally:
            self._in_flight.discard(sandbox)

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
        """Runs cancelled by the shutdown may not have cleaned up yet; then the cgroup pool."""
        await asyncio.gather(*(self.destroy(sandbox) for sandbox in list(self._in_flight)))
        if self._cgroups.available:
            await asyncio.to_thread(self._cgroups.close)


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


async def _feed(stream: asyncio.StreamWriter | None, data: bytes) -> None:
    if stream is None:
        return
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        if data:
            stream.write(data)
            await stream.drain()
        stream.close()


async def _drain(stream: asyncio.StreamReader | None, sink: Callable[[bytes], object]) -> None:
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
