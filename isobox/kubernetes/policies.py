"""Whether the sandbox namespace's NetworkPolicies leave sandbox pods without network access.

NetworkPolicies add up: a pod selected by any policy with an egress rule may send what that
rule allows, whatever isobox's deny-all says. So the namespace isolates sandboxes only while
isobox's deny-all selects them and no policy (that one included) that selects them, or might,
has an egress rule; a cluster-wide "allow DNS" policy copied into every namespace is enough to
open them. Pure functions of the policies as the API returns them (camelCase documents).

A selector is judged against the labels sandbox pods can have: the fixed `SANDBOX_LABELS`,
the labels whose values vary per run (`VARYING_LABELS`, of unknown value here), and no others.
A requirement that cannot be decided (a varying label's value, an unknown operator) counts as
matching: unknown means refuse.

Not covered: policies of other kinds (AdminNetworkPolicy, Calico or Cilium policies), which
this API does not show; the launcher's probes (API server, kubelet, cluster DNS) are the
backstop for those.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from isobox.kubernetes.manifests import CODERUN_LABEL, NETWORK_POLICY_NAME, SANDBOX_LABELS
from isobox.sandbox import LANGUAGE_LABEL, POOL_LABEL, POOL_OWNER_LABEL, RUN_ID_LABEL

# Labels every sandbox pod has, with a value that differs from pod to pod.
ALWAYS_VARYING = frozenset({RUN_ID_LABEL, LANGUAGE_LABEL})
# Labels some sandbox pods have (CodeRun pods, warm pods), with varying values.
SOMETIMES_VARYING = frozenset({CODERUN_LABEL, POOL_LABEL, POOL_OWNER_LABEL})
VARYING_LABELS = ALWAYS_VARYING | SOMETIMES_VARYING

OPENS_EGRESS = "NetworkPolicyOpensEgress"
NO_DENY_ALL = "NoDenyAllPolicy"


@dataclass(frozen=True)
class Problem:
    """Why sandboxes must not run in the namespace: a reason (a CodeRun's status reason)
    and a message naming the policies."""

    reason: str
    message: str


def _requirement(key: str, operator: str, values: list[str]) -> bool | None:
    """Whether sandbox pods meet `key operator values`: True, False, or None (cannot say)."""
    if key in VARYING_LABELS:
        if operator == "Exists" and key in ALWAYS_VARYING:
            return True
        if operator == "DoesNotExist" and key in ALWAYS_VARYING:
            return False
        return None
    present = key in SANDBOX_LABELS
    value = SANDBOX_LABELS.get(key)
    if operator == "In":
        return present and value in values
    if operator == "NotIn":
        return not present or value not in values
    if operator == "Exists":
        return present
    if operator == "DoesNotExist":
        return not present
    return None


def selects_sandboxes(selector: dict[str, Any] | None) -> bool | None:
    """Whether a podSelector selects sandbox pods: True, False, or None (it may: a
    requirement that cannot be decided). An empty selector selects every pod."""
    selector = selector or {}
    answers: list[bool | None] = [
        _requirement(str(key), "In", [str(value)])
        for key, value in (selector.get("matchLabels") or {}).items()
    ]
    for expression in selector.get("matchExpressions") or []:
        values = [str(value) for value in expression.get("values") or []]
        answers.append(
            _requirement(str(expression.get("key", "")), str(expression.get("operator")), values)
        )
    if False in answers:
        return False
    return None if None in answers else True


def has_egress_rule(policy: dict[str, Any]) -> bool:
    """Whether the policy allows any egress at all (one rule, even one without peers or
    ports, allows something; a rule list present but empty allows nothing)."""
    return bool((policy.get("spec") or {}).get("egress"))


def egress_openers(policies: list[dict[str, Any]]) -> list[str]:
    """Names of the policies that select sandbox pods, or may, and allow egress."""
    return sorted(
        str((policy.get("metadata") or {}).get("name", ""))
        for policy in policies
        if has_egress_rule(policy)
        and selects_sandboxes((policy.get("spec") or {}).get("podSelector")) is not False
    )


def isolation_problem(policies: list[dict[str, Any]], namespace: str) -> Problem | None:
    """Why the policies of `namespace` do not isolate sandbox pods, or None if they do."""
    by_name = {str((p.get("metadata") or {}).get("name", "")): p for p in policies}
    deny_all = by_name.get(NETWORK_POLICY_NAME)
    if deny_all is None:
        return Problem(
            NO_DENY_ALL,
            f"namespace {namespace} has no {NETWORK_POLICY_NAME} NetworkPolicy; refusing to "
            "run sandboxes with network access",
        )
    spec = deny_all.get("spec") or {}
    if selects_sandboxes(spec.get("podSelector")) is not True or not {"Ingress", "Egress"} <= set(
        spec.get("policyTypes") or []
    ):
        return Problem(
            NO_DENY_ALL,
            f"NetworkPolicy {NETWORK_POLICY_NAME} in namespace {namespace} does not select "
            "sandbox pods for both ingress and egress; refusing to run sandboxes",
        )
    openers = egress_openers(policies)
    if openers:
        return Problem(
            OPENS_EGRESS,
            f"NetworkPolicy {', '.join(openers)} in namespace {namespace} selects sandbox pods "
            "and allows egress; refusing to run sandboxes with network access (remove it, or "
            "give it a podSelector that leaves out app.kubernetes.io/component=sandbox)",
        )
    return None
