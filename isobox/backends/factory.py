"""Pick and build the configured backend, importing heavy SDKs only when chosen."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from isobox.backends.base import Backend
from isobox.errors import ConfigError
from isobox.settings import Settings

log = logging.getLogger(__name__)
DEFAULT_SOCKET = "/var/run/docker.sock"


def create_backend(settings: Settings) -> Backend:
    """The backend `settings.backend` names; `auto` means docker if one is configured."""
    name = settings.backend if settings.backend != "auto" else auto_backend()
    if name == "local":
        from isobox.backends.local import LocalBackend

        return LocalBackend(settings)
    if name == "docker":
        from isobox.backends.docker import DockerBackend

        return DockerBackend(settings)
    if name == "kubernetes":
        from isobox.backends.kubernetes import KubernetesBackend

        return KubernetesBackend(settings)
    if name == "coderun":
        from isobox.backends.coderun import CodeRunBackend

        return CodeRunBackend(settings)
    raise ConfigError(f"unknown backend {name!r}")


def auto_backend() -> str:
    """docker where a Docker engine is configured (DOCKER_HOST, or the default socket), local
    only where none is. A configured engine that does not answer is a refusal to start, never
    a quiet fall back to the weaker local sandbox (a restart during a Docker outage would
    otherwise change the isolation of every run)."""
    host = os.environ.get("DOCKER_HOST", "")
    if not host and not Path(DEFAULT_SOCKET).exists():
        log.info("backend auto: no Docker engine configured, using the local backend")
        return "local"
    where = host or DEFAULT_SOCKET
    problem = docker_problem()
    if problem:
        raise ConfigError(
            f"backend auto: a Docker engine is configured ({where}) but {problem}; start it, "
            "or choose ISOBOX_BACKEND=local explicitly"
        )
    log.info("backend auto: Docker engine at %s answers, using the docker backend", where)
    return "docker"


def docker_problem() -> str:
    """Why the configured Docker engine cannot be used ("" when it answers a ping)."""
    try:
        import docker
    except ImportError:
        return "the Docker SDK is not installed (pip install 'isobox[docker]')"
    try:
        client = docker.from_env(timeout=3)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as error:  # noqa: BLE001 - any failure means "not usable", said below
        return f"it does not answer ({error})"
    return ""
