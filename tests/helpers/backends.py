"""The real backends the behaviour suite runs on, and the settings each gets."""

from __future__ import annotations

import pytest

from isobox.settings import Settings

SANDBOX_NAMESPACE = "isobox-test-sandbox"
# Where the operator with a warm pool runs CodeRuns (the session's other operator, in
# SANDBOX_NAMESPACE, keeps none: one operator per namespace).
POOL_NAMESPACE = "isobox-test-pool"
BACKENDS = [
    pytest.param("local", marks=pytest.mark.local, id="local"),
    pytest.param("docker", marks=pytest.mark.docker, id="docker"),
    pytest.param("kubernetes", marks=pytest.mark.cluster, id="kubernetes"),
    pytest.param("coderun", marks=pytest.mark.cluster, id="coderun"),
]


# gVisor as the sandbox runtime: docker with the engine's `runsc` runtime (hack/dockerd.sh
# registers it), kubernetes with the test cluster's `gvisor` RuntimeClass. They run the
# behaviour and compiled-language suites, what proves the point, not every module.
GVISOR = [
    pytest.param("docker+runsc", marks=pytest.mark.docker, id="docker-gvisor"),
    pytest.param("kubernetes+gvisor", marks=pytest.mark.cluster, id="kubernetes-gvisor"),
]
# The behaviour suite runs each backend with its warm pool and without (all cold): for
# coderun the pool is the operator's (POOL_NAMESPACE); gVisor on kubernetes runs cold only.
POOL_MODES = [
    pytest.param((backend.values[0], pool), marks=backend.marks, id=f"{backend.id}-{pool}")
    for backend in (*BACKENDS, *GVISOR)
    for pool in ("pool", "cold")
    if not (backend.values[0] == "kubernetes+gvisor" and pool == "pool")
]
# What results report as `runtime`, per test backend.
RUNTIMES = {
    "local": "bubblewrap",
    "docker": "runc",
    "kubernetes": "runc",
    "coderun": "runc",
    "docker+runsc": "runsc",
    "kubernetes+gvisor": "runsc",
}


def backend_of(name: str) -> str:
    """The isobox backend of a test backend name ("docker+runsc" is the docker backend)."""
    return name.partition("+")[0]


def backend_settings(name: str, pool: bool = True) -> Settings:
    """Settings for a test API on backend `name` (cluster backends in SANDBOX_NAMESPACE;
    `operator_pool_settings` moves coderun to the pooled operator's), with the default warm
    pool or none; `docker+runsc` and `kubernetes+gvisor` name the
    sandbox runtime too."""
    backend, _, runtime = name.partition("+")
    runtimes = {"docker": "docker_runtime", "kubernetes": "kubernetes_runtime_class"}
    return Settings(
        backend=backend,  # type: ignore[arg-type]
        **({runtimes[backend]: runtime} if runtime else {}),
        max_timeout_s=30,
        max_concurrent_runs=32,
        kubernetes_namespace=SANDBOX_NAMESPACE,
        kubernetes_image_pull_policy="Never",
        **({} if pool else {"pool_size": ""}),
    )


def operator_pool_settings() -> Settings:
    """Settings for a test API on coderun whose CodeRuns go to POOL_NAMESPACE, whose operator
    (the `pool_operator` fixture) keeps the default warm pool."""
    return backend_settings("coderun").model_copy(update={"kubernetes_namespace": POOL_NAMESPACE})
