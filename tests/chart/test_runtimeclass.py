"""sandbox.runtimeClassName reaches the API and the operator; the chart can create the RuntimeClass."""

from __future__ import annotations

import pytest

from .helm import CHART, Obj, Rendered, env_of, render, render_error, run_helm

VARIABLE = "ISOBOX_KUBERNETES_RUNTIME_CLASS"


def _service_envs(rendered: Rendered) -> dict[str, dict[str, str]]:
    """The environment of the API and operator containers."""
    return {
        name: env_of(pod["containers"][0])
        for name, pod in rendered.pod_specs().items()
        if name.startswith("Deployment/")
    }


@pytest.mark.parametrize("backend", ["coderun", "kubernetes"])
def test_no_runtime_class_by_default(backend: str) -> None:
    rendered = render({"backend": backend})
    assert rendered.all("RuntimeClass") == []
    envs = _service_envs(rendered)
    assert envs
    for name, env in envs.items():
        assert VARIABLE not in env, name


@pytest.mark.parametrize("backend", ["coderun", "kubernetes"])
def test_the_runtime_class_name_reaches_the_api_and_the_operator(backend: str) -> None:
    rendered = render({"backend": backend, "sandbox": {"runtimeClassName": "gvisor"}})
    envs = _service_envs(rendered)
    expected = {"Deployment/demo-isobox-api"}
    if backend == "coderun":
        expected.add("Deployment/demo-isobox-operator")
    assert set(envs) == expected
    for name, env in envs.items():
        assert env[VARIABLE] == "gvisor", name
    assert rendered.all("RuntimeClass") == []  # an existing one is used unless create is set


def test_the_chart_creates_the_runtime_class_when_asked() -> None:
    sandbox: Obj = {"runtimeClassName": "gvisor", "runtimeClass": {"create": True}}
    runtime_class = render({"sandbox": sandbox}).get("RuntimeClass")
    assert runtime_class["apiVersion"] == "node.k8s.io/v1"
    assert runtime_class["metadata"]["name"] == "gvisor"
    assert "namespace" not in runtime_class["metadata"]  # cluster-scoped
    assert runtime_class["handler"] == "runsc"
    sandbox["runtimeClass"]["handler"] = "runsc-kvm"
    assert render({"sandbox": sandbox}).get("RuntimeClass")["handler"] == "runsc-kvm"


def test_creating_a_runtime_class_needs_its_name() -> None:
    error = render_error({"sandbox": {"runtimeClass": {"create": True}}})
    assert "sandbox.runtimeClassName" in error


@pytest.mark.parametrize("backend", ["docker", "local"])
def test_no_runtime_class_without_sandbox_pods_in_the_cluster(backend: str) -> None:
    sandbox = {"runtimeClassName": "gvisor", "runtimeClass": {"create": True}}
    assert render({"backend": backend, "sandbox": sandbox}).all("RuntimeClass") == []


def test_a_runtime_class_adds_only_reading_that_one_runtime_class() -> None:
    """Pods name a RuntimeClass without any right on it (the admission plugin reads it); the
    API and the operator read that one RuntimeClass, to report its handler as each result's
    runtime and to refuse to run while it is missing."""
    sandbox = {"runtimeClassName": "gvisor", "runtimeClass": {"create": True}}
    for backend in ("coderun", "kubernetes"):
        plain, gvisor = (
            render({"backend": backend}),
            render({"backend": backend, "sandbox": sandbox}),
        )
        assert [r["rules"] for r in gvisor.all("Role")] == [r["rules"] for r in plain.all("Role")]
        added = [
            role
            for role in gvisor.all("ClusterRole")
            if role["metadata"]["name"]
            not in {r["metadata"]["name"] for r in plain.all("ClusterRole")}
        ]
        (reader,) = added
        assert reader["rules"] == [
            {
                "apiGroups": ["node.k8s.io"],
                "resources": ["runtimeclasses"],
                "resourceNames": ["gvisor"],
                "verbs": ["get"],
            }
        ]
        binding = gvisor.get("ClusterRoleBinding", "-runtimeclass")
        subjects = {s["name"] for s in binding["subjects"]}
        assert any(name.endswith("-api") for name in subjects)
        assert any(name.endswith("-operator") for name in subjects) == (backend == "coderun")


@pytest.mark.parametrize(
    "sandbox",
    [
        {},
        {"runtimeClassName": "gvisor"},
        {"runtimeClassName": "gvisor", "runtimeClass": {"create": True}},
    ],
)
def test_helm_lint_strict_is_clean_with_and_without_a_runtime_class(sandbox: Obj) -> None:
    result = run_helm("lint", "--strict", str(CHART), values={"sandbox": sandbox})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[WARNING]" not in result.stdout
    assert "[ERROR]" not in result.stdout
