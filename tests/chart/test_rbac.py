"""RBAC is least privilege: the API's rights follow its backend; the operator's are scoped."""

from __future__ import annotations

import pytest

from .helm import Obj, Rendered, render

SANDBOX = "isobox-sandbox"


def _rules(role: Obj) -> dict[tuple[str, str], set[str]]:
    """(apiGroup, resource) -> verbs."""
    rules: dict[tuple[str, str], set[str]] = {}
    for rule in role["rules"]:
        assert "*" not in rule["verbs"], rule
        assert "*" not in rule["resources"], rule
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                rules.setdefault((group, resource), set()).update(rule["verbs"])
    return rules


def _bound_to(rendered: Rendered, role: Obj, service_account: str) -> None:
    kind = "RoleBinding" if role["kind"] == "Role" else "ClusterRoleBinding"
    binding = rendered.get(kind, role["metadata"]["name"])
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": role["kind"],
        "name": role["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": service_account, "namespace": "isobox"}
    ]
    if role["kind"] == "Role":
        assert binding["metadata"]["namespace"] == role["metadata"]["namespace"]


def test_api_with_kubernetes_backend_manages_only_sandbox_pods_and_the_policy() -> None:
    rendered = render({"backend": "kubernetes"})
    role = rendered.get("Role", "-api")
    assert role["metadata"]["namespace"] == SANDBOX
    assert _rules(role) == {
        ("", "pods"): {"create", "get", "list", "watch", "delete"},
        ("", "pods/log"): {"get"},
        # A warm pod gets its program on stdin through the attach subresource.
        ("", "pods/attach"): {"create", "get"},
        # All of them listed: do they isolate sandbox pods? The deny-all one made if missing.
        ("networking.k8s.io", "networkpolicies"): {"get", "list", "create"},
    }
    _bound_to(rendered, role, "demo-isobox-api")
    # In its own namespace only: is a warm pool's owner replica still there?
    peers = rendered.get("Role", "-api-peers")
    assert peers["metadata"]["namespace"] != SANDBOX
    assert _rules(peers) == {("", "pods"): {"get"}}
    assert rendered.all("ClusterRole") == []
    assert rendered.find("Role", "-operator") is None


def test_api_with_coderun_backend_manages_only_coderuns() -> None:
    rendered = render({"backend": "coderun"})
    role = rendered.get("Role", "-api")
    assert role["metadata"]["namespace"] == SANDBOX
    assert _rules(role) == {
        ("isobox.dev", "coderuns"): {"create", "get", "list", "watch", "patch"},
        # A streamed run follows its CodeRun's pod log.
        ("", "pods/log"): {"get"},
    }
    assert rendered.find("Role", "-api-peers") is None
    _bound_to(rendered, role, "demo-isobox-api")


@pytest.mark.parametrize("backend", ["docker", "local"])
def test_api_without_a_cluster_backend_gets_no_rights(backend: str) -> None:
    rendered = render({"backend": backend})
    for kind in ("Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"):
        assert rendered.all(kind) == [], kind


def test_operator_rights_are_namespaced_except_what_kopf_reads() -> None:
    rendered = render({"backend": "coderun"})
    role = rendered.get("Role", "-operator")
    assert role["metadata"]["namespace"] == SANDBOX
    assert _rules(role) == {
        ("isobox.dev", "coderuns"): {"get", "list", "watch", "patch", "update", "delete"},
        ("isobox.dev", "coderuns/status"): {"get", "list", "watch", "patch", "update", "delete"},
        # A warm pod of its pool is handed over to a CodeRun (labels, ownerReference) and
        # gets the program on stdin through the attach subresource.
        ("", "pods"): {"create", "get", "list", "watch", "delete", "patch"},
        ("", "pods/log"): {"get"},
        ("", "pods/attach"): {"create", "get"},
        ("", "events"): {"create"},
        # Listed before each pod: do the namespace's policies isolate sandbox pods? The
        # deny-all one, read, owns the warm pods.
        ("networking.k8s.io", "networkpolicies"): {"get", "list"},
    }
    _bound_to(rendered, role, "demo-isobox-operator")
    # In its own namespace only: is the operator that made a warm pod still there?
    peers = rendered.get("Role", "-operator-peers")
    assert peers["metadata"]["namespace"] != SANDBOX
    assert _rules(peers) == {("", "pods"): {"get"}}
    _bound_to(rendered, peers, "demo-isobox-operator")
    cluster_role = rendered.get("ClusterRole", "-operator")
    assert _rules(cluster_role) == {
        ("apiextensions.k8s.io", "customresourcedefinitions"): {"get", "list", "watch"},
        ("", "namespaces"): {"list", "watch"},
    }
    _bound_to(rendered, cluster_role, "demo-isobox-operator")


def test_rbac_can_be_left_to_the_cluster_admin() -> None:
    rendered = render({"rbac": {"create": False}})
    for kind in ("Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"):
        assert rendered.all(kind) == [], kind
