"""Every Pod the chart starts (API, operator, `helm test`) has the secure defaults."""

from __future__ import annotations

import pytest

from .helm import Obj, render

BACKENDS = ["coderun", "kubernetes", "docker", "local"]


def _container_is_locked_down(name: str, pod: Obj, container: Obj) -> None:
    context = container["securityContext"]
    assert context["allowPrivilegeEscalation"] is False, name
    assert context["readOnlyRootFilesystem"] is True, name
    assert context.get("privileged", False) is False, name
    assert context["capabilities"]["drop"] == ["ALL"], name
    assert not context["capabilities"].get("add"), name
    pod_context = pod["securityContext"]
    assert pod_context["runAsNonRoot"] is True or context.get("runAsNonRoot") is True, name
    seccomp = context.get("seccompProfile") or pod_context.get("seccompProfile")
    assert seccomp == {"type": "RuntimeDefault"}, name
    assert pod_context.get("runAsUser", 1) != 0, name


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_pod_is_non_root_read_only_without_capabilities(backend: str) -> None:
    pods = render({"backend": backend}).pod_specs()
    assert pods
    for name, pod in pods.items():
        for host_namespace in ("hostNetwork", "hostPID", "hostIPC"):
            assert not pod.get(host_namespace), name
        for container in pod["containers"] + pod.get("initContainers", []):
            _container_is_locked_down(name, pod, container)


@pytest.mark.parametrize(
    ("backend", "api_token"),
    [("coderun", True), ("kubernetes", True), ("docker", False), ("local", False)],
)
def test_only_pods_that_call_the_kubernetes_api_get_a_token(backend: str, api_token: bool) -> None:
    rendered = render({"backend": backend})
    for account in rendered.all("ServiceAccount"):
        assert account["automountServiceAccountToken"] is False
    pods = rendered.pod_specs()
    assert pods["Deployment/demo-isobox-api"]["automountServiceAccountToken"] is api_token
    assert pods["Pod/demo-isobox-test-execute"]["automountServiceAccountToken"] is False
    if backend == "coderun":
        assert pods["Deployment/demo-isobox-operator"]["automountServiceAccountToken"] is True


def test_api_writes_only_to_a_size_limited_tmp() -> None:
    pod = render().pod_specs()["Deployment/demo-isobox-api"]
    mounts = {m["mountPath"]: m for m in pod["containers"][0]["volumeMounts"]}
    assert set(mounts) == {"/tmp", "/etc/isobox"}
    assert mounts["/etc/isobox"]["readOnly"] is True
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes[mounts["/tmp"]["name"]]["emptyDir"]["sizeLimit"] == "64Mi"


def test_the_image_defaults_to_the_locally_built_one_and_never_latest() -> None:
    rendered = render()
    for name, pod in rendered.pod_specs().items():
        container = pod["containers"][0]
        assert container["image"] == "localhost/isobox/isobox:0.1.0", name
        assert container["imagePullPolicy"] == "IfNotPresent", name


def test_a_digest_pins_the_image() -> None:
    digest = "sha256:" + "a" * 64
    rendered = render({"image": {"repository": "registry.example/isobox", "digest": digest}})
    for pod in rendered.pod_specs().values():
        assert pod["containers"][0]["image"] == f"registry.example/isobox@{digest}"
