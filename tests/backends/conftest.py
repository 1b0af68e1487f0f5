"""One API client per real backend; every behaviour test runs on each of them.

The cluster backends use whatever cluster KUBECONFIG names, in a namespace of their own that
the session creates (Pod Security *restricted*, deny-all NetworkPolicy) and deletes.

After the last test, whatever its module, `nothing_is_left_behind` checks that no run left
anything on the host (tests/helpers/leaks.py); a leftover fails the session.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from isobox.settings import Settings
from tests.helpers import leaks
from tests.helpers.app import api_client
from tests.helpers.backends import BACKENDS, POOL_NAMESPACE, SANDBOX_NAMESPACE, backend_settings
from tests.helpers.wait import wait_until


@pytest.fixture(scope="session")
def sandbox_namespace():
    from tests import kube

    with kube.coderun_namespace(kube.api_client(), SANDBOX_NAMESPACE) as namespace:
        yield namespace


@pytest.fixture(scope="session")
def operator(sandbox_namespace, tmp_path_factory):
    """The operator of SANDBOX_NAMESPACE, without a warm pool: every CodeRun gets a new pod."""
    from tests import kube

    log = tmp_path_factory.mktemp("operator") / "operator.log"
    with kube.operator_process(
        sandbox_namespace, log, ISOBOX_KUBERNETES_IMAGE_PULL_POLICY="Never"
    ) as process:
        process.log_path = log
        yield process


@pytest.fixture(scope="session")
def pool_operator(tmp_path_factory):
    """The operator of POOL_NAMESPACE, with the default warm pool (python=2,node=1)."""
    from tests import kube

    log = tmp_path_factory.mktemp("pool-operator") / "operator.log"
    with (
        kube.coderun_namespace(kube.api_client(), POOL_NAMESPACE) as namespace,
        kube.operator_process(
            namespace,
            log,
            ISOBOX_KUBERNETES_IMAGE_PULL_POLICY="Never",
            ISOBOX_POOL_SIZE=Settings().pool_size,
        ) as process,
    ):
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


def leftovers(since: float, temp_before: set[str]) -> list[str]:
    """Everything a run of this session left on the host (empty: nothing)."""
    found = leaks.sandbox_processes(since)
    found += leaks.cgroup_leftovers(Settings().local_cgroup_root, since)
    found += leaks.temp_dirs(temp_before)
    if leaks.docker_answers():
        found += leaks.sandbox_containers(since)
    if leaks.cluster_configured():
        found += leaks.sandbox_pods(since)
    return found


@pytest.fixture(scope="session", autouse=True)
def nothing_is_left_behind() -> Iterator[None]:
    """Set up before, so torn down after, every other fixture of the backend tests (the API
    clients, the operator, the sandbox namespace): then no sandbox may be left. Removal is
    asynchronous on a cluster, so it gets 30 s; a leftover then is an error of the session."""
    since, temp_before = time.time() - 1, leaks.temp_entries()
    yield
    found: list[str] = []

    def clean() -> bool:
        found[:] = leftovers(since, temp_before)
        return not found

    try:
        wait_until(clean, 30, "the host to be clean", interval_s=1)
    except AssertionError:
        pytest.fail("runs left this behind:\n  " + "\n  ".join(found), pytrace=False)
