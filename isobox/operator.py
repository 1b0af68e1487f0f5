"""The CodeRun operator (`isobox operator`): reconcile each CodeRun into a sandbox Pod and
record the result.

Handlers only create-if-absent, read and patch status; the Pod itself comes from `manifests`,
the result from `pod_status`, exactly as in the direct Pod backend. State lives in the
CodeRun status (`phase` is a small state machine), so a restarted operator picks up where the
old one stopped: pods that finished meanwhile are listed again and recorded then.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, replace
from typing import Any

import kopf
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from isobox.backends.kubernetes import KubernetesBackend
from isobox.errors import PolicyError
from isobox.kubernetes import manifests, paging, policies
from isobox.kubernetes.client import load_api_client, read_sandbox_log
from isobox.kubernetes.coderun import (
    age_seconds,
    now,
    request_from_spec,
)
from isobox.kubernetes.manifests import CODERUN_PLURAL, GROUP, VERSION
from isobox.kubernetes.reconcile import after_create_conflict, error_status, next_status
from isobox.languages import LanguageRegistry
from isobox.launcher import FrameDecoder, log_read_cap
from isobox.metrics import Metrics
from isobox.outcome import FINAL_PHASES, Phase
from isobox.policy import build_run_spec
from isobox.pool import WarmPool
from isobox.service import warm_pool
from isobox.settings import Settings
from isobox.spec import RunSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OperatorPool:
    """The operator's warm pods (coderun mode): a CodeRun that fits claims one, which is then
    handed over to it (labelled and owned like a pod made for it) and gets its bundle."""

    backend: KubernetesBackend
    pool: WarmPool


@dataclass(frozen=True)
class Reconciler:
    """The operator's dependencies and the I/O its handlers need."""

    settings: Settings
    languages: LanguageRegistry
    core: client.CoreV1Api
    custom: client.CustomObjectsApi
    runtime: str = "runc"
    """What results record as the runtime: the RuntimeClass's handler (runsc for gVisor)."""
    warm: OperatorPool | None = None

    def patch_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        """Write `status`; if the API server refuses it (too large, invalid), the run still
        ends, as Error with the reason, within this call."""
        try:
            self.custom.patch_namespaced_custom_object_status(
                GROUP, VERSION, namespace, CODERUN_PLURAL, name, {"status": status}
            )
        except ApiException as error:
            if error.status not in {400, 413, 422} or status.get("phase") == Phase.ERROR:
                raise
            log.error("CodeRun %s: status refused (%s %s)", name, error.status, error.reason)
            fallback = error_status(
                "StatusRefused",
                f"the API server refused the run's record: {error.status} {error.reason}",
                now(),
            )
            self.custom.patch_namespaced_custom_object_status(
                GROUP, VERSION, namespace, CODERUN_PLURAL, name, {"status": fallback}
            )

    def read_coderun(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            found: Any = self.custom.get_namespaced_custom_object(
                GROUP, VERSION, namespace, CODERUN_PLURAL, name
            )
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        return dict(found)

    def read_pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            found: Any = self.core.read_namespaced_pod(name, namespace)
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        return dict(self.core.api_client.sanitize_for_serialization(found))

    def delete_pod(self, namespace: str, name: str, uid: str | None = None) -> None:
        """Delete the pod; with `uid`, only if it is still that pod (never another CodeRun's
        pod that took the name)."""
        preconditions = client.V1Preconditions(uid=uid) if uid else None
        try:
            self.core.delete_namespaced_pod(
                name,
                namespace,
                grace_period_seconds=0,
                body=client.V1DeleteOptions(preconditions=preconditions),
            )
        except ApiException as error:
            if error.status not in {404, 409}:  # 409: the precondition failed, not ours
                raise

    def isolation_problem(self, namespace: str) -> policies.Problem | None:
        """Why `namespace`'s NetworkPolicies do not isolate sandbox pods (`policies`), read
        before each pod is made; an API error is retried, and no pod is made meanwhile."""
        network = client.NetworkingV1Api(self.core.api_client)
        try:
            listing = paging.models(network.list_namespaced_network_policy, namespace)
            documents = [
                network.api_client.sanitize_for_serialization(p) for p in paging.items(listing)
            ]
        except ApiException as error:
            raise kopf.TemporaryError(
                f"cannot list NetworkPolicies: {error.status} {error.reason}", delay=5
            ) from error
        return policies.isolation_problem(documents, namespace)

    def coderun_settings(self) -> Settings:
        limit = min(self.settings.output_limit_bytes, self.settings.coderun_output_limit_bytes)
        return self.settings.model_copy(update={"output_limit_bytes": limit})

    async def start(self, body: kopf.Body, logger: kopf.Logger) -> None:
        """Start the CodeRun's run: in a warm pod of the pool if one fits, else in a new pod."""
        run_spec = await asyncio.to_thread(self.plan, body, logger)
        if run_spec is None:
            return
        if await self.start_warm(body, run_spec, logger):
            return
        await asyncio.to_thread(self.start_cold, body, run_spec, logger)

    def plan(self, body: kopf.Body, logger: kopf.Logger) -> RunSpec | None:
        """The run a new CodeRun asks for, or None: it ended already, it is under way (a resumed
        operator), or it is refused (recorded in its status)."""
        name, namespace = body.metadata.name, body.metadata.namespace or ""
        spec, status = dict(body.spec), dict(body.status)
        if status.get("phase") in FINAL_PHASES:
            return None
        if spec.get("cancelled"):
            self.patch_status(namespace, name, {"phase": Phase.CANCELLED, "finishedAt": now()})
            return None
        if status.get("warm") and status.get("podName"):
            # A warm pod, handed over before a restart: its events tell how the run went.
            if self.read_pod(namespace, status["podName"]) is None:
                gone = "the warm sandbox pod is gone (deleted while no operator ran)"
                self.patch_status(namespace, name, error_status("PodGone", gone, now()))
            return None
        run_id = spec.get("runId") or (body.metadata.uid or "").replace("-", "")[:20]
        try:
            run_spec = build_run_spec(
                request_from_spec(spec), self.languages, self.coderun_settings(), run_id=run_id
            )
        except (PolicyError, ValidationError) as error:
            self.patch_status(
                namespace,
                name,
                {
                    "phase": Phase.ERROR,
                    "reason": "Invalid",
                    "message": str(error),
                    "finishedAt": now(),
                },
            )
            return None
        problem = self.isolation_problem(namespace)
        if problem is not None:
            logger.error("run %s refused: %s", name, problem.message)
            self.patch_status(namespace, name, error_status(problem.reason, problem.message, now()))
            return None
        return run_spec

    async def start_warm(self, body: kopf.Body, run_spec: RunSpec, logger: kopf.Logger) -> bool:
        """Hand the run to a warm pod of the pool; False if none fits or the one claimed could
        not take it (then it is deleted, and the caller goes cold)."""
        warm = self.warm
        if warm is None or body.status.get("phase"):
            return False
        sandbox = warm.pool.claim(run_spec)
        if sandbox is None:
            return False
        name, namespace = body.metadata.name, body.metadata.namespace or ""
        try:
            owner: dict[str, Any] = {"metadata": {}}
            kopf.append_owner_reference(owner, owner=body)
            labels = {manifests.CODERUN_LABEL: name}
            pod_uid = await warm.backend.hand_over(
                sandbox, labels, owner["metadata"]["ownerReferences"][0]
            )
            # One status write: until it names the pod, the pod's events change nothing (no
            # phase yet); a run restarted before it names another pod, and this one is deleted.
            status = {
                "phase": Phase.PENDING,
                "runId": run_spec.run_id,
                "warm": True,
                "podName": sandbox.name,
                "podUid": pod_uid,
            }
            await asyncio.to_thread(self.patch_status, namespace, name, status)
            await warm.backend.deliver(sandbox, run_spec)
        except Exception as error:  # noqa: BLE001 - a warm pod that failed means "go cold"
            logger.warning("warm pod %s refused run %s (%s); going cold", sandbox.name, name, error)
            await warm.backend.destroy(sandbox)
            return False
        finally:
            warm.backend.detach(sandbox)
        logger.info("warm sandbox pod %s for run %s", sandbox.name, run_spec.run_id)
        return True

    def start_cold(self, body: kopf.Body, run_spec: RunSpec, logger: kopf.Logger) -> None:
        """Create the run's own pod (owned by the CodeRun, its bundle in its environment)."""
        name, namespace = body.metadata.name, body.metadata.namespace or ""
        status = dict(body.status)
        pod = manifests.sandbox_pod(
            run_spec,
            namespace,
            image_pull_policy=self.settings.kubernetes_image_pull_policy,
            extra_labels={manifests.CODERUN_LABEL: name},
            isolation_wait_s=self.settings.kubernetes_isolation_wait_s,
            runtime_class=self.settings.kubernetes_runtime_class,
            per_run_uid=self.settings.kubernetes_per_run_uid,
            dns_probe=self.settings.kubernetes_dns_probe,
        )
        kopf.append_owner_reference(pod, owner=body)
        pod_name = pod["metadata"]["name"]
        if not status.get("phase") or status.get("podName") != pod_name:
            # New, or a warm pod gave up the run: this pod is now the CodeRun's.
            self.patch_status(
                namespace,
                name,
                {
                    "phase": Phase.PENDING,
                    "runId": run_spec.run_id,
                    "podName": pod_name,
                    "warm": False,
                },
            )
        try:
            created: Any = self.core.create_namespaced_pod(namespace, pod)  # type: ignore[arg-type]
        except ApiException as error:
            if error.status != 409:
                raise kopf.TemporaryError(
                    f"cannot create the pod: {error.reason}", delay=5
                ) from error
            coderun = {"metadata": dict(body.metadata)}
            decision = after_create_conflict(coderun, self.read_pod(namespace, pod_name), now())
            if decision.status is not None:
                self.patch_status(namespace, name, decision.status)
            return
        self.patch_status(namespace, name, {"podUid": created.metadata.uid})
        logger.info("sandbox pod %s for run %s", pod_name, run_spec.run_id)

    def observe_pod(self, event_type: str, pod: dict[str, Any], logger: kopf.Logger) -> None:
        metadata = pod["metadata"]
        namespace, pod_name = metadata["namespace"], metadata["name"]
        coderun_name = metadata["labels"][manifests.CODERUN_LABEL]
        coderun = self.read_coderun(namespace, coderun_name)
        decision = next_status(coderun, event_type, pod, None, now(), self.runtime)
        if decision.read_log:
            limit = self.coderun_settings().output_limit_bytes
            decoder = FrameDecoder(limit)
            # Each test case of the run frames its own streams and report.
            cases = len(((coderun or {}).get("spec") or {}).get("tests") or [])
            cap = log_read_cap(limit) * (1 + cases)
            read_sandbox_log(self.core, namespace, pod_name, decoder, cap)
            decision = next_status(coderun, event_type, pod, decoder, now(), self.runtime)
        if decision.status is not None:
            self.patch_status(namespace, coderun_name, decision.status)
            if decision.status["phase"] in FINAL_PHASES:
                logger.info("run %s finished: %s", coderun_name, decision.status["phase"])
        if decision.delete_pod:
            self.delete_pod(namespace, pod_name, metadata.get("uid"))

    def cancel(self, body: kopf.Body) -> None:
        status = dict(body.status)
        if status.get("phase") in FINAL_PHASES:
            return
        namespace, name = body.metadata.namespace or "", body.metadata.name
        self.patch_status(namespace, name, {"phase": Phase.CANCELLED, "finishedAt": now()})
        if status.get("podName") and status.get("podUid"):
            self.delete_pod(namespace, status["podName"], status["podUid"])

    def expire_finished(self, namespace: str, page_size: int = paging.PAGE_SIZE) -> int:
        """Delete this namespace's CodeRuns finished longer ago than the retention time,
        reading them `page_size` at a time (a CodeRun's status alone can be a MiB)."""
        listing = paging.custom_objects(
            self.custom.list_namespaced_custom_object, GROUP, VERSION, namespace, CODERUN_PLURAL
        )
        expired = 0
        for item in paging.items(listing, page_size):
            status = item.get("status") or {}
            finished = status.get("finishedAt")
            if status.get("phase") not in FINAL_PHASES or not finished:
                continue
            if age_seconds(finished) > self.settings.coderun_retention_s:
                try:
                    self.custom.delete_namespaced_custom_object(
                        GROUP, VERSION, namespace, CODERUN_PLURAL, item["metadata"]["name"]
                    )
                    expired += 1
                except ApiException as error:
                    if error.status != 404:
                        raise
        return expired


async def expire_forever(reconciler: Reconciler, namespace: str) -> None:
    """The audit window: one periodic sweep, not a timer per CodeRun (timers would make kopf
    put finalizers on every CodeRun, which then block namespace deletion)."""
    while True:
        try:
            expired = await asyncio.to_thread(reconciler.expire_finished, namespace)
            if expired:
                log.info("deleted %d CodeRuns past the retention time", expired)
        except Exception as error:  # noqa: BLE001 - retry next round
            log.warning("retention sweep failed: %s", error)
        await asyncio.sleep(reconciler.settings.coderun_gc_interval_s)


def build_registry(reconciler: Reconciler) -> kopf.OperatorRegistry:
    """The operator's handlers, bound to `reconciler`."""
    registry = kopf.OperatorRegistry()
    resource = (GROUP, VERSION, CODERUN_PLURAL)

    @kopf.on.startup(registry=registry)
    def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.posting.level = logging.WARNING
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(
            prefix="kopf.isobox.dev"
        )
        settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
            prefix="kopf.isobox.dev"
        )
        settings.watching.server_timeout = 300

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        # A registry of our own does not get kopf's default login; use the same client config.
        return kopf.login_via_client(**kwargs)

    @kopf.on.resume(*resource, registry=registry)
    @kopf.on.create(*resource, registry=registry)
    async def start_run(body: kopf.Body, logger: kopf.Logger, **_: Any) -> None:
        await reconciler.start(body, logger)

    @kopf.on.field(*resource, field="spec.cancelled", registry=registry)
    def cancel_run(body: kopf.Body, new: Any, **_: Any) -> None:
        if new:
            reconciler.cancel(body)

    @kopf.on.event(
        "", "v1", "pods", labels={manifests.CODERUN_LABEL: kopf.PRESENT}, registry=registry
    )
    def pod_changed(type: str | None, body: kopf.Body, logger: kopf.Logger, **_: Any) -> None:
        reconciler.observe_pod(type or "LISTED", _plain(body), logger)

    return registry


def _plain(body: kopf.Body) -> dict[str, Any]:
    return {"metadata": dict(body.metadata), "spec": dict(body.spec), "status": dict(body.status)}


def run_operator(settings: Settings) -> None:
    """Run the operator in the sandbox namespace until interrupted."""
    api_client = load_api_client()
    reconciler = Reconciler(
        settings=settings,
        languages=LanguageRegistry.load(settings.languages_file),
        core=client.CoreV1Api(api_client),
        custom=client.CustomObjectsApi(api_client),
        runtime=runtime_handler(api_client, settings.kubernetes_runtime_class),
    )
    asyncio.run(_operate(reconciler, settings.kubernetes_namespace, settings.operator_health_port))


def runtime_handler(api_client: client.ApiClient, runtime_class: str) -> str:
    """The handler of `runtime_class` (runsc for gVisor), its name where it cannot be read,
    runc without one."""
    if not runtime_class:
        return "runc"
    try:
        found: Any = client.NodeV1Api(api_client).read_runtime_class(runtime_class)
    except ApiException as error:
        log.warning("cannot read RuntimeClass %s: %s", runtime_class, error.reason)
        return runtime_class
    return str(found.handler)


async def start_pool(settings: Settings, languages: LanguageRegistry) -> OperatorPool | None:
    """The warm pool ISOBOX_POOL_SIZE asks for, filling; None without one."""
    backend = KubernetesBackend(settings)
    pool = warm_pool(backend, languages, settings, Metrics())
    if pool is None:
        return None
    await backend.start()
    pool.start()
    return OperatorPool(backend, pool)


async def _operate(reconciler: Reconciler, namespace: str, health_port: int) -> None:
    warm = await start_pool(reconciler.coderun_settings(), reconciler.languages)
    reconciler = replace(reconciler, warm=warm)
    sweeper = asyncio.create_task(expire_forever(reconciler, namespace))
    # kopf's own endpoint: it answers while the event loop runs, so a hung operator is restarted.
    liveness = f"http://0.0.0.0:{health_port}/healthz" if health_port else None
    try:
        await kopf.operator(
            registry=build_registry(reconciler),
            namespaces=[namespace],
            standalone=True,
            liveness_endpoint=liveness,
        )
    finally:
        sweeper.cancel()
        if warm is not None:  # shutdown deletes the pool
            await warm.pool.close()
            await warm.backend.close()
