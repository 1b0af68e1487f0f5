"""Reading a sandbox Pod's status: has it finished, failed to start, and what did it report?

Pure functions over the Pod as a dict, shared by the Pod backend and the CodeRun operator.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from isobox.kubernetes.manifests import CONTAINER_NAME
from isobox.launcher import SandboxEnd

# Waiting reasons after which a pod will never start on its own.
FATAL_WAITING_REASONS = frozenset(
    {
        "ErrImagePull",
        "ImagePullBackOff",
        "ErrImageNeverPull",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
    }
)


@dataclass(frozen=True)
class PodOutcome:
    """Why a pod is done being waited for."""

    kind: Literal["finished", "failed_to_start", "deleted"]
    pod: dict[str, Any]
    reason: str = ""
    message: str = ""


def pod_outcome(event_type: str, pod: dict[str, Any]) -> PodOutcome | None:
    """The outcome a waiter needs, or None while the pod is still pending or running."""
    if event_type == "DELETED":
        return PodOutcome("deleted", pod, "Deleted", "the sandbox pod was deleted")
    status = pod.get("status") or {}
    if status.get("phase") in {"Succeeded", "Failed"}:
        return PodOutcome("finished", pod, status.get("reason", ""), status.get("message", ""))
    waiting = (_container_status(pod).get("state") or {}).get("waiting") or {}
    if waiting.get("reason") in FATAL_WAITING_REASONS:
        return PodOutcome("failed_to_start", pod, waiting["reason"], waiting.get("message", ""))
    return None


def is_running_or_done(pod: dict[str, Any]) -> bool:
    return (pod.get("status") or {}).get("phase") in {"Running", "Succeeded", "Failed"}


def _container_status(pod: dict[str, Any]) -> dict[str, Any]:
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if status.get("name") == CONTAINER_NAME:
            return dict(status)
    return {}


def pod_end(pod: dict[str, Any]) -> SandboxEnd:
    """What the kubelet saw of the sandbox container's end."""
    terminated = (_container_status(pod).get("state") or {}).get("terminated") or {}
    return SandboxEnd(
        exit_code=terminated.get("exitCode"),
        oom_killed=terminated.get("reason") == "OOMKilled",
        deadline_hit=(pod.get("status") or {}).get("reason") == "DeadlineExceeded",
    )
