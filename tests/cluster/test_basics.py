"""The node is Ready, a locally built image runs and its log is read back, and the
restricted pod shape isobox uses runs under PodSecurity `restricted`."""

from __future__ import annotations

import uuid

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from .conftest import NamespaceFactory, pod_manifest, wait_pod_phase

pytestmark = pytest.mark.cluster


def test_node_ready(core: client.CoreV1Api) -> None:
    nodes = core.list_node().items
    assert nodes, "cluster has no nodes"
    ready = [
        n.metadata.name
        for n in nodes
        if any(c.type == "Ready" and c.status == "True" for c in n.status.conditions or [])
    ]
    assert ready, f"no Ready node: {[(n.metadata.name, n.status.conditions) for n in nodes]}"


def test_server_reports_real_version(api_client: client.ApiClient) -> None:
    info = client.VersionApi(api_client).get_code()
    assert info.git_version.startswith("v1."), info
    assert "v0.0.0" not in info.git_version, info
    assert int(info.major) == 1, info
    assert int(info.minor.rstrip("+")) >= 25, info


def test_local_image_pod_runs_and_logs(
    core: client.CoreV1Api, make_namespace: NamespaceFactory
) -> None:
    ns = make_namespace()
    token = f"hello-{uuid.uuid4().hex}"
    pod = pod_manifest("hello", ["sh", "-c", f"echo {token}"], restricted=False)
    pod.spec.containers[0].image_pull_policy = "Never"  # must come from the local image store
    core.create_namespaced_pod(ns, pod)
    wait_pod_phase(core, ns, "hello", {"Succeeded"})
    assert core.read_namespaced_pod_log("hello", ns).strip() == token


RESTRICTED_PROBE = r"""
echo "uid=$(id -u) gid=$(id -g)"
grep -E '^(CapEff|CapPrm|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status | tr -d '\t'
if touch /rootfs-write-test 2>/dev/null; then echo rootfs=writable; else echo rootfs=readonly; fi
if touch /tmp/ok 2>/dev/null; then echo tmp=writable; else echo tmp=readonly; fi
sa=/var/run/secrets/kubernetes.io/serviceaccount/token
if [ -e $sa ]; then echo satoken=present; else echo satoken=absent; fi
"""


def test_restricted_pod_runs(core: client.CoreV1Api, make_namespace: NamespaceFactory) -> None:
    ns = make_namespace(
        labels={
            "pod-security.kubernetes.io/enforce": "restricted",
            "pod-security.kubernetes.io/enforce-version": "latest",
        }
    )
    core.create_namespaced_pod(ns, pod_manifest("restricted", ["sh", "-c", RESTRICTED_PROBE]))
    wait_pod_phase(core, ns, "restricted", {"Succeeded"})
    out = dict(
        line.split("=", 1) if "=" in line else line.split(":", 1)
        for line in core.read_namespaced_pod_log("restricted", ns).split()
    )
    assert out["uid"] == "10001", out
    assert out["gid"] == "10001", out
    assert int(out["CapEff"], 16) == 0, out
    assert int(out["CapPrm"], 16) == 0, out
    assert int(out["CapBnd"], 16) == 0, out
    assert out["NoNewPrivs"] == "1", out
    assert out["Seccomp"] == "2", out  # 2 = filter mode (RuntimeDefault profile)
    assert out["rootfs"] == "readonly", out
    assert out["tmp"] == "writable", out
    assert out["satoken"] == "absent", out


def test_restricted_namespace_rejects_unrestricted_pod(
    core: client.CoreV1Api, make_namespace: NamespaceFactory
) -> None:
    """The other side: PodSecurity admission really enforces `restricted` there."""
    ns = make_namespace(labels={"pod-security.kubernetes.io/enforce": "restricted"})
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_pod(ns, pod_manifest("loose", ["true"], restricted=False))
    assert exc.value.status == 403, exc.value
    assert "violates PodSecurity" in str(exc.value.body), exc.value.body
