"""Which NetworkPolicies of the sandbox namespace open egress for sandbox pods, and the cluster
DNS address among the launcher's isolation probes.

`policies` decides from the policies as the API returns them; a selector is judged against
the labels sandbox pods can have, and what cannot be decided counts as selecting them.
"""

from __future__ import annotations

import base64
import json

import pytest

from isobox.kubernetes import manifests, policies
from isobox.languages import LanguageRegistry
from isobox.models import ExecutionRequest
from isobox.policy import build_run_spec
from isobox.sandbox import LANGUAGE_LABEL, POOL_LABEL, RUN_ID_LABEL
from isobox.settings import Settings

NAMESPACE = "sandboxes"
DNS_EGRESS = [{"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]}]


def policy(name: str, selector: dict, egress: list | None = None, **spec) -> dict:
    body: dict = {"podSelector": selector, **spec}
    if egress is not None:
        body["egress"] = egress
        body.setdefault("policyTypes", ["Egress"])
    return {"metadata": {"name": name, "namespace": NAMESPACE}, "spec": body}


def deny_all() -> dict:
    return manifests.deny_all_network_policy(NAMESPACE)


def expression(key: str, operator: str, *values: str) -> dict:
    found = {"key": key, "operator": operator}
    return {**found, "values": list(values)} if values else found


@pytest.mark.parametrize(
    "selector",
    [
        {},
        {"matchLabels": {"app.kubernetes.io/component": "sandbox"}},
        {"matchLabels": dict(manifests.SANDBOX_LABELS)},
        {"matchExpressions": [expression("app.kubernetes.io/name", "In", "isobox", "other")]},
        {"matchExpressions": [expression("app.kubernetes.io/component", "NotIn", "api")]},
        {"matchExpressions": [expression("app.kubernetes.io/managed-by", "Exists")]},
        {"matchExpressions": [expression("team", "DoesNotExist")]},
        {"matchExpressions": [expression("team", "NotIn", "payments")]},
        {"matchExpressions": [expression(RUN_ID_LABEL, "Exists")]},
    ],
    ids=[
        "empty",
        "one-sandbox-label",
        "all-sandbox-labels",
        "in",
        "notin-other-value",
        "exists",
        "absent-key-doesnotexist",
        "absent-key-notin",
        "run-id-exists",
    ],
)
def test_selectors_that_select_sandbox_pods(selector):
    assert policies.selects_sandboxes(selector) is True


@pytest.mark.parametrize(
    "selector",
    [
        {"matchLabels": {"app.kubernetes.io/component": "api"}},
        {"matchLabels": {"app": "web"}},
        {"matchLabels": {"app.kubernetes.io/component": "sandbox", "app": "web"}},
        {"matchExpressions": [expression("app.kubernetes.io/component", "NotIn", "sandbox")]},
        {"matchExpressions": [expression("app.kubernetes.io/name", "DoesNotExist")]},
        {"matchExpressions": [expression("team", "In", "payments")]},
        {"matchExpressions": [expression("team", "Exists")]},
        {"matchExpressions": [expression(RUN_ID_LABEL, "DoesNotExist")]},
        # One requirement that cannot be decided does not matter beside one that fails.
        {
            "matchLabels": {"app": "web"},
            "matchExpressions": [expression(LANGUAGE_LABEL, "In", "python")],
        },
    ],
    ids=[
        "other-component",
        "other-key",
        "sandbox-and-other-key",
        "notin-sandbox",
        "sandbox-label-doesnotexist",
        "absent-key-in",
        "absent-key-exists",
        "run-id-doesnotexist",
        "undecidable-and-false",
    ],
)
def test_selectors_that_leave_sandbox_pods_out(selector):
    assert policies.selects_sandboxes(selector) is False


@pytest.mark.parametrize(
    "selector",
    [
        {"matchLabels": {LANGUAGE_LABEL: "python"}},
        {"matchExpressions": [expression(RUN_ID_LABEL, "In", "abc")]},
        {"matchExpressions": [expression(POOL_LABEL, "Exists")]},
        {"matchExpressions": [expression(POOL_LABEL, "DoesNotExist")]},
        {"matchExpressions": [expression("app.kubernetes.io/name", "Matches", "iso*")]},
    ],
    ids=["language-value", "run-id-value", "pool-exists", "pool-doesnotexist", "unknown-op"],
)
def test_selectors_that_cannot_be_decided_are_unknown_and_refused(selector):
    assert policies.selects_sandboxes(selector) is None
    opener = policy("maybe", selector, DNS_EGRESS)
    assert policies.egress_openers([deny_all(), opener]) == ["maybe"]


def test_isobox_deny_all_alone_isolates():
    assert policies.isolation_problem([deny_all()], NAMESPACE) is None


def test_an_allow_dns_policy_for_every_pod_is_named_and_refused():
    problem = policies.isolation_problem(
        [deny_all(), policy("allow-dns", {}, DNS_EGRESS)], NAMESPACE
    )
    assert problem is not None
    assert problem.reason == "NetworkPolicyOpensEgress"
    assert "allow-dns" in problem.message
    assert NAMESPACE in problem.message


def test_every_opener_is_named():
    found = [
        deny_all(),
        policy("b-open", {"matchLabels": {"app.kubernetes.io/name": "isobox"}}, [{}]),
        policy("a-open", {}, [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}]),
    ]
    assert policies.egress_openers(found) == ["a-open", "b-open"]


@pytest.mark.parametrize(
    "harmless",
    [
        policy("ingress-only", {}, None, policyTypes=["Ingress"], ingress=[{}]),
        policy("deny-egress", {}, [], policyTypes=["Egress"]),
        policy("web-egress", {"matchLabels": {"app": "web"}}, DNS_EGRESS),
        policy("api-egress", {"matchLabels": {"app.kubernetes.io/component": "api"}}, [{}]),
    ],
    ids=["ingress-only", "egress-denied", "other-pods", "api-pods"],
)
def test_policies_without_egress_for_sandboxes_are_fine(harmless):
    assert policies.isolation_problem([deny_all(), harmless], NAMESPACE) is None


def test_no_deny_all_is_a_problem_of_its_own():
    problem = policies.isolation_problem([], NAMESPACE)
    assert problem is not None
    assert problem.reason == "NoDenyAllPolicy"
    assert manifests.NETWORK_POLICY_NAME in problem.message


def test_a_deny_all_edited_to_allow_egress_is_refused():
    edited = deny_all()
    edited["spec"]["egress"] = DNS_EGRESS
    problem = policies.isolation_problem([edited], NAMESPACE)
    assert problem is not None
    assert problem.reason == "NetworkPolicyOpensEgress"
    assert manifests.NETWORK_POLICY_NAME in problem.message


@pytest.mark.parametrize(
    "change",
    [
        {"policyTypes": ["Ingress"]},
        {"podSelector": {"matchLabels": {"app.kubernetes.io/component": "api"}}},
    ],
    ids=["ingress-only", "selects-others"],
)
def test_a_deny_all_that_no_longer_denies_sandbox_egress_is_refused(change):
    edited = deny_all()
    edited["spec"].update(change)
    problem = policies.isolation_problem([edited], NAMESPACE)
    assert problem is not None
    assert problem.reason == "NoDenyAllPolicy"


# The launcher's probes: the cluster DNS address joins the API server and the kubelet.


@pytest.fixture
def run_spec():
    return build_run_spec(
        ExecutionRequest(language="python", code="print(1)"), LanguageRegistry.load(), Settings()
    )


def bundle_probes(pod: dict) -> list[str]:
    env = {e["name"]: e.get("value", "") for e in pod["spec"]["containers"][0]["env"]}
    chunks = [value for name, value in sorted(env.items()) if name.startswith("ISOBOX_BUNDLE_")]
    return json.loads(base64.b64decode("".join(chunks)))["isolation_probes"]


def test_the_cluster_dns_address_is_probed_by_default(run_spec):
    assert Settings().kubernetes_dns_probe == "10.96.0.10:53"
    probes = bundle_probes(manifests.sandbox_pod(run_spec, "s"))
    assert probes == [*manifests.ISOLATION_PROBES, "10.96.0.10:53"]


def test_the_dns_probe_follows_the_setting_and_empty_turns_it_off(run_spec):
    moved = bundle_probes(manifests.sandbox_pod(run_spec, "s", dns_probe="10.0.0.10:53"))
    assert moved[-1] == "10.0.0.10:53"
    assert bundle_probes(manifests.sandbox_pod(run_spec, "s", dns_probe="")) == list(
        manifests.ISOLATION_PROBES
    )


def test_warm_pods_probe_the_cluster_dns_address_too(run_spec):
    owner = manifests.PoolOwner("host/h/1")
    pod = manifests.pool_pod(run_spec, "s", "abc", owner, max_idle_s=60)
    env = {e["name"]: e.get("value") for e in pod["spec"]["containers"][0]["env"]}
    assert env["ISOBOX_ISOLATION_PROBES"].split(",")[-1] == "10.96.0.10:53"
    off = manifests.pool_pod(run_spec, "s", "abc", owner, max_idle_s=60, dns_probe="")
    env = {e["name"]: e.get("value") for e in off["spec"]["containers"][0]["env"]}
    assert "10.96.0.10" not in env["ISOBOX_ISOLATION_PROBES"]
