"""The docker backend: each run is a fresh, locked-down container on one host's Docker engine.

The Docker SDK is blocking, so its calls run on a dedicated thread pool sized for the number of
runs in flight; the event loop never waits on the daemon. The container runs the launcher
(docs/design.md), which writes the files into a tmpfs work directory, enforces the limits, and
frames stdout and stderr on its own stdout. The container's shape is `docker_config`'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import docker
import docker.errors
from docker.models.containers import Container

from isobox.backends.base import SandboxBackend, SandboxHandle, provisioned
from isobox.backends.docker_config import (
    container_config,
    container_name,
    pool_container_config,
    pool_container_name,
    process_limit,
)
from isobox.errors import BackendUnavailable, SandboxError
from isobox.ids import new_run_id
from isobox.launcher import (
    FrameDecoder,
    SandboxEnd,
    bundle_line,
    sandbox_result,
    spec_log_read_cap,
)
from isobox.models import RunResult
from isobox.sandbox import INSTANCE_LABEL, RUN_ID_LABEL
from isobox.settings import Settings
from isobox.spec import RunSpec

log = logging.getLogger(__name__)

T = TypeVar("T")
READY_FRAME = b"w ready\n"
READY_POLL_S = 0.02
READY_TIMEOUT_S = 30.0


@dataclass(eq=False)
class DockerSandbox(SandboxHandle):
    """One sandbox container, named before it exists so that destroy always finds it."""

    name: str
    container: Container | None = None
    warm_memory_mib: int | None = None
    """Set for a pooled sandbox: the memory it was shaped with."""
    stdin: Any = None
    """A pooled sandbox's attach socket, its launcher's stdin, until the bundle is sent."""


class DockerBackend(SandboxBackend[DockerSandbox]):
    """Runs programs in containers through the Docker socket (`DOCKER_HOST` respected)."""

    name = "docker"
    supports_warm_pool = True

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        workers = settings.max_concurrent_runs * 2 + 4
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="isobox-docker")
        self._client: docker.DockerClient | None = None
        self._in_flight: set[str] = set()
        self.runtime = settings.docker_runtime or "runc"
        self._owner = f"{socket.gethostname()}:{os.getpid()}"

    async def _call(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(function, *args, **kwargs))

    def _docker(self) -> docker.DockerClient:
        if self._client is None:
            pool_size = self._settings.max_concurrent_runs * 2 + 4
            self._client = docker.from_env(max_pool_size=pool_size)
        return self._client

    async def start(self) -> None:
        try:
            await self._call(self._remove_stopped_leftovers)
            info: dict[str, Any] = await self._call(self._docker().info)
        except docker.errors.DockerException as error:
            log.warning("docker backend: cannot clean leftovers: %s", error)
            return
        if not self._settings.docker_runtime:
            self.runtime = str(info.get("DefaultRuntime") or "runc")

    def _remove_stopped_leftovers(self) -> None:
        """Remove the sandboxes, cold or warm, running or not, of an isobox instance of this
        host that is gone; never another live instance's (its ended runs are still being
        read). Exited ones without an instance label are an older isobox's, removed too."""
        leftovers = [
            container
            for container in self._docker().containers.list(
                all=True, filters={"label": RUN_ID_LABEL}
            )
            if _owner_is_gone(container.labels.get(INSTANCE_LABEL, ""))
            or (INSTANCE_LABEL not in container.labels and container.status != "running")
        ]
        for container in leftovers:
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                container.remove(force=True)

    async def check(self) -> None:
        try:
            info: dict[str, Any] = await self._call(self._docker().info)
        except docker.errors.DockerException as error:
            raise BackendUnavailable(f"Docker engine unreachable: {error}") from error
        wanted = self._settings.docker_runtime
        runtimes = sorted(info.get("Runtimes") or {})
        if wanted and wanted not in runtimes:
            raise BackendUnavailable(
                f"the Docker engine has no runtime {wanted!r} (ISOBOX_DOCKER_RUNTIME); it has "
                f"{', '.join(runtimes) or 'none'}: refusing to run sandboxes under another one"
            )

    def sandbox_for(self, spec: RunSpec) -> DockerSandbox:
        return DockerSandbox(container_name(spec.run_id))

    async def provision(self, sandbox: DockerSandbox, spec: RunSpec) -> None:
        self._in_flight.add(sandbox.name)
        config = container_config(spec, self._settings.docker_runtime, self._owner)
        try:
            sandbox.container = await self._call(self._docker().containers.create, **config)
            await self._call(sandbox.container.start)
        except docker.errors.ImageNotFound as error:
            raise SandboxError(
                f"image {spec.language.image} is not on the Docker engine (run `make images`)"
            ) from error
        except docker.errors.DockerException as error:
            raise BackendUnavailable(f"Docker could not start the sandbox: {error}") from error

    async def deliver(self, sandbox: DockerSandbox, spec: RunSpec) -> None:
        """A cold container carries its bundle in its environment; a warm one gets it as one
        line on its stdin (the launcher reads nothing more)."""
        if sandbox.stdin is None:
            return
        line = bundle_line(
            spec,
            sandbox_memory_mib=sandbox.warm_memory_mib,
            max_processes=process_limit(spec, self._settings.docker_runtime),
        )
        stdin, sandbox.stdin = sandbox.stdin, None
        try:
            await self._call(_send_and_close, stdin, line)
        except OSError as error:
            raise SandboxError(f"the warm sandbox did not take its bundle: {error}") from error

    def idle_sandbox(self, shape: RunSpec) -> DockerSandbox:
        sandbox_id = new_run_id()
        sandbox = DockerSandbox(pool_container_name(sandbox_id))
        sandbox.warm_memory_mib = shape.sandbox_memory_mib
        return sandbox

    async def provision_idle(
        self, sandbox: DockerSandbox, shape: RunSpec, max_idle_s: float
    ) -> None:
        self._in_flight.add(sandbox.name)
        sandbox_id = sandbox.name.removeprefix("isobox-pool-")
        config = pool_container_config(
            shape, sandbox_id, self._owner, max_idle_s, self._settings.docker_runtime
        )
        try:
            sandbox.container = await self._call(self._docker().containers.create, **config)
            # Attached before the start, so the stdin stream exists when the launcher reads.
            sandbox.stdin = await self._call(
                self._docker().api.attach_socket,
                sandbox.container.id,
                params={"stdin": 1, "stream": 1},
            )
            await self._call(sandbox.container.start)
            await self._call(_await_ready, sandbox.container, READY_TIMEOUT_S)
        except docker.errors.DockerException as error:
            raise BackendUnavailable(f"Docker could not start a warm sandbox: {error}") from error

    def alive(self, sandbox: DockerSandbox) -> bool:
        # No engine round trip on the hot path: a sandbox that died while idle refuses its
        # bundle, and the run goes cold; idle ones never outlive their max idle time.
        return sandbox.stdin is not None

    async def collect(self, sandbox: DockerSandbox, spec: RunSpec) -> RunResult:
        container = provisioned(sandbox.container, "container")
        # The launcher enforces the timeout itself; this is the backstop if the launcher cannot.
        deadline = spec.total_run_seconds + self._settings.docker_run_timeout_grace_s
        decoder = FrameDecoder(spec.limits.output_bytes)
        decoder.on_output = sandbox.on_output
        cap = spec_log_read_cap(spec)
        # Streamed, the log is followed while the program runs; else read once it ended.
        follow = sandbox.on_output is not None
        waiting = _follow_and_wait if follow else _wait
        backstop_fired = False
        try:
            await asyncio.wait_for(self._call(waiting, container, decoder, cap, follow), deadline)
        except TimeoutError:
            backstop_fired = True
            with contextlib.suppress(docker.errors.APIError):
                await self._call(container.kill)
        if not follow or backstop_fired:
            decoder = FrameDecoder(spec.limits.output_bytes)
            await self._call(_read_logs, container, decoder, cap, False)
        await self._call(container.reload)
        state = container.attrs.get("State", {})
        end = SandboxEnd(
            exit_code=state.get("ExitCode"),
            oom_killed=bool(state.get("OOMKilled")),
            deadline_hit=backstop_fired,
        )
        return sandbox_result(decoder, end).model_copy(update={"runtime": self.runtime})

    async def destroy(self, sandbox: DockerSandbox) -> None:
        if sandbox.stdin is not None:
            with contextlib.suppress(OSError):
                sandbox.stdin.close()
            sandbox.stdin = None
        try:
            await self._call(self._docker().api.remove_container, sandbox.name, force=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.DockerException as error:
            log.error("docker backend: could not remove container %s: %s", sandbox.name, error)
        finally:
            self._in_flight.discard(sandbox.name)

    async def close(self) -> None:
        for name in list(self._in_flight):
            await self.destroy(DockerSandbox(name))
        if self._client is not None:
            self._client.close()
        self._pool.shutdown(wait=False, cancel_futures=True)


def _send_and_close(stdin: Any, data: bytes) -> None:
    raw = getattr(stdin, "_sock", stdin)
    try:
        raw.sendall(data)
    finally:
        stdin.close()


def _await_ready(container: Container, timeout_s: float) -> None:
    """Until the launcher's `w ready` frame is in the log (isolation checked, bundle awaited)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if READY_FRAME in container.logs(stdout=True, stderr=False):
            return
        container.reload()
        if container.status not in {"created", "running"}:
            raise SandboxError(f"the warm sandbox ended before it was ready ({container.status})")
        time.sleep(READY_POLL_S)
    raise SandboxError(f"the warm sandbox was not ready within {timeout_s:.0f} s")


def _wait(container: Container, _decoder: FrameDecoder, _cap: int, _follow: bool) -> None:
    container.wait()


def _follow_and_wait(container: Container, decoder: FrameDecoder, cap: int, follow: bool) -> None:
    _read_logs(container, decoder, cap, follow)
    container.wait()


def _read_logs(container: Container, decoder: FrameDecoder, cap: int, follow: bool) -> None:
    """Feed the container's log to `decoder` (following it until the container ends)."""
    read = 0
    for chunk in container.logs(stdout=True, stderr=False, stream=True, follow=follow):
        decoder.feed(chunk)
        read += len(chunk)
        if read > cap:
            break


def _owner_is_gone(owner: str) -> bool:
    """Whether a pool's owner ("host:pid") was an isobox process of this host that is gone."""
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    return not Path(f"/proc/{pid}").exists()
