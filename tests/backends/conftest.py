"""One API client per real backend; every behaviour test runs on each of them.

The cluster backends use whatever cluster KUBECONFIG names, in a namespace of their own that
the session creates (Pod Security *restricted*, deny-all NetworkPolicy) and deletes.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from isobox.settings import Settings
from tests.conftest import api_client

SANDBOX_NAMESPACE = "isobox-test-sandbox"
BACKENDS = [
    pytest.param("local", marks=pytest.mark.local, id="local"),
    pytest.param("docker", marks=pytest.mark.docker, id="docker"),
    pytest.param("kubernetes", marks=pytest.mark.cluster, id="kubernetes"),
    pytest.param("coderun", marks=pytest.mark.cluster, id="coderun"),
]


def backend_settings(name: str) -> Settings:
    return Settings(
        backend=name,  # type: ignore[arg-type]
        max_timeout_s=30,
        max_concurrent_runs=32,
        kubernetes_namespace=SANDBOX_NAMESPACE,
        kubernetes_image_pull_policy="Never",
    )


@pytest.fixture(scope="session")
def sandbox_namespace():
    from tests import kube

    with kube.coderun_namespace(kube.api_client(), SANDBOX_NAMESPACE) as namespace:
        yield namespace


@pytest.fixture(scope="session")
def operator(sandbox_namespace, tmp_path_factory):
    from tests import kube

    log = tmp_path_factory.mktemp("operator") / "operator.log"
    with kube.operator_process(
        sandbox_namespace, log, ISOBOX_KUBERNETES_IMAGE_PULL_POLICY="Never"
    ) as process:
        process.log_path = log
        yield process


@pytest.fixture(scope="session", params=BACKENDS)
async def client(request):
    if request.param in {"kubernetes", "coderun"}:
        request.getfixturevalue("sandbox_namespace")
    if request.param == "coderun":
        request.getfixturevalue("operator")
    async with api_client(backend_settings(request.param)) as client:
        client.backend_name = request.param
        yield client


@pytest.fixture(scope="session", autouse=True)
def temp_entries_at_start() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).iterdir()}
