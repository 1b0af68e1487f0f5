"""The sandbox Pod, NetworkPolicy and CodeRun objects have the promised security shape."""

import base64
import json

import pytest

from isobox.kubernetes import manifests
from isobox.languages import LanguageRegistry
from isobox.launcher import BUNDLE_ENV_PREFIX
from isobox.models import ExecutionRequest
from isobox.policy import build_run_spec
from isobox.sandbox import POOL_LABEL, POOL_OWNER_LABEL
from isobox.settings import Settings


@pytest.fixture
def run_spec():
    return build_run_spec(
        ExecutionRequest(language="python", code="print(1)", timeout=7, memory=128),
        LanguageRegistry.load(),
        Settings(),
    )


@pytest.fixture
def pod(run_spec):
    return manifests.sandbox_pod(run_spec, "sandbox", image_pull_policy="Never")


@pytest.fixture
def container(pod):
    return pod["spec"]["containers"][0]


def test_pod_runs_once_with_a_deadline_from_the_timeout(run_spec, pod, container):
    spec = pod["spec"]
    assert spec["restartPolicy"] == "Never"
    assert spec["activeDeadlineSeconds"] == 7 + 30 + manifests.DEADLINE_GRACE_S
    assert container["imagePullPolicy"] == "Never"
    assert container["image"] == run_spec.language.image


def test_pod_has_no_token_no_service_links_no_host_namespaces_no_dns(pod):
    spec = pod["spec"]
    assert spec["automountServiceAccountToken"] is False
    assert spec["enableServiceLinks"] is False
    assert not (spec["hostNetwork"])
    assert not (spec["hostPID"])
    assert not (spec["hostIPC"])
    assert spec["dnsPolicy"] == "None"
    assert spec["dnsConfig"]["nameservers"] == ["127.0.0.1"]


def test_pod_meets_restricted_and_more(pod, container):
    pod_context = pod["spec"]["securityContext"]
    context = container["securityContext"]
    assert pod_context["runAsNonRoot"]
    assert pod_context["runAsUser"] == 10001
    assert pod_context["seccompProfile"] == {"type": "RuntimeDefault"}
    assert context["allowPrivilegeEscalation"] is False
    assert context["privileged"] is False
    assert context["readOnlyRootFilesystem"] is True
    assert context["capabilities"] == {"drop": ["ALL"]}


def test_writable_paths_are_small_memory_backed_volumes(pod, container):
    volumes = {v["name"]: v["emptyDir"] for v in pod["spec"]["volumes"]}
    assert volumes["workspace"] == {"medium": "Memory", "sizeLimit": "64Mi"}
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert mounts == {"/workspace", "/tmp"}


def test_resources_follow_the_limits(container):
    resources = container["resources"]
    assert resources["limits"]["memory"] == resources["requests"]["memory"] == "128Mi"
    assert resources["limits"]["cpu"] == "1000m"
    assert "ephemeral-storage" in resources["limits"]


def test_labels_identify_the_run_and_match_the_deny_all_policy(run_spec, pod):
    labels = pod["metadata"]["labels"]
    assert labels["isobox.dev/run-id"] == run_spec.run_id
    assert labels["isobox.dev/language"] == "python"
    policy = manifests.deny_all_network_policy("sandbox")
    selector = policy["spec"]["podSelector"]["matchLabels"]
    assert selector.items() <= labels.items()
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert policy["spec"]["ingress"] == []
    assert policy["spec"]["egress"] == []


def test_the_code_travels_in_the_launcher_bundle(container):
    env = {
        e["name"]: e["value"] for e in container["env"] if e["name"].startswith("ISOBOX_BUNDLE_")
    }
    document = json.loads(base64.b64decode("".join(env[k] for k in sorted(env))))
    assert base64.b64decode(document["files"][0]["content_b64"]) == b"print(1)"
    assert container["command"] == ["/usr/local/bin/isobox-launch"]


def test_namespace_enforces_restricted():
    labels = manifests.sandbox_namespace("s")["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


def test_crd_has_status_subresource_printer_columns_and_short_name():
    crd = manifests.coderun_crd()
    version = crd["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    columns = {c["name"] for c in version["additionalPrinterColumns"]}
    assert {"Language", "Phase", "Exit", "Age"} <= columns
    assert "crun" in crd["spec"]["names"]["shortNames"]


def test_the_program_waits_for_the_network_policy_to_be_enforced(run_spec, container):
    env = {e["name"]: e for e in container["env"]}
    assert env["NODE_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.hostIP"
    parts = [e["value"] for name, e in sorted(env.items()) if name.startswith("ISOBOX_BUNDLE_")]
    document = json.loads(base64.b64decode("".join(parts)))
    assert "$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT" in document["isolation_probes"]
    assert document["isolation_wait_ms"] == 30000
    unchecked = manifests.sandbox_pod(run_spec, "s", isolation_wait_s=0)["spec"]["containers"][0]
    parts = [e["value"] for e in unchecked["env"] if e["name"].startswith("ISOBOX_BUNDLE_")]
    assert json.loads(base64.b64decode("".join(parts)))["isolation_probes"] == []


POLICY = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {"name": manifests.NETWORK_POLICY_NAME, "uid": "uid-of-the-policy"},
}


def run_names(container: dict) -> set[str]:
    return {variable["name"] for variable in container["env"]}


@pytest.fixture
def pool_pod(run_spec):
    return manifests.pool_pod(
        run_spec,
        "sandbox",
        "abc123",
        manifests.PoolOwner("pod/isobox/isobox-api-0"),
        max_idle_s=300,
        image_pull_policy="Never",
        anchor=manifests.owner_reference(POLICY),
    )


def test_a_pool_pod_has_the_security_shape_of_a_run_pod_and_no_bundle(pod, pool_pod):
    warm, cold = pool_pod["spec"], pod["spec"]
    for field in ("securityContext", "automountServiceAccountToken", "enableServiceLinks"):
        assert warm[field] == cold[field], field
    for field in ("hostNetwork", "hostPID", "hostIPC", "dnsPolicy", "dnsConfig", "volumes"):
        assert warm.get(field) == cold.get(field), field
    container, run_container = warm["containers"][0], cold["containers"][0]
    assert container["securityContext"] == run_container["securityContext"]
    assert container["resources"] == run_container["resources"]
    assert (container["stdin"], container["stdinOnce"]) == (True, True)
    names = {variable["name"] for variable in container["env"]}
    # The bundle comes on stdin, with a run; before that the pod holds nothing of any user.
    assert not {name for name in names if name[len(BUNDLE_ENV_PREFIX) :].isdigit()}
    assert any(name.startswith(BUNDLE_ENV_PREFIX) for name in run_names(run_container))
    assert "ISOBOX_BUNDLE_WAIT_MS" in names


def test_a_pool_pod_waits_out_its_idle_time_and_is_owned_by_the_deny_all_policy(pod, pool_pod):
    assert pool_pod["spec"]["activeDeadlineSeconds"] == 300 + pod["spec"]["activeDeadlineSeconds"]
    labels = pool_pod["metadata"]["labels"]
    assert labels[POOL_LABEL] == "python"
    assert labels[POOL_OWNER_LABEL] == manifests.PoolOwner("pod/isobox/isobox-api-0").label
    # The garbage collector deletes an idle pool with the policy that isolates it.
    assert pool_pod["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "name": manifests.NETWORK_POLICY_NAME,
            "uid": "uid-of-the-policy",
        }
    ]
