"""`/readyz` and `GET /languages` name the runtime a real backend isolates programs with, the
same one its results report: bubblewrap (local), runc (docker), runsc (docker with the engine's
runsc runtime, kubernetes with the gvisor RuntimeClass). The HTTP shape is in
tests/api/test_runtime_named.py."""

from __future__ import annotations

import os

import pytest

from tests.helpers.app import api_client
from tests.helpers.backends import BACKENDS, GVISOR, RUNTIMES, backend_of, backend_settings

CASES = [
    case
    for case in (*BACKENDS, *GVISOR)
    if case.values[0] in {"local", "docker", "docker+runsc", "kubernetes+gvisor"}
]


@pytest.mark.parametrize("name", CASES)
async def test_readyz_and_languages_name_the_runtime_results_report(request, name: str):
    if backend_of(name) == "kubernetes":
        request.getfixturevalue("sandbox_namespace")
    async with api_client(backend_settings(name, pool=False)) as client:
        ready = await client.get("/readyz")
        languages = await client.get("/languages")
        ran = await client.post("/execute", json={"language": "bash", "code": "cat /proc/version"})
    assert ready.status_code == 200, ready.text
    assert (ready.json()["backend"], ready.json()["runtime"]) == (backend_of(name), RUNTIMES[name])
    assert languages.json()["runtime"] == RUNTIMES[name]
    assert ran.json()["runtime"] == RUNTIMES[name]
    assert is_gvisor_kernel(ran.json()["stdout"]) is (RUNTIMES[name] == "runsc"), ran.json()


def is_gvisor_kernel(proc_version: str) -> bool:
    """gVisor's Sentry names a kernel of its own, never the host's: 4.4.0 in older releases
    (Debian's runsc), 4.19.0-gvisor in the one hack/cluster/versions.env pins."""
    release = proc_version.split()[2]
    return release != os.uname().release and (release == "4.4.0" or release.endswith("-gvisor"))
