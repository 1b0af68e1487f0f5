"""Who can reach the API: anonymous execution from outside is opt-in, a NetworkPolicy admits
only the Ingress controller, monitoring and the `helm test` Pod by default, and NOTES.txt leads
with a warning for every protection the values leave off."""

from __future__ import annotations

import pytest

from .helm import Obj, Rendered, notes, render, render_error

KEYS = {"apiKeys": {"existingSecret": "isobox-keys"}}
INGRESS = {"ingress": {"enabled": True, "host": "isobox.example.com"}}


def _peers(rendered: Rendered) -> list[Obj]:
    policy = rendered.get("NetworkPolicy", "-api")
    (rule,) = policy["spec"]["ingress"]
    assert rule["ports"] == [{"port": "http", "protocol": "TCP"}]
    return list(rule["from"])


def _namespace(name: str) -> Obj:
    return {"matchLabels": {"kubernetes.io/metadata.name": name}}


@pytest.mark.parametrize(
    ("api", "cause"),
    [
        (INGRESS, "api.ingress.enabled=true"),
        ({"service": {"type": "LoadBalancer"}}, "api.service.type=LoadBalancer"),
        ({"service": {"type": "NodePort"}}, "api.service.type=NodePort"),
    ],
)
def test_anonymous_execution_from_outside_is_refused_unless_allowed(api: Obj, cause: str) -> None:
    error = render_error({"api": api})
    assert "api.allowAnonymous=true" in error
    assert "api.apiKeys.existingSecret" in error
    assert cause in error
    render({"api": {**api, "allowAnonymous": True}})
    render({"api": {**api, **KEYS}})


def test_an_api_only_inside_the_cluster_needs_no_opt_in() -> None:
    render({"api": {"service": {"type": "ClusterIP"}}})
    render({"api": {"ingress": {"enabled": False}}})


def test_the_api_network_policy_is_on_by_default_and_admits_only_known_peers() -> None:
    rendered = render()
    policy = rendered.get("NetworkPolicy", "-api")
    api_pods = rendered.get("Deployment", "-api")["spec"]["template"]["metadata"]["labels"]
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= api_pods.items()
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    controller, monitoring, test = _peers(rendered)
    assert controller == {"namespaceSelector": _namespace("ingress-nginx")}
    assert monitoring == {"namespaceSelector": _namespace("monitoring")}
    test_pod = rendered.get("Pod", "-test-execute")
    assert set(test) == {"podSelector"}
    assert test["podSelector"]["matchLabels"].items() <= test_pod["metadata"]["labels"].items()
    # The test Pod's selector picks it alone, not the API or operator Pods.
    operator_pods = rendered.get("Deployment", "-operator")["spec"]["template"]["metadata"]
    for labels in (api_pods, operator_pods["labels"]):
        assert not test["podSelector"]["matchLabels"].items() <= labels.items()


def test_the_api_network_policy_selectors_are_configurable() -> None:
    traefik_pods = {"matchLabels": {"app.kubernetes.io/name": "traefik"}}
    extra = {"namespaceSelector": _namespace("clients")}
    rendered = render(
        {
            "api": {
                "networkPolicy": {
                    "ingressController": {
                        "namespaceSelector": _namespace("traefik"),
                        "podSelector": traefik_pods,
                    },
                    "monitoring": {"namespaceSelector": _namespace("prometheus")},
                    "ingressFrom": [extra],
                    "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.1/32"}}]}],
                }
            }
        }
    )
    controller, monitoring, added, _test = _peers(rendered)
    assert controller == {"namespaceSelector": _namespace("traefik"), "podSelector": traefik_pods}
    assert monitoring == {"namespaceSelector": _namespace("prometheus")}
    assert added == extra
    policy = rendered.get("NetworkPolicy", "-api")
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert policy["spec"]["egress"] == [{"to": [{"ipBlock": {"cidr": "10.0.0.1/32"}}]}]


@pytest.mark.parametrize(
    "selector",
    [None, {"matchLabels": None}, {"matchLabels": {"kubernetes.io/metadata.name": None}}],
)
def test_an_emptied_namespace_selector_admits_nobody_never_everybody(selector: Obj | None) -> None:
    """Helm merges values into the defaults, so null is how a default selector is emptied."""
    rendered = render(
        {
            "api": {
                "networkPolicy": {
                    "ingressController": {"namespaceSelector": selector},
                    "monitoring": {"namespaceSelector": selector},
                }
            }
        }
    )
    (test,) = _peers(rendered)
    assert set(test) == {"podSelector"}


def test_the_api_network_policy_can_be_left_out() -> None:
    assert (
        render({"api": {"networkPolicy": {"enabled": False}}}).find("NetworkPolicy", "-api") is None
    )


WARNINGS = {
    "anonymous": "WARNING: ANONYMOUS CODE EXECUTION",
    "keys": "WARNING: No API keys",
    "policy": "WARNING: api.networkPolicy.enabled=false",
    "gvisor": "WARNING: No gVisor",
    "sandbox": "WARNING: sandbox.networkPolicy.create=false",
}


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({}, {"keys", "gvisor"}),
        ({"api": {**INGRESS, "allowAnonymous": True}}, {"anonymous", "gvisor"}),
        ({"api": {"networkPolicy": {"enabled": False}, **KEYS}}, {"policy", "gvisor"}),
        ({"api": KEYS, "sandbox": {"runtimeClassName": "gvisor"}}, set()),
        ({"api": {**INGRESS, **KEYS}, "sandbox": {"runtimeClassName": "gvisor"}}, set()),
        ({"api": KEYS, "sandbox": {"networkPolicy": {"create": False}}}, {"sandbox", "gvisor"}),
        ({"api": KEYS, "backend": "docker"}, set()),  # no sandbox Pods in the cluster
    ],
)
def test_notes_lead_with_the_warnings_that_apply(values: Obj, expected: set[str]) -> None:
    text = notes(values)
    shown = {name for name, warning in WARNINGS.items() if warning in text}
    assert shown == expected, text
    lines = text.strip().splitlines()
    for line in lines[: len(expected)]:
        assert line.startswith("WARNING: "), text
    assert lines[len(expected) + (1 if expected else 0)].startswith("isobox "), text
    if "anonymous" in expected:
        assert "api.ingress.enabled=true" in text
