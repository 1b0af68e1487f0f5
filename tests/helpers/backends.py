"""The real backends the behaviour suite runs on, and the settings each gets."""

from __future__ import annotations

import pytest

from isobox.settings import Settings

SANDBOX_NAMESPACE = "isobox-test-sandbox"
BACKENDS = [
    pytest.param("local", marks=pytest.mark.local, id="local"),
    pytest.param("docker", marks=pytest.mark.docker, id="docker"),
    pytest.param("kubernetes", marks=pytest.mark.cluster, id="kubernetes"),
    pytest.param("coderun", marks=pytest.mark.cluster, id="coderun"),
]


# The behaviour suite runs each backend with its warm pool and without (all cold); the
# operator keeps no pool, so coderun runs once.
POOL_MODES = [
    pytest.param((backend.values[0], pool), marks=backend.marks, id=f"{backend.id}-{pool}")
    for backend in BACKENDS
    for pool in ("pool", "cold")
    if not (backend.values[0] == "coderun" and pool == "pool")
]


def backend_settings(name: str, pool: bool = True) -> Settings:
    """Settings for a test API on backend `name` (cluster backends in SANDBOX_NAMESPACE),
    with the default warm pool or none."""
    return Settings(
        backend=name,  # type: ignore[arg-type]
        max_timeout_s=30,
        max_concurrent_runs=32,
        kubernetes_namespace=SANDBOX_NAMESPACE,
        kubernetes_image_pull_policy="Never",
        **({} if pool else {"pool_size": ""}),
    )
