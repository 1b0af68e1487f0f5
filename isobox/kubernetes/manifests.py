"""Every Kubernetes object isobox creates, built in one I/O-free place.

The direct Pod backend and the CodeRun operator both take their sandbox Pod from here, so the
security shape (Pod Security Standards *restricted* and more) is written and unit-tested once.
Functions return plain dicts, ready for the API client or `yaml.safe_dump`.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

from isobox.launcher import bundle_environment
from isobox.outcome import Phase
from isobox.sandbox import (
    LANGUAGE_LABEL,
    LAUNCHER_PATH,
    LAUNCHER_TASKS,
    POOL_LABEL,
    POOL_OWNER_LABEL,
    RUN_ID_LABEL,
    SANDBOX_UID,
    TMP_MIB,
    WORKDIR,
)
from isobox.spec import RunSpec

GROUP = "isobox.dev"
VERSION = "v1alpha1"
CODERUN_PLURAL = "coderuns"
CODERUN_KIND = "CodeRun"
CONTAINER_NAME = "sandbox"
NETWORK_POLICY_NAME = "isobox-sandbox-deny-all"
# Pods get this long past the run's own limits before the kubelet kills them; the launcher
# normally stops the program first and still reports its output.
DEADLINE_GRACE_S = 15
CPU_REQUEST_CAP = 0.25
PER_RUN_UID_BASE = 1_000_000
PER_RUN_UID_SPAN = 1_000_000_000
NODE_IP_ENV = "NODE_IP"
# Addresses every pod can reach unless its deny-all policy is in force: the API server
# (through its Service) and the node's kubelet. The launcher waits until both refuse.
ISOLATION_PROBES = [
    "$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT",
    f"${NODE_IP_ENV}:10250",
]
# The cluster DNS service (kube-dns's conventional ClusterIP in a 10.96.0.0/12 service range),
# probed too (ISOBOX_KUBERNETES_DNS_PROBE): the address an "allow DNS" policy opens. A cluster
# without a service there refuses or drops the connection, which passes, as isolation does.
DNS_PROBE = "10.96.0.10:53"


def isolation_probes(dns_probe: str = DNS_PROBE) -> list[str]:
    """What a sandbox's launcher must see refusing TCP connections before its program starts:
    ISOLATION_PROBES and, unless empty, the cluster DNS address `dns_probe`."""
    return [*ISOLATION_PROBES, *([dns_probe] if dns_probe else [])]


CODERUN_LABEL = "isobox.dev/coderun"
SANDBOX_LABELS = {
    "app.kubernetes.io/name": "isobox",
    "app.kubernetes.io/component": "sandbox",
    "app.kubernetes.io/managed-by": "isobox",
}
SANDBOX_SELECTOR = ",".join(f"{key}={value}" for key, value in SANDBOX_LABELS.items())


def pod_name(run_id: str) -> str:
    return f"isobox-run-{run_id}"


def sandbox_pod(
    spec: RunSpec,
    namespace: str,
    *,
    image_pull_policy: str = "IfNotPresent",
    extra_labels: dict[str, str] | None = None,
    isolation_wait_s: float = 30,
    runtime_class: str = "",
    per_run_uid: bool = False,
    dns_probe: str = DNS_PROBE,
) -> dict[str, Any]:
    """The one-shot Pod that runs `spec` under the restricted security shape.

    With `isolation_wait_s` > 0 the program starts only once the network is seen closed
    (NetworkPolicy enforcement is asynchronous); 0 turns that check off. `runtime_class`
    names a RuntimeClass (gVisor). With `per_run_uid` the pod runs as a uid of its own and
    the launcher holds that uid to the run's process limit (RLIMIT_NPROC counts per uid, so
    on a shared uid it would count every sandbox on the node): a fork bomb is contained even
    where the kubelet has no podPidsLimit.
    """
    uid = run_uid(spec.run_id) if per_run_uid else SANDBOX_UID
    bundle = bundle_environment(
        spec,
        isolation_probes=isolation_probes(dns_probe) if isolation_wait_s > 0 else [],
        isolation_wait_s=isolation_wait_s,
        max_processes=process_limit(spec, per_run_uid),
    )
    labels = {RUN_ID_LABEL: spec.run_id, LANGUAGE_LABEL: spec.language.name, **(extra_labels or {})}
    return _pod(
        spec,
        PodShape(pod_name(spec.run_id), namespace, labels, {}, bundle, uid),
        deadline_s=active_deadline_seconds(spec, isolation_wait_s),
        image_pull_policy=image_pull_policy,
        runtime_class=runtime_class,
    )


def pool_pod_name(sandbox_id: str) -> str:
    return f"isobox-pool-{sandbox_id}"


def pool_pod(
    shape: RunSpec,
    namespace: str,
    sandbox_id: str,
    owner: PoolOwner,
    *,
    max_idle_s: float,
    image_pull_policy: str = "IfNotPresent",
    isolation_wait_s: float = 30,
    runtime_class: str = "",
    per_run_uid: bool = False,
    dns_probe: str = DNS_PROBE,
    anchor: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A warm sandbox Pod shaped like `shape`: the same security shape, no bundle, its stdin
    open for the one bundle a run sends through the attach subresource. Its launcher checks
    isolation first, says `w ready`, and ends itself if no bundle comes within max_idle_s;
    its deadline allows for that idle time. `anchor` (`owner_reference` of the namespace's
    deny-all NetworkPolicy) is its owner: the garbage collector deletes an idle pool with the
    policy that isolates it (on `helm uninstall`, whether or not an isobox process is left to
    clean up; an owner in another namespace, such as the API's own Pod, is not allowed)."""
    env = {
        "ISOBOX_BUNDLE_WAIT_MS": str(int(max_idle_s * 1000)),
        "ISOBOX_ISOLATION_PROBES": (
            ",".join(isolation_probes(dns_probe)) if isolation_wait_s > 0 else ""
        ),
        "ISOBOX_ISOLATION_WAIT_MS": str(int(isolation_wait_s * 1000)),
    }
    labels = {
        RUN_ID_LABEL: f"pool-{sandbox_id}",
        LANGUAGE_LABEL: shape.language.name,
        POOL_LABEL: shape.language.name,
        POOL_OWNER_LABEL: owner.label,
    }
    uid = run_uid(sandbox_id) if per_run_uid else SANDBOX_UID
    pod_shape = PodShape(
        pool_pod_name(sandbox_id), namespace, labels, {POOL_OWNER_LABEL: owner.name}, env, uid
    )
    deadline_s = math.ceil(max_idle_s) + active_deadline_seconds(shape, isolation_wait_s)
    pod = _pod(
        shape,
        pod_shape,
        deadline_s=deadline_s,
        image_pull_policy=image_pull_policy,
        runtime_class=runtime_class,
    )
    container = pod["spec"]["containers"][0]
    container.update(stdin=True, stdinOnce=True)
    if anchor is not None:
        pod["metadata"]["ownerReferences"] = [anchor]
    return pod


def owner_reference(document: dict[str, Any]) -> dict[str, Any]:
    """An ownerReference to the object `document` describes (which must have its uid)."""
    metadata = document["metadata"]
    return {
        "apiVersion": document["apiVersion"],
        "kind": document["kind"],
        "name": metadata["name"],
        "uid": metadata["uid"],
    }


@dataclass(frozen=True)
class PoolOwner:
    """The isobox instance whose pool a warm pod is: `name` is `pod/<namespace>/<name>` in a
    cluster, `host/<hostname>/<pid>` outside one; `label` is its label-safe digest."""

    name: str

    @property
    def label(self) -> str:
        return hashlib.sha256(self.name.encode()).hexdigest()[:40]


@dataclass(frozen=True)
class PodShape:
    """What differs between a run's pod and a pool's pod."""

    name: str
    namespace: str
    labels: dict[str, str]
    annotations: dict[str, str]
    env: dict[str, str]
    uid: int


def _pod(
    spec: RunSpec,
    shape: PodShape,
    *,
    deadline_s: int,
    image_pull_policy: str,
    runtime_class: str,
) -> dict[str, Any]:
    limits = spec.limits
    uid = shape.uid
    memory = f"{spec.sandbox_memory_mib}Mi"
    metadata: dict[str, Any] = {
        "name": shape.name,
        "namespace": shape.namespace,
        "labels": {**SANDBOX_LABELS, **shape.labels},
    }
    if shape.annotations:
        metadata["annotations"] = dict(shape.annotations)
    pod: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": {
            "restartPolicy": "Never",
            "activeDeadlineSeconds": deadline_s,
            "terminationGracePeriodSeconds": 0,
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "hostNetwork": False,
            "hostPID": False,
            "hostIPC": False,
            # Sandboxes have no network; a resolver pointing nowhere keeps DNS from leaking too.
            "dnsPolicy": "None",
            "dnsConfig": {"nameservers": ["127.0.0.1"]},
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": uid,
                "runAsGroup": uid,
                "fsGroup": uid,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [
                {
                    "name": CONTAINER_NAME,
                    "image": spec.language.image,
                    "imagePullPolicy": image_pull_policy,
                    "command": [LAUNCHER_PATH],
                    "env": [
                        *({"name": key, "value": value} for key, value in shape.env.items()),
                        {
                            "name": NODE_IP_ENV,
                            "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}},
                        },
                    ],
                    "workingDir": WORKDIR,
                    "resources": {
                        "requests": {
                            "cpu": _cpu(min(limits.cpus, CPU_REQUEST_CAP)),
                            "memory": memory,
                        },
                        "limits": {
                            "cpu": _cpu(limits.cpus),
                            "memory": memory,
                            "ephemeral-storage": f"{limits.scratch_mib + TMP_MIB}Mi",
                        },
                    },
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "privileged": False,
                        "readOnlyRootFilesystem": True,
                        "runAsNonRoot": True,
                        "runAsUser": uid,
                        "runAsGroup": uid,
                        "capabilities": {"drop": ["ALL"]},
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "volumeMounts": [
                        {"name": "workspace", "mountPath": WORKDIR},
                        {"name": "tmp", "mountPath": "/tmp"},
                    ],
                }
            ],
            # Memory-backed, so what a program writes counts against its memory limit too.
            "volumes": [
                _memory_volume("workspace", limits.scratch_mib),
                _memory_volume("tmp", TMP_MIB),
            ],
        },
    }
    if runtime_class:
        pod["spec"]["runtimeClassName"] = runtime_class
    return pod


def process_limit(spec: RunSpec, per_run_uid: bool) -> int:
    """The launcher's RLIMIT_NPROC for the program: only where the pod's uid is its own (it
    counts every task of the uid, the launcher's too); 0, none, on a shared uid."""
    return spec.limits.pids + LAUNCHER_TASKS if per_run_uid else 0


def run_uid(run_id: str) -> int:
    """The uid a run's pod runs as: derived from its id, far above any host or image user
    (two of 64 concurrent runs share one with a chance of about 2 in a million, and then only share
    a process limit)."""
    digest = int(hashlib.sha256(run_id.encode()).hexdigest()[:8], 16)
    return PER_RUN_UID_BASE + digest % PER_RUN_UID_SPAN


def active_deadline_seconds(spec: RunSpec, isolation_wait_s: float = 0) -> int:
    return math.ceil(spec.total_run_seconds + isolation_wait_s) + DEADLINE_GRACE_S


def wait_limit_seconds(spec: RunSpec, start_timeout_s: float, isolation_wait_s: float) -> float:
    """How long a caller waits for a sandbox before giving up on it (the kubelet's deadline
    plus time to be scheduled and started, plus slack to hear about it)."""
    return start_timeout_s + active_deadline_seconds(spec, isolation_wait_s) + DEADLINE_GRACE_S


def _cpu(cores: float) -> str:
    return f"{max(int(cores * 1000), 1)}m"


def _memory_volume(name: str, size_mib: int) -> dict[str, Any]:
    return {"name": name, "emptyDir": {"medium": "Memory", "sizeLimit": f"{size_mib}Mi"}}


def deny_all_network_policy(namespace: str) -> dict[str, Any]:
    """No traffic in or out of any sandbox pod in `namespace`."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": NETWORK_POLICY_NAME,
            "namespace": namespace,
            "labels": {
                "app.kubernetes.io/name": "isobox",
                "app.kubernetes.io/managed-by": "isobox",
            },
        },
        "spec": {
            "podSelector": {"matchLabels": dict(SANDBOX_LABELS)},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [],
            "egress": [],
        },
    }


def sandbox_namespace(name: str) -> dict[str, Any]:
    """The sandbox namespace, admitting only pods that meet Pod Security *restricted*."""
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "labels": {
                "pod-security.kubernetes.io/enforce": "restricted",
                "pod-security.kubernetes.io/enforce-version": "latest",
                "pod-security.kubernetes.io/warn": "restricted",
                "app.kubernetes.io/name": "isobox",
            },
        },
    }


def coderun(
    name: str, namespace: str, spec: dict[str, Any], labels: dict[str, str] | None = None
) -> dict[str, Any]:
    """A CodeRun object; `spec` follows the CRD's spec schema (see `coderun_crd`); `labels`
    are added to isobox's own."""
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": CODERUN_KIND,
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {
                "app.kubernetes.io/name": "isobox",
                "app.kubernetes.io/managed-by": "isobox",
                **(labels or {}),
            },
        },
        "spec": spec,
    }


def _stage_status_schema() -> dict[str, Any]:
    # The operator bounds what it writes: stdout and stderr are capped at the smaller of
    # ISOBOX_OUTPUT_LIMIT_BYTES and ISOBOX_CODERUN_OUTPUT_LIMIT_BYTES (at most 512 KiB, see
    # settings.py) and decoded with replacement, so a stream has at most that many characters.
    # The bound here is the backstop at the largest allowed cap, not a second, tighter limit.
    output = {"type": "string", "maxLength": 512 * 1024}
    return {
        "type": "object",
        "properties": {
            "exitCode": {"type": "integer", "nullable": True},
            "signal": {"type": "string", "nullable": True, "maxLength": 64},
            "timedOut": {"type": "boolean"},
            "oomKilled": {"type": "boolean"},
            "stdout": output,
            "stderr": dict(output),
            "stdoutTruncated": {"type": "boolean"},
            "stderrTruncated": {"type": "boolean"},
            "durationMs": {"type": "integer"},
            "cpuTimeMs": {"type": "integer"},
            "memoryPeakKiB": {"type": "integer"},
            "cpuTimeExceeded": {"type": "boolean"},
        },
    }


def coderun_crd() -> dict[str, Any]:
    """The CustomResourceDefinition of `coderuns.isobox.dev`.

    Every string and list is bounded, so that no CodeRun, whoever writes it, can grow past what
    isobox itself accepts: the spec at the API's default request caps (settings.py:
    max_code_bytes, max_stdin_bytes, max_files, max_files_bytes, max_args, max_arg_bytes;
    tests/chart keeps them equal, and the chart refuses limits above them with this backend).
    The API's caps count UTF-8 bytes, `maxLength` counts characters, and characters <= bytes:
    these bounds are the loose backstop, the API's checks the exact ones.
    """
    kib = 1024
    case_status = _stage_status_schema()
    case_status["properties"].update(
        {
            "index": {"type": "integer"},
            "verdict": {"type": "string", "nullable": True, "maxLength": 64},
        }
    )
    status = _stage_status_schema()
    status["properties"].update(
        {
            "phase": {
                "type": "string",
                "enum": [str(phase) for phase in Phase],
            },
            # Short words (Invalid, SandboxRefused, the pod's reasons), and a message that can
            # carry the launcher's or the policy's error text.
            "reason": {"type": "string", "maxLength": 256},
            "message": {"type": "string", "maxLength": 64 * kib},
            "runId": {"type": "string", "maxLength": 63},
            "podName": {"type": "string", "maxLength": 253},
            "podUid": {"type": "string", "maxLength": 64},
            "runtime": {"type": "string", "maxLength": 64},
            # The run got a warm pod of the operator's pool (provisioned ahead, used once).
            "warm": {"type": "boolean"},
            # The record holds less output than the run produced (the status has a size
            # budget in JSON bytes; see isobox/kubernetes/reconcile.py).
            "recordTruncated": {"type": "boolean"},
            "startedAt": {"type": "string", "format": "date-time", "maxLength": 64},
            "finishedAt": {"type": "string", "format": "date-time", "maxLength": 64},
            "compile": _stage_status_schema(),
            # Test cases (the operator cuts their streams to a share of its JSON budget and
            # keeps every verdict); at most settings.max_tests (<= 1000) entries.
            "tests": {"type": "array", "maxItems": 1000, "items": case_status},
            "passed": {"type": "integer"},
            "total": {"type": "integer"},
            "verdict": {"type": "string", "maxLength": 64},
            # Output files (content cut to the budget's share, flagged truncated).
            "files": {
                "type": "array",
                "maxItems": 1000,  # settings.max_output_files' bound
                "items": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string", "maxLength": 4 * kib},
                        "size": {"type": "integer"},
                        "contentB64": {"type": "string", "maxLength": 1024 * kib},
                        "truncated": {"type": "boolean"},
                    },
                },
            },
            "filesSkipped": {
                "type": "array",
                "maxItems": 64,
                "items": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string", "maxLength": 4 * kib},
                        "reason": {"type": "string", "maxLength": 256},
                    },
                },
            },
        }
    )
    # kopf keeps its own bookkeeping next to ours.
    status["x-kubernetes-preserve-unknown-fields"] = True
    spec = {
        "type": "object",
        "required": ["language", "code"],
        "properties": {
            "language": {"type": "string", "maxLength": 64},
            "code": {"type": "string", "maxLength": 256 * kib},  # max_code_bytes
            "stdin": {"type": "string", "maxLength": 256 * kib},  # max_stdin_bytes
            "args": {  # max_args entries of max_arg_bytes
                "type": "array",
                "maxItems": 64,
                "items": {"type": "string", "maxLength": 4 * kib},
            },
            "files": {  # max_files entries; each within max_files_bytes, the total's cap
                "type": "array",
                "maxItems": 32,
                "items": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {
                        # policy.MAX_PATH_BYTES
                        "name": {"type": "string", "maxLength": 255},
                        "content": {"type": "string", "maxLength": 512 * kib},
                        # Binary files: base64 of at most max_files_bytes.
                        "contentB64": {"type": "string", "maxLength": 683 * kib + 4},
                    },
                },
            },
            "tests": {  # max_tests cases; stdin totals max_tests_stdin_bytes
                "type": "array",
                "maxItems": 64,
                "items": {
                    "type": "object",
                    "properties": {
                        "stdin": {"type": "string", "maxLength": 256 * kib},
                        "args": {
                            "type": "array",
                            "maxItems": 64,
                            "items": {"type": "string", "maxLength": 4 * kib},
                        },
                        # output_limit_bytes' largest (64 MiB) is far above what a status
                        # holds; the total is max_tests_expected_bytes.
                        "expectedOutput": {"type": "string", "maxLength": 256 * kib},
                    },
                },
            },
            "compare": {"type": "string", "enum": ["exact", "trailing_whitespace", "tokens"]},
            "stopOnFailure": {"type": "boolean"},
            "outputs": {  # max_output_files globs
                "type": "array",
                "maxItems": 16,
                "items": {"type": "string", "maxLength": 255},
            },
            "timeoutSeconds": {"type": "number"},
            "memoryMiB": {"type": "integer"},
            "compileTimeoutSeconds": {"type": "number"},
            "compileMemoryMiB": {"type": "integer"},
            "cpuTimeSeconds": {"type": "number"},
            "compileCpuTimeSeconds": {"type": "number"},
            "runId": {
                "type": "string",
                "maxLength": 40,
                "pattern": "^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$",
            },
            "cancelled": {"type": "boolean"},
        },
    }
    columns = [
        ("Language", "string", ".spec.language"),
        ("Phase", "string", ".status.phase"),
        ("Exit", "integer", ".status.exitCode"),
        ("Duration-ms", "integer", ".status.durationMs"),
        ("CPU-ms", "integer", ".status.cpuTimeMs"),
        ("Warm", "boolean", ".status.warm"),
        ("Age", "date", ".metadata.creationTimestamp"),
    ]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{CODERUN_PLURAL}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "plural": CODERUN_PLURAL,
                "singular": "coderun",
                "kind": CODERUN_KIND,
                "listKind": f"{CODERUN_KIND}List",
                "shortNames": ["crun"],
                "categories": ["isobox"],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [
                        {"name": name, "type": kind, "jsonPath": path}
                        for name, kind, path in columns
                    ],
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {"spec": spec, "status": status},
                        }
                    },
                }
            ],
        },
    }
