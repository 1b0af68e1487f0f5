"""`helm install` of a trivial chart (tests/cluster/charts/isobox-smoke) succeeds.

The chart declares a kubeVersion constraint, so this also checks that the API server reports
a real version. Helm comes from ISOBOX_HELM or PATH (`make cluster-up` builds it into
${ISOBOX_K8S_CACHE:-/var/cache/isobox-k8s}/bin).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from kubernetes import client

from tests.helpers.wait import wait_until

from .conftest import TEST_IMAGE, NamespaceFactory

pytestmark = pytest.mark.cluster

CHART = Path(__file__).parent / "charts" / "isobox-smoke"


def helm_bin() -> str:
    helm = os.environ.get("ISOBOX_HELM") or shutil.which("helm")
    assert helm, "helm not found: set ISOBOX_HELM or put the cluster's bin dir on PATH"
    return helm


def helm(*args: str) -> str:
    r = subprocess.run(
        [helm_bin(), *args], capture_output=True, text=True, timeout=300, check=False
    )
    assert r.returncode == 0, f"helm {' '.join(args)} failed ({r.returncode}): {r.stderr}{r.stdout}"
    return r.stdout


def test_helm_install_trivial_chart(
    core: client.CoreV1Api, make_namespace: NamespaceFactory
) -> None:
    ns = make_namespace()
    token = uuid.uuid4().hex
    helm(
        "install",
        "smoke",
        str(CHART),
        "--namespace",
        ns,
        "--wait",
        "--timeout",
        "2m",
        "--set",
        f"image={TEST_IMAGE}",
        "--set",
        f"message={token}",
    )
    cm = core.read_namespaced_config_map("smoke-isobox-smoke", ns)
    assert cm.data["message"] == token
    # --wait returned, so the chart's pod is Ready; it printed the ConfigMap's message
    wait_until(
        lambda: core.read_namespaced_pod_log("smoke-isobox-smoke", ns).strip() == token,
        30,
        "chart pod log shows the message",
    )
    assert "smoke" in helm("list", "--namespace", ns, "--short")
    helm("uninstall", "smoke", "--namespace", ns, "--wait")
