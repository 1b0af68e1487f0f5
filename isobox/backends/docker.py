"""The docker backend: each run is a fresh, locked-down container on one host's Docker engine.

The Docker SDK is blocking, so its calls run on a dedicated thread pool sized for the number of
runs in flight; the event loop never waits on the daemon. The container runs the launcher
(docs/design.md), which writes the files into a tmpfs work directory, enforces the timeout and
the output cap, and frames stdout and stderr on its own stdout.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import docker
import docker.errors
from docker.models.containers import Container

from isobox.backends.base import Backend
from isobox.errors import BackendUnavailable, SandboxError
from isobox.launcher import FrameDecoder, bundle_environment
from isobox.models import RunResult
from isobox.sandbox import (
    LANGUAGE_LABEL,
    LAUNCHER_PATH,
    RUN_ID_LABEL,
    SANDBOX_UID,
    TMP_MIB,
    WORKDIR,
)
from isobox.settings import Settings
from isobox.spec import RunSpec

log = logging.getLogger(__name__)

# The launcher frames at most ~33% over the raw cap per stream; beyond that the log is not ours.
LOG_READ_FACTOR = 3
T = TypeVar("T")


class DockerBackend(Backend):
    """Runs programs in containers through the Docker socket (`DOCKER_HOST` respected)."""

    name = "docker"

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        workers = settings.max_concurrent_runs * 2 + 4
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="isobox-docker")
        self._client: docker.DockerClient | None = None
        self._in_flight: set[str] = set()

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
        except docker.errors.DockerException as error:
            log.warning("docker backend: cannot clean leftovers: %s", error)

    def _remove_stopped_leftovers(self) -> None:
        """Remove exited sandboxes a killed previous instance left behind (never running ones)."""
        for status in ("created", "exited", "dead"):
            for container in self._docker().containers.list(
                all=True, filters={"label": RUN_ID_LABEL, "status": status}
            ):
                with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                    container.remove(force=True)

    async def check(self) -> None:
        try:
            await self._call(self._docker().ping)
        except docker.errors.DockerException as error:
            raise BackendUnavailable(f"Docker engine unreachable: {error}") from error

    async def run(self, spec: RunSpec) -> RunResult:
        container = await self._create(spec)
        container_id = str(container.id)
        self._in_flight.add(container_id)
        try:
            await self._call(container.start)
            return await self._wait_and_collect(container, spec)
        finally:
            # Shielded so that a cancelled request (client gone, shutdown) still removes it.
            await asyncio.shield(self._remove(container))
            self._in_flight.discard(container_id)

    async def _create(self, spec: RunSpec) -> Container:
        try:
            return await self._call(
                self._docker().containers.create, **self._container_config(spec)
            )
        except docker.errors.ImageNotFound as error:
            raise SandboxError(
                f"image {spec.language.image} is not on the Docker engine (run `make images`)"
            ) from error
        except (docker.errors.APIError, docker.errors.DockerException) as error:
            raise BackendUnavailable(f"Docker could not create the sandbox: {error}") from error

    def _container_config(self, spec: RunSpec) -> dict[str, Any]:
        limits = spec.limits
        memory = f"{spec.sandbox_memory_mib}m"
        # A compiled program runs from the work directory, so only then may it hold executables.
        workdir_exec = ",exec" if spec.compile_command is not None else ""
        return {
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
            "ulimits": [docker.types.Ulimit(name="core", soft=0, hard=0)],
            "log_config": docker.types.LogConfig(
                type="json-file", config={"max-size": f"{self._log_cap(spec)}", "max-file": "1"}
            ),
            "stdin_open": False,
            "detach": True,
        }

    def _log_cap(self, spec: RunSpec) -> int:
        return spec.limits.output_bytes * 2 * LOG_READ_FACTOR + 65536

    async def _wait_and_collect(self, container: Container, spec: RunSpec) -> RunResult:
        # The launcher enforces the timeout itself; this is the backstop if the launcher cannot.
        compile_s = spec.limits.compile_timeout_s if spec.compile_command is not None else 0
        deadline = spec.limits.timeout_s + compile_s + self._settings.docker_run_timeout_grace_s
        backstop_fired = False
        try:
            await asyncio.wait_for(self._call(container.wait), deadline)
        except TimeoutError:
            backstop_fired = True
            with contextlib.suppress(docker.errors.APIError):
                await self._call(container.kill)
        decoder = FrameDecoder(spec.limits.output_bytes)
        await self._call(self._read_logs, container, decoder, self._log_cap(spec))
        if decoder.launcher_error:
            raise SandboxError(f"the sandbox refused to run: {decoder.launcher_error}")
        await self._call(container.reload)
        return _merge_container_state(decoder, container.attrs.get("State", {}), backstop_fired)

    @staticmethod
    def _read_logs(container: Container, decoder: FrameDecoder, cap: int) -> None:
        read = 0
        for chunk in container.logs(stdout=True, stderr=False, stream=True, follow=False):
            decoder.feed(chunk)
            read += len(chunk)
            if read > cap:
                break

    async def _remove(self, container: Container) -> None:
        try:
            await self._call(container.remove, force=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.DockerException as error:
            log.error("docker backend: could not remove container %s: %s", container.id, error)

    async def close(self) -> None:
        for container_id in list(self._in_flight):
            with contextlib.suppress(docker.errors.DockerException):
                await self._call(self._docker().api.remove_container, container_id, force=True)
        if self._client is not None:
            self._client.close()
        self._pool.shutdown(wait=False, cancel_futures=True)


def _merge_container_state(
    decoder: FrameDecoder, state: dict[str, Any], backstop_fired: bool
) -> RunResult:
    """The launcher's report, completed from the container state where the launcher died."""
    result = decoder.result()
    if decoder.has_report() and not backstop_fired:
        if state.get("OOMKilled") and not result.oom_killed:
            result = result.model_copy(update={"oom_killed": True})
        return result
    # No report: the launcher itself was killed (OOM of the whole container, or the backstop).
    exit_code = state.get("ExitCode")
    return result.model_copy(
        update={
            "exit_code": None
            if backstop_fired or exit_code is None or exit_code > 128
            else exit_code,
            "signal": "SIGKILL" if backstop_fired or (exit_code or 0) > 128 else None,
            "timed_out": backstop_fired,
            "oom_killed": bool(state.get("OOMKilled")),
        }
    )
