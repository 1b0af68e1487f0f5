"""The kubernetes backend: each run is a one-shot Pod, watched to completion, then deleted.

Works in-cluster (service account) and out of cluster (`KUBECONFIG`). Runs wait on one shared
watch stream; API calls go through a small bounded thread pool, so hundreds of runs in flight
cost neither a thread nor a watch each. The backend refuses to run while the sandbox
namespace lacks its deny-all NetworkPolicy (fail closed).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from isobox.backends.base import SandboxBackend
from isobox.errors import BackendUnavailable, SandboxError
from isobox.kubernetes import manifests
from isobox.kubernetes.client import ApiCaller, load_api_client, read_sandbox_log
from isobox.kubernetes.pod_status import PodOutcome, pod_end, pod_outcome
from isobox.kubernetes.watcher import ObjectWatcher
from isobox.launcher import FrameDecoder, sandbox_result
from isobox.models import RunResult
from isobox.settings import Settings
from isobox.spec import RunSpec

log = logging.getLogger(__name__)

# Sandbox pods this backend did not delete (its process was killed) are removed this long
# after they finished, by whichever instance runs the janitor.
ORPHAN_AGE_S = 300
JANITOR_INTERVAL_S = 60
# Pods a CodeRun owns belong to the operator; the janitor leaves them alone.
DIRECT_POD_SELECTOR = f"{manifests.SANDBOX_SELECTOR},!{manifests.CODERUN_LABEL}"


@dataclass
class PodSandbox:
    """One sandbox pod: its manifest, and the watch future that hears of its end."""

    name: str
    pod: dict[str, Any]
    outcome: asyncio.Future[PodOutcome] | None = None
    started: float = 0.0


class KubernetesBackend(SandboxBackend[PodSandbox]):
    """Runs programs as sandbox Pods in `settings.kubernetes_namespace`."""

    name = "kubernetes"

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._namespace = settings.kubernetes_namespace
        self._call = ApiCaller()
        self._core: client.CoreV1Api | None = None
        self._networking: client.NetworkingV1Api | None = None
        self._watcher: ObjectWatcher | None = None
        self._janitor: asyncio.Task[None] | None = None
        self._in_flight: set[str] = set()
        self.runtime = settings.kubernetes_runtime_class or "runc"

    async def start(self) -> None:
        api_client = await self._call(load_api_client, self._settings.max_concurrent_runs + 8)
        self._core = client.CoreV1Api(api_client)
        self._networking = client.NetworkingV1Api(api_client)
        self._watcher = ObjectWatcher(
            self._core.list_namespaced_pod, self._namespace, DIRECT_POD_SELECTOR
        )
        self._watcher.start()
        await self._ensure_deny_all_policy()
        self._janitor = asyncio.create_task(self._sweep_orphans_forever())

    def _api(self) -> client.CoreV1Api:
        if self._core is None:
            raise BackendUnavailable("the kubernetes backend is not started")
        return self._core

    def _network_api(self) -> client.NetworkingV1Api:
        if self._networking is None:
            raise BackendUnavailable("the kubernetes backend is not started")
        return self._networking

    async def _ensure_deny_all_policy(self) -> None:
        policy = manifests.deny_all_network_policy(self._namespace)
        try:
            await self._call(
                self._network_api().create_namespaced_network_policy, self._namespace, policy
            )
        except ApiException as error:
            if error.status not in {409, 403}:  # exists already, or the chart manages it
                log.warning("cannot create the sandbox NetworkPolicy: %s", error.reason)

    async def check(self) -> None:
        try:
            await self._call(
                self._network_api().read_namespaced_network_policy,
                manifests.NETWORK_POLICY_NAME,
                self._namespace,
            )
        except ApiException as error:
            if error.status == 404:
                raise BackendUnavailable(
                    f"namespace {self._namespace} has no {manifests.NETWORK_POLICY_NAME} "
                    "NetworkPolicy; refusing to run sandboxes with network access"
                ) from error
            raise BackendUnavailable(f"Kubernetes API: {error.status} {error.reason}") from error
        except Exception as error:
            raise BackendUnavailable(f"Kubernetes API unreachable: {error}") from error

    def sandbox_for(self, spec: RunSpec) -> PodSandbox:
        pod = manifests.sandbox_pod(
            spec,
            self._namespace,
            image_pull_policy=self._settings.kubernetes_image_pull_policy,
            isolation_wait_s=self._settings.kubernetes_isolation_wait_s,
            runtime_class=self._settings.kubernetes_runtime_class,
            per_run_uid=self._settings.kubernetes_per_run_uid,
        )
        return PodSandbox(pod["metadata"]["name"], pod)

    async def provision(self, sandbox: PodSandbox, spec: RunSpec) -> None:
        if self._watcher is None:
            raise BackendUnavailable("the kubernetes backend is not started")
        sandbox.started = time.monotonic()
        sandbox.outcome = self._watcher.expect(sandbox.name, pod_outcome)
        self._in_flight.add(sandbox.name)
        try:
            await self._call(self._api().create_namespaced_pod, self._namespace, sandbox.pod)
        except ApiException as error:
            if error.status == 403 and "violates PodSecurity" in str(error.body):
                raise SandboxError(f"sandbox pod refused by Pod Security: {error.body}") from error
            raise BackendUnavailable(
                f"cannot create the sandbox pod: {error.status} {error.reason}"
            ) from error

    async def deliver(self, sandbox: PodSandbox, spec: RunSpec) -> None:
        """Nothing to do: a cold pod carries its bundle in its environment."""

    async def collect(self, sandbox: PodSandbox, spec: RunSpec) -> RunResult:
        assert sandbox.outcome is not None, "provision starts watching"
        outcome = await self._await_outcome(sandbox.outcome, spec)
        if outcome.kind == "failed_to_start":
            raise SandboxError(
                f"the sandbox pod cannot start: {outcome.reason}: {outcome.message} "
                f"(image {spec.language.image}; is it loaded on the nodes?)"
            )
        if outcome.kind == "deleted":
            raise SandboxError("the sandbox pod was deleted before it finished")
        decoder = FrameDecoder(spec.limits.output_bytes)
        await self._call(
            read_sandbox_log,
            self._api(),
            self._namespace,
            sandbox.name,
            decoder,
            spec.limits.output_bytes,
        )
        result = sandbox_result(decoder, pod_end(outcome.pod))
        duration_ms = result.duration_ms or int((time.monotonic() - sandbox.started) * 1000)
        return result.model_copy(update={"duration_ms": duration_ms, "runtime": self.runtime})

    async def _await_outcome(self, future: asyncio.Future[PodOutcome], spec: RunSpec) -> PodOutcome:
        limit = manifests.wait_limit_seconds(
            spec,
            self._settings.kubernetes_start_timeout_s,
            self._settings.kubernetes_isolation_wait_s,
        )
        try:
            return await asyncio.wait_for(future, limit)
        except TimeoutError as error:
            raise SandboxError(
                f"the sandbox pod did not finish within {limit:.0f} s (not schedulable?)"
            ) from error

    async def destroy(self, sandbox: PodSandbox) -> None:
        if self._watcher is not None:
            self._watcher.forget(sandbox.name)
        try:
            await self._call(
                self._api().delete_namespaced_pod,
                sandbox.name,
                self._namespace,
                grace_period_seconds=0,
                propagation_policy="Background",
            )
        except ApiException as error:
            if error.status != 404:
                log.error("cannot delete sandbox pod %s: %s", sandbox.name, error.reason)
        except Exception as error:  # noqa: BLE001 - destroy never raises; the janitor retries
            log.error("cannot delete sandbox pod %s: %s", sandbox.name, error)
        finally:
            self._in_flight.discard(sandbox.name)

    async def _sweep_orphans_forever(self) -> None:
        while True:
            try:
                await self._call(self._sweep_orphans)
            except Exception as error:  # noqa: BLE001 - logged; the next round tries again
                log.warning("kubernetes backend: orphan sweep failed: %s", error)
            await asyncio.sleep(JANITOR_INTERVAL_S)

    def _sweep_orphans(self) -> None:
        pods = self._api().list_namespaced_pod(self._namespace, label_selector=DIRECT_POD_SELECTOR)
        now = time.time()
        for pod in pods.items:
            metadata: Any = pod.metadata
            deadline = getattr(pod.spec, "active_deadline_seconds", None) or 0
            age = now - metadata.creation_timestamp.timestamp()
            if age > deadline + self._settings.kubernetes_start_timeout_s + ORPHAN_AGE_S:
                try:
                    self._api().delete_namespaced_pod(
                        str(metadata.name), self._namespace, grace_period_seconds=0
                    )
                except ApiException as error:
                    if error.status != 404:
                        log.warning("cannot delete orphan pod %s: %s", metadata.name, error.reason)

    async def close(self) -> None:
        # Runs cancelled by the shutdown may not have reached their own clean-up yet.
        await asyncio.gather(
            *(self.destroy(PodSandbox(name, {})) for name in list(self._in_flight))
        )
        if self._janitor is not None:
            self._janitor.cancel()
        if self._watcher is not None:
            self._watcher.stop()
        self._call.close()
