"""Pick and build the configured backend, importing heavy SDKs only when chosen."""

from __future__ import annotations

import os
from pathlib import Path

from isobox.backends.base import Backend
from isobox.errors import ConfigError
from isobox.settings import Settings


def create_backend(settings: Settings) -> Backend:
    """The backend `settings.backend` names; `auto` means docker if its socket answers."""
    name = settings.backend
    if name == "auto":
        name = "docker" if docker_answers() else "local"
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


def docker_answers() -> bool:
    """Whether a Docker engine answers a ping; false when the SDK is not installed."""
    host = os.environ.get("DOCKER_HOST", "")
    if not host and not Path("/var/run/docker.sock").exists():
        return False
    try:
        import docker
    except ImportError:
        return False
    try:
        client = docker.from_env(timeout=3)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # noqa: BLE001 - any failure means "not usable"
        return False
