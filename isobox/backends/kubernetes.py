"""The kubernetes backend: each run is a one-shot Pod, watched to completion, then deleted.

Works in-cluster (service account) and out of cluster (`KUBECONFIG`). Runs wait on one shared
watch stream; API calls go through a small bounded thread pool, so hundreds of runs in flight
cost neither a thread nor a watch each. The backend refuses to run while the sandbox
namespace lacks its deny-all NetworkPolicy (fail closed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.stream import stream

from isobox.backends.base import SandboxBackend, SandboxHandle, provisioned
from isobox.errors import BackendUnavailable, SandboxError
from isobox.ids import new_run_id
from isobox.kubernetes import manifests, paging, policies
from isobox.kubernetes.client import (
    ApiCaller,
    follow_sandbox_log,
    load_api_client,
    read_sandbox_log,
)
from isobox.kubernetes.pod_status import PodOutcome, pod_end, pod_outcome
from isobox.kubernetes.watcher import ObjectWatcher
from isobox.launcher import (
    FrameDecoder,
    SandboxEnd,
    bundle_line,
    sandbox_result,
    spec_log_read_cap,
)
from isobox.models import RunResult
from isobox.sandbox import POOL_LABEL, POOL_OWNER_LABEL
from isobox.settings import Settings
from isobox.spec import RunSpec

log = logging.getLogger(__name__)

# Sandbox pods this backend did not delete (its process was killed) are removed this long
# after they finished, by whichever instance runs the janitor.
ORPHAN_AGE_S = 300
JANITOR_INTERVAL_S = 30
READY_FRAME = "w ready"
READY_POLL_S = 0.1
# Streaming: how long the followed log may take to end once the pod is seen finished.
FOLLOW_GRACE_S = 5.0
SERVICE_ACCOUNT_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
# Pods a CodeRun owns belong to the operator; the janitor leaves them alone.
DIRECT_POD_SELECTOR = f"{manifests.SANDBOX_SELECTOR},!{manifests.CODERUN_LABEL}"


@dataclass(eq=False)
class PodSandbox(SandboxHandle):
    """One sandbox pod: its manifest, and the watch future that hears of its end."""

    name: str
    pod: dict[str, Any]
    outcome: asyncio.Future[PodOutcome] | None = None
    started: float = 0.0
    warm_memory_mib: int | None = None
    """Set for a pooled pod: the memory it was shaped with."""
    attached: Any = None
    """A warm run's attach stream: the bundle went in on its stdin, the frames come out."""


class KubernetesBackend(SandboxBackend[PodSandbox]):
    """Runs programs as sandbox Pods in `settings.kubernetes_namespace`."""

    name = "kubernetes"
    supports_warm_pool = True

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
        self._runtime_missing = ""
        self._attach_api: client.CoreV1Api | None = None
        self._attach_lock = threading.Lock()
        self._owner = pool_owner()
        self._policy_lock = asyncio.Lock()
        self._policy_checked = -math.inf
        self._policy_verdict: str | None = None
        self._pool_anchor: dict[str, Any] | None = None

    async def start(self) -> None:
        api_client = await self._call(load_api_client, self._settings.max_concurrent_runs + 8)
        self._core = client.CoreV1Api(api_client)
        self._networking = client.NetworkingV1Api(api_client)
        self._attach_api = client.CoreV1Api(await self._call(load_api_client, 4))
        self._watcher = ObjectWatcher(
            self._core.list_namespaced_pod, self._namespace, DIRECT_POD_SELECTOR
        )
        self._watcher.start()
        await self._ensure_deny_all_policy()
        self._pool_anchor = await self._call(self._deny_all_reference)
        if self._settings.kubernetes_runtime_class:
            self.runtime = await self._call(self._runtime_handler, api_client)
        self._janitor = asyncio.create_task(self._sweep_orphans_forever())

    def _api(self) -> client.CoreV1Api:
        if self._core is None:
            raise BackendUnavailable("the kubernetes backend is not started")
        return self._core

    def _runtime_handler(self, api_client: client.ApiClient) -> str:
        """What results report as the runtime: the handler of the configured RuntimeClass
        (`runsc` for gVisor), or its name where this API may not read RuntimeClasses."""
        name = self._settings.kubernetes_runtime_class
        try:
            found: Any = client.NodeV1Api(api_client).read_runtime_class(name)
        except ApiException as error:
            if error.status == 404:
                self._runtime_missing = f"RuntimeClass {name} does not exist"
            else:
                log.warning("cannot read RuntimeClass %s: %s", name, error.reason)
            return name
        return str(found.handler)

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

    def _deny_all_reference(self) -> dict[str, Any] | None:
        """The owner of this backend's warm pods: the deny-all NetworkPolicy (None, with a
        warning, where it cannot be read)."""
        try:
            found: Any = self._network_api().read_namespaced_network_policy(
                manifests.NETWORK_POLICY_NAME, self._namespace
            )
        except ApiException as error:
            log.warning("warm pods get no owner: cannot read the deny-all policy: %s", error.reason)
            return None
        document = self._network_api().api_client.sanitize_for_serialization(found)
        return manifests.owner_reference(
            {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", **document}
        )

    async def check(self) -> None:
        if self._runtime_missing:
            raise BackendUnavailable(
                f"{self._runtime_missing} (ISOBOX_KUBERNETES_RUNTIME_CLASS): refusing to run "
                "sandboxes under another runtime"
            )
        await self._refuse_unless_isolated()

    async def _refuse_unless_isolated(self) -> None:
        """Raise BackendUnavailable unless the namespace's NetworkPolicies isolate sandbox
        pods: isobox's deny-all in place and no policy opening egress for them (`policies`).
        The answer is reused for ISOBOX_READYZ_CACHE_S, so runs and probes cost at most one
        list of policies that long; an API error is not kept."""
        async with self._policy_lock:
            if time.monotonic() - self._policy_checked >= self._settings.readyz_cache_s:
                try:
                    problem = await self._call(self._policy_problem)
                except ApiException as error:
                    raise BackendUnavailable(
                        f"cannot list NetworkPolicies in {self._namespace}: "
                        f"{error.status} {error.reason}"
                    ) from error
                except Exception as error:
                    raise BackendUnavailable(f"Kubernetes API unreachable: {error}") from error
                self._policy_verdict = problem.message if problem is not None else None
                self._policy_checked = time.monotonic()
            if self._policy_verdict is not None:
                raise BackendUnavailable(self._policy_verdict)

    def _policy_problem(self) -> policies.Problem | None:
        network = self._network_api()
        listing = paging.models(network.list_namespaced_network_policy, self._namespace)
        found = paging.items(listing)
        documents = [network.api_client.sanitize_for_serialization(p) for p in found]
        return policies.isolation_problem(documents, self._namespace)

    def sandbox_for(self, spec: RunSpec) -> PodSandbox:
        pod = manifests.sandbox_pod(
            spec,
            self._namespace,
            image_pull_policy=self._settings.kubernetes_image_pull_policy,
            isolation_wait_s=self._settings.kubernetes_isolation_wait_s,
            runtime_class=self._settings.kubernetes_runtime_class,
            per_run_uid=self._settings.kubernetes_per_run_uid,
            dns_probe=self._settings.kubernetes_dns_probe,
        )
        return PodSandbox(pod["metadata"]["name"], pod)

    async def provision(self, sandbox: PodSandbox, spec: RunSpec) -> None:
        if self._watcher is None:
            raise BackendUnavailable("the kubernetes backend is not started")
        await self._refuse_unless_isolated()  # no pod while a policy opens egress
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
        """A cold pod carries its bundle in its environment; a warm one gets it on its stdin
        through the attach subresource, whose stdout then carries the run's frames."""
        if sandbox.warm_memory_mib is None:
            return
        await self._refuse_unless_isolated()  # a policy made since it was ready applies to it
        line = bundle_line(
            spec,
            max_processes=manifests.process_limit(spec, self._settings.kubernetes_per_run_uid),
            sandbox_memory_mib=sandbox.warm_memory_mib,
        )
        sandbox.started = time.monotonic()
        try:
            sandbox.attached = await self._call(self._attach_and_send, sandbox.name, line)
        except Exception as error:
            raise SandboxError(f"the warm pod did not take its bundle: {error}") from error

    def _attach_and_send(self, name: str, line: bytes) -> Any:
        # `stream` swaps its client's transport for the call: a client of its own, one
        # handshake at a time, keeps every other API call of this backend off the websocket.
        if self._attach_api is None:
            raise BackendUnavailable("the kubernetes backend is not started")
        with self._attach_lock:
            attached = stream(
                self._attach_api.connect_get_namespaced_pod_attach,
                name,
                self._namespace,
                container=manifests.CONTAINER_NAME,
                stdin=True,
                stdout=True,
                stderr=False,
                tty=False,
                _preload_content=False,
                binary=True,
            )
        attached.write_stdin(line)
        return attached

    async def collect(self, sandbox: PodSandbox, spec: RunSpec) -> RunResult:
        if sandbox.attached is not None:
            decoder = FrameDecoder(spec.limits.output_bytes)
            decoder.on_output = sandbox.on_output
            limit_s = manifests.active_deadline_seconds(spec) + 0.0
            ended = await self._call(_read_attached, sandbox.attached, decoder, limit_s)
            sandbox.attached = None
            if decoder.has_report() or decoder.launcher_error:
                # The launcher's own report, as it happened; no wait for the kubelet's status.
                result = sandbox_result(decoder, SandboxEnd(deadline_hit=not ended))
                duration_ms = result.duration_ms or int((time.monotonic() - sandbox.started) * 1000)
                return result.model_copy(
                    update={"duration_ms": duration_ms, "runtime": self.runtime}
                )
        return await self._collect_from_status(sandbox, spec)

    async def _collect_from_status(self, sandbox: PodSandbox, spec: RunSpec) -> RunResult:
        watched = provisioned(sandbox.outcome, "watch of its pod")
        limit = spec.limits.output_bytes
        followed = FrameDecoder(limit)
        heard: list[bool] = []
        listener = sandbox.on_output
        if listener is not None:

            def on_output(stage: str, stream: str, data: bytes) -> None:
                heard.append(True)
                listener(stage, stream, data)

            followed.on_output = on_output
        stop = threading.Event()
        following = (
            asyncio.ensure_future(
                self._call(
                    follow_sandbox_log, self._api(), self._namespace, sandbox.name, followed, stop
                )
            )
            if sandbox.on_output is not None
            else None
        )
        try:
            outcome = await self._await_outcome(watched, spec)
            if outcome.kind == "failed_to_start":
                raise SandboxError(
                    f"the sandbox pod cannot start: {outcome.reason}: {outcome.message} "
                    f"(image {spec.language.image}; is it loaded on the nodes?)"
                )
            if outcome.kind == "deleted":
                raise SandboxError("the sandbox pod was deleted before it finished")
            if following is not None:
                stop.set()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(following), FOLLOW_GRACE_S)
        finally:
            stop.set()
        decoder = followed
        if following is None or not following.done() or not followed.has_report():
            decoder = FrameDecoder(limit)
            if not heard:  # the follow saw nothing: the whole log streams now, at the end
                decoder.on_output = sandbox.on_output
            await self._call(
                read_sandbox_log,
                self._api(),
                self._namespace,
                sandbox.name,
                decoder,
                spec_log_read_cap(spec),
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

    def idle_sandbox(self, shape: RunSpec) -> PodSandbox:
        sandbox_id = new_run_id()
        pod = manifests.pool_pod(
            shape,
            self._namespace,
            sandbox_id,
            self._owner,
            max_idle_s=self._settings.pool_max_idle_s * 1.25,
            image_pull_policy=self._settings.kubernetes_image_pull_policy,
            isolation_wait_s=self._settings.kubernetes_isolation_wait_s,
            runtime_class=self._settings.kubernetes_runtime_class,
            per_run_uid=self._settings.kubernetes_per_run_uid,
            dns_probe=self._settings.kubernetes_dns_probe,
            anchor=self._pool_anchor,
        )
        sandbox = PodSandbox(pod["metadata"]["name"], pod)
        sandbox.warm_memory_mib = shape.sandbox_memory_mib
        return sandbox

    async def provision_idle(self, sandbox: PodSandbox, shape: RunSpec, max_idle_s: float) -> None:
        await self.provision(sandbox, shape)
        limit = (
            self._settings.kubernetes_start_timeout_s + self._settings.kubernetes_isolation_wait_s
        )
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if sandbox.outcome is not None and sandbox.outcome.done():
                raise SandboxError(f"the warm pod {sandbox.name} ended before it was ready")
            if await self._call(self._said_ready, sandbox.name):
                return
            await asyncio.sleep(READY_POLL_S)
        raise SandboxError(f"the warm pod {sandbox.name} was not ready within {limit:.0f} s")

    def _said_ready(self, name: str) -> bool:
        try:
            log_text = self._api().read_namespaced_pod_log(
                name, self._namespace, container=manifests.CONTAINER_NAME, limit_bytes=4096
            )
        except ApiException as error:
            if error.status in {400, 404}:  # not started yet
                return False
            raise
        return READY_FRAME in str(log_text)

    def alive(self, sandbox: PodSandbox) -> bool:
        # The watch tells of a pod that ended or was deleted while idle; no API call here.
        return sandbox.outcome is not None and not sandbox.outcome.done()

    async def hand_over(
        self, sandbox: PodSandbox, labels: dict[str, str], owner: dict[str, Any]
    ) -> str:
        """Give a claimed warm pod to `owner` (the operator's CodeRun), with `labels` added:
        from now on its owner's controller watches, records and deletes it, and this backend
        forgets it (its janitor leaves labelled pods alone). Returns the pod's uid."""
        body = {"metadata": {"labels": labels, "ownerReferences": [owner]}}
        patched: Any = await self._call(
            self._api().patch_namespaced_pod, sandbox.name, self._namespace, body
        )
        self._forget(sandbox)
        return str(patched.metadata.uid)

    def detach(self, sandbox: PodSandbox) -> None:
        """Close a delivered warm run's attach stream; the pod runs on (its log keeps the
        frames)."""
        if sandbox.attached is not None:
            with contextlib.suppress(Exception):
                sandbox.attached.close()
            sandbox.attached = None

    def _forget(self, sandbox: PodSandbox) -> None:
        if self._watcher is not None:
            self._watcher.forget(sandbox.name)
        self._in_flight.discard(sandbox.name)

    async def destroy(self, sandbox: PodSandbox) -> None:
        self.detach(sandbox)
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

    def _sweep_orphans(self, page_size: int = paging.PAGE_SIZE) -> None:
        listing = paging.models(
            self._api().list_namespaced_pod, self._namespace, label_selector=DIRECT_POD_SELECTOR
        )
        now = time.time()
        for pod in paging.items(listing, page_size):
            metadata: Any = pod.metadata
            if (metadata.labels or {}).get(POOL_LABEL):
                self._sweep_pool_pod(pod)
                continue
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

    def _sweep_pool_pod(self, pod: Any) -> None:
        """Delete a warm pod that ended unused, or whose owner (another isobox instance) is
        gone: a crashed or scaled-down replica's pool does not outlive it by more than a
        sweep interval of any replica."""
        owner = (pod.metadata.annotations or {}).get(POOL_OWNER_LABEL, "")
        ended = getattr(pod.status, "phase", "") in {"Succeeded", "Failed"}
        if owner == self._owner.name and not ended:
            return
        if ended or self._owner_is_gone(owner):
            try:
                self._api().delete_namespaced_pod(
                    str(pod.metadata.name), self._namespace, grace_period_seconds=0
                )
            except ApiException as error:
                if error.status != 404:
                    log.warning("cannot delete warm pod %s: %s", pod.metadata.name, error.reason)

    def _owner_is_gone(self, owner: str) -> bool:
        kind, _, rest = owner.partition("/")
        if kind == "host":
            host, _, pid = rest.rpartition("/")
            mine = host == socket.gethostname()
            return mine and pid.isdigit() and not Path(f"/proc/{pid}").exists()
        if kind == "pod":
            namespace, _, name = rest.partition("/")
            try:
                self._api().read_namespaced_pod(name, namespace)
            except ApiException as error:
                return bool(error.status == 404)
        return False

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


def _read_attached(attached: Any, decoder: FrameDecoder, limit_s: float) -> bool:
    """Feed the attach stream's stdout to `decoder` until the launcher exits (the stream
    closes: True) or `limit_s` passes (False)."""
    deadline = time.monotonic() + limit_s
    try:
        while attached.is_open() and time.monotonic() < deadline:
            attached.update(timeout=min(1.0, max(deadline - time.monotonic(), 0.01)))
            if attached.peek_stdout():
                chunk = attached.read_stdout()
                decoder.feed(chunk if isinstance(chunk, bytes) else chunk.encode())
        if attached.peek_stdout():
            chunk = attached.read_stdout()
            decoder.feed(chunk if isinstance(chunk, bytes) else chunk.encode())
        return not attached.is_open() or time.monotonic() < deadline
    finally:
        attached.close()


def pool_owner() -> manifests.PoolOwner:
    """This instance, as its pool pods name it: its own Pod in a cluster (HOSTNAME is the pod
    name there), else this host and process."""
    namespace_file = Path(SERVICE_ACCOUNT_NAMESPACE)
    if os.environ.get("KUBERNETES_SERVICE_HOST") and namespace_file.exists():
        namespace = namespace_file.read_text().strip()
        return manifests.PoolOwner(f"pod/{namespace}/{socket.gethostname()}")
    return manifests.PoolOwner(f"host/{socket.gethostname()}/{os.getpid()}")
