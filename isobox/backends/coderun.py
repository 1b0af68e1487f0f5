"""The coderun backend: each run is a CodeRun object that the operator turns into a Pod.

The API creates the CodeRun and waits, on one shared watch, for the operator to write a final
phase into its status; `kubectl get coderuns` is then the audit trail of every run. A request
cancelled midway (client gone, shutdown) marks its CodeRun cancelled, so the operator stops the
Pod and the record says what happened.

The backend is also the store of asynchronous runs (`DurableRuns`, `durable_runs()` returns
it): `submit`, `read` and `cancel` create, read and cancel a run's CodeRun without waiting for
the run, so nothing of such a run lives in the API process. It survives a restart of the API
that accepted it, every replica sees it, and it is gone when retention deletes its CodeRun.
Metrics count the submissions the policy refuses; outcomes and timings are the operator's, which
sees the runs end.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from isobox.backends.base import Backend
from isobox.errors import BackendUnavailable, SandboxError, TooManyRuns
from isobox.kubernetes import manifests, paging
from isobox.kubernetes.client import ApiCaller, follow_sandbox_log, load_api_client
from isobox.kubernetes.coderun import (
    coderun_name,
    phase_of_coderun,
    result_from_status,
    run_state,
    spec_from_run,
)
from isobox.kubernetes.manifests import CODERUN_PLURAL, GROUP, VERSION
from isobox.kubernetes.watcher import ObjectWatcher
from isobox.launcher import FrameDecoder, OutputListener
from isobox.models import RunResult
from isobox.outcome import FINAL_PHASES, Phase, RunStatus
from isobox.output import Utf8Streams
from isobox.runstate import DurableRuns, OutputChunk, RunEvent, RunState, chunks_of
from isobox.settings import Settings
from isobox.spec import RunSpec

log = logging.getLogger(__name__)

MANAGED_SELECTOR = "app.kubernetes.io/managed-by=isobox"
# The client an asynchronous run belongs to, as a digest (a label value holds at most 63
# characters, and the client id, an API key digest or an address, need not be shown).
OWNER_LABEL = "isobox.dev/owner"
OWNER_LABEL_LENGTH = 40
# A cancel is conditional on the version read; the operator's own writes may move it meanwhile.
CANCEL_ATTEMPTS = 5
# DELETE waits this long for the operator to confirm the cancel, then answers what it sees.
CANCEL_CONFIRM_S = 10.0
CONFIRM_POLL_S = 0.2
# Counting a client's unfinished CodeRuns reads its CodeRuns this many at a time.
IN_FLIGHT_PAGE_SIZE = 50
# A client at its limit of CodeRuns in flight is told to come back this much later.
IN_FLIGHT_RETRY_AFTER_S = 5
# Following a run: how often to look whether its CodeRun has ended meanwhile.
FOLLOW_POLL_S = 0.5


def owner_label(owner: str) -> str:
    """The `OWNER_LABEL` value recording `owner`: a prefix of a SHA-256 digest."""
    digest = hashlib.sha256(f"isobox-run-owner\0{owner}".encode()).hexdigest()
    return digest[:OWNER_LABEL_LENGTH]


def _final_status(event_type: str, coderun: dict[str, Any]) -> dict[str, Any] | None:
    if event_type == "DELETED":
        return {"phase": Phase.ERROR, "message": "the CodeRun was deleted before it finished"}
    status: dict[str, Any] = coderun.get("status") or {}
    return status if status.get("phase") in FINAL_PHASES else None


class CodeRunBackend(Backend):
    """Runs programs by creating CodeRuns for the isobox operator."""

    name = "coderun"

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._namespace = settings.kubernetes_namespace
        self._call = ApiCaller()
        self._custom: client.CustomObjectsApi | None = None
        self._core: client.CoreV1Api | None = None
        self._streams: set[asyncio.Future[None]] = set()
        self._watcher: ObjectWatcher | None = None
        self._in_flight: set[str] = set()

    def _api(self) -> client.CustomObjectsApi:
        if self._custom is None:
            raise BackendUnavailable("the coderun backend is not started")
        return self._custom

    async def start(self) -> None:
        api_client = await self._call(load_api_client, self._settings.max_concurrent_runs + 8)
        self._custom = client.CustomObjectsApi(api_client)
        self._core = client.CoreV1Api(api_client)
        custom = self._custom

        def list_coderuns(namespace: str, **kwargs: Any) -> Any:
            """:return: object"""
            return custom.list_namespaced_custom_object(
                GROUP, VERSION, namespace, CODERUN_PLURAL, **kwargs
            )

        self._watcher = ObjectWatcher(list_coderuns, self._namespace, MANAGED_SELECTOR)
        self._watcher.start()

    async def check(self) -> None:
        try:
            await self._on_coderuns(self._api().list_namespaced_custom_object, limit=1)
        except ApiException as error:
            raise BackendUnavailable(
                f"cannot list CodeRuns in {self._namespace}: {error.status} {error.reason} "
                "(is the CRD installed?)"
            ) from error
        except Exception as error:
            raise BackendUnavailable(f"Kubernetes API unreachable: {error}") from error

    async def run(self, spec: RunSpec, on_output: OutputListener | None = None) -> RunResult:
        """Create the CodeRun for `spec` and wait for the operator to finish it. Streamed, the
        output comes from the run's pod log while it runs; the result from the CodeRun."""
        if self._watcher is None:
            raise BackendUnavailable("the coderun backend is not started")
        name = coderun_name(spec.run_id)
        body = manifests.coderun(name, self._namespace, spec_from_run(spec))
        done = self._watcher.expect(name, _final_status)
        self._in_flight.add(name)
        stop = threading.Event()
        try:
            if await self._create(body) is None:
                raise BackendUnavailable(f"CodeRun {name} exists already")
            if on_output is not None:
                self._stream_pod_log(spec, on_output, stop)
            status = await self._await(done, spec)
        except asyncio.CancelledError:
            await asyncio.shield(self._cancel(name))
            raise
        finally:
            stop.set()
            self._watcher.forget(name)
            self._in_flight.discard(name)
        if status.get("phase") == Phase.ERROR:
            raise SandboxError(
                f"CodeRun {name} failed: {status.get('reason', '')} {status.get('message', '')}"
            )
        return result_from_status(status)

    def durable_runs(self) -> DurableRuns:
        return self

    async def submit(self, spec: RunSpec, owner: str) -> RunState:
        """Create the CodeRun for `spec` and return its run at once, without waiting for it.

        If a CodeRun of that name exists already (a repeated idempotency key, maybe sent to
        another replica at the same moment), the API server refuses the second with 409 and
        the existing one is returned instead: one name, one run. The CodeRun records its owner
        (`OWNER_LABEL`); an id derived from an owner's idempotency key is that owner's.
        An owner with `max_in_flight_coderuns_per_client` CodeRuns unfinished gets TooManyRuns
        (429), unless the id names one of its CodeRuns already (a retried key gets its run).
        """
        name = coderun_name(spec.run_id)
        labels = {OWNER_LABEL: owner_label(owner)}
        body = manifests.coderun(name, self._namespace, spec_from_run(spec), labels=labels)
        limit = self._settings.max_in_flight_coderuns_per_client
        if limit and await self._in_flight_of(labels[OWNER_LABEL], limit) >= limit:
            existing = await self._read(spec.run_id, owner)  # a repeated key: its run
            if existing is None:
                raise TooManyRuns(
                    f"at most {limit} runs in flight per client", IN_FLIGHT_RETRY_AFTER_S
                )
            return run_state(spec.run_id, existing, self.name)
        for _ in range(2):  # a second try only if the existing one was deleted meanwhile
            coderun = await self._create(body) or await self._read(spec.run_id, owner)
            if coderun is not None:
                return run_state(spec.run_id, coderun, self.name)
        raise BackendUnavailable(f"CodeRun {name} exists and vanishes; submit again")

    async def _in_flight_of(self, label: str, enough: int) -> int:
        """How many CodeRuns of owner `label` have not ended, counting up to `enough`.

        Read from the cluster, so every replica counts the same runs: one label-selected list,
        a page at a time (finished CodeRuns keep the label until retention deletes them), that
        stops as soon as `enough` unfinished ones are seen. Not atomic with the create that
        follows: replicas admitting the same client at the same moment may each see room."""

        def count() -> int:
            listing = paging.custom_objects(
                self._api().list_namespaced_custom_object,
                GROUP,
                VERSION,
                self._namespace,
                CODERUN_PLURAL,
                label_selector=f"{OWNER_LABEL}={label}",
            )
            found = 0
            for coderun in paging.items(listing, IN_FLIGHT_PAGE_SIZE):
                if phase_of_coderun(coderun) not in FINAL_PHASES:
                    found += 1
                    if found >= enough:
                        break
            return found

        try:
            return await self._call(count)
        except ApiException as error:
            raise BackendUnavailable(
                f"cannot count the client's CodeRuns: {error.status} {error.reason}"
            ) from error

    async def read(self, run_id: str, owner: str) -> RunState | None:
        """The run of CodeRun `run-<run_id>`, or None if `owner` has none (never made,
        expired, another client's, or a synchronous run's, which records no owner)."""
        coderun = await self._read(run_id, owner)
        return run_state(run_id, coderun, self.name) if coderun is not None else None

    async def events(self, run_id: str, owner: str) -> AsyncIterator[RunEvent] | None:
        """Follow `owner`'s run: from its pod's log while it runs, then from its CodeRun."""
        state = await self.read(run_id, owner)
        return self._followed(run_id, owner, state) if state is not None else None

    async def _followed(self, run_id: str, owner: str, state: RunState) -> AsyncIterator[RunEvent]:
        if state.status is not RunStatus.RUNNING or self._core is None:
            for chunk in chunks_of(state.result) if state.result is not None else []:
                yield chunk
            yield state
            return
        loop = asyncio.get_running_loop()
        heard: asyncio.Queue[tuple[str, str, bytes]] = asyncio.Queue()
        limit = min(self._settings.output_limit_bytes, self._settings.coderun_output_limit_bytes)
        decoder = FrameDecoder(limit)

        def on_output(stage: str, stream: str, data: bytes) -> None:  # a worker thread
            loop.call_soon_threadsafe(heard.put_nowait, (stage, stream, data))

        decoder.on_output = on_output
        stop, text = threading.Event(), Utf8Streams()
        pod = manifests.pod_name(run_id)
        following = asyncio.ensure_future(
            self._call(follow_sandbox_log, self._core, self._namespace, pod, decoder, stop)
        )
        try:
            while state.status is RunStatus.RUNNING:
                try:
                    stage, stream, data = await asyncio.wait_for(heard.get(), FOLLOW_POLL_S)
                except TimeoutError:
                    state = await self.read(run_id, owner) or state
                    continue
                if piece := text.decode(stage, stream, data):
                    yield OutputChunk(stage, stream, piece)
            stop.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(following), FOLLOW_POLL_S * 4)
            while not heard.empty():
                stage, stream, data = heard.get_nowait()
                if piece := text.decode(stage, stream, data):
                    yield OutputChunk(stage, stream, piece)
            for stage, stream, rest in text.flush():
                yield OutputChunk(stage, stream, rest)
            yield state
        finally:
            stop.set()

    async def cancel(self, run_id: str, owner: str) -> RunState | None:
        """Mark the CodeRun cancelled and wait, briefly, for the operator to confirm.

        Confirmed, the status is "cancelled" (the operator deletes the Pod right after); with no
        operator answering in time it is still "running", and the mark stays in the CodeRun
        for the operator to honour when it comes (it then never starts the run).
        """
        coderun = await self._mark_cancelled(run_id, owner)
        deadline = time.monotonic() + CANCEL_CONFIRM_S
        while coderun is not None and phase_of_coderun(coderun) not in FINAL_PHASES:
            if time.monotonic() >= deadline:
                break
            await asyncio.sleep(CONFIRM_POLL_S)
            coderun = await self._read(run_id, owner)
        return run_state(run_id, coderun, self.name) if coderun is not None else None

    async def _read(self, run_id: str, owner: str) -> dict[str, Any] | None:
        """The CodeRun of run `run_id`, or None if there is none that `owner` owns."""
        try:
            found: Any = await self._on_coderuns(
                self._api().get_namespaced_custom_object, coderun_name(run_id)
            )
        except ApiException as error:
            if error.status == 404:
                return None
            raise BackendUnavailable(
                f"cannot read the CodeRun: {error.status} {error.reason}"
            ) from error
        labels = (found.get("metadata") or {}).get("labels") or {}
        return dict(found) if labels.get(OWNER_LABEL) == owner_label(owner) else None

    async def _mark_cancelled(self, run_id: str, owner: str) -> dict[str, Any] | None:
        """Mark the CodeRun of `run_id` cancelled unless it has ended; return it as it is then.

        The mark is conditional on the version just read, so a run that ends meanwhile keeps
        its ending and is not flagged cancelled after the fact. The operator, seeing the mark,
        records the run Cancelled and deletes its Pod.
        """
        name = coderun_name(run_id)
        for _ in range(CANCEL_ATTEMPTS):
            coderun = await self._read(run_id, owner)
            if (
                coderun is None
                or phase_of_coderun(coderun) in FINAL_PHASES
                or (coderun.get("spec") or {}).get("cancelled")
            ):
                return coderun
            version = coderun["metadata"]["resourceVersion"]
            try:
                patched: Any = await self._on_coderuns(
                    self._api().patch_namespaced_custom_object,
                    name,
                    {"metadata": {"resourceVersion": version}, "spec": {"cancelled": True}},
                )
            except ApiException as error:
                if error.status == 404:
                    return None
                if error.status != 409:
                    raise BackendUnavailable(
                        f"cannot cancel CodeRun {name}: {error.status} {error.reason}"
                    ) from error
            else:
                return dict(patched)
        raise BackendUnavailable(f"CodeRun {name} kept changing while being cancelled; retry")

    def _stream_pod_log(
        self, spec: RunSpec, on_output: OutputListener, stop: threading.Event
    ) -> None:
        """Follow the pod the operator makes for `spec` (named by its run id), in the
        background, until it ends or `stop` (the CodeRun's final status is the result)."""
        if self._core is None:
            return
        # The stream shows what the CodeRun will record, no more.
        limit = min(spec.limits.output_bytes, self._settings.coderun_output_limit_bytes)
        decoder = FrameDecoder(limit)
        decoder.on_output = on_output
        pod = manifests.pod_name(spec.run_id)
        follow = self._call(follow_sandbox_log, self._core, self._namespace, pod, decoder, stop)
        task = asyncio.ensure_future(follow)
        self._streams.add(task)
        task.add_done_callback(self._streams.discard)

    async def _on_coderuns(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call a CustomObjectsApi `method` on this backend's CodeRuns, off the event loop."""
        return await self._call(
            method, GROUP, VERSION, self._namespace, CODERUN_PLURAL, *args, **kwargs
        )

    async def _create(self, body: dict[str, Any]) -> dict[str, Any] | None:
        """The CodeRun created from `body`, or None if one of that name exists already."""
        try:
            created: Any = await self._on_coderuns(
                self._api().create_namespaced_custom_object, body
            )
        except ApiException as error:
            if error.status == 409:
                return None
            raise BackendUnavailable(
                f"cannot create the CodeRun: {error.status} {error.reason}"
            ) from error
        return dict(created)

    async def _await(self, done: asyncio.Future[dict[str, Any]], spec: RunSpec) -> dict[str, Any]:
        limit = manifests.wait_limit_seconds(
            spec,
            self._settings.kubernetes_start_timeout_s,
            self._settings.kubernetes_isolation_wait_s,
        )
        try:
            return await asyncio.wait_for(done, limit)
        except TimeoutError as error:
            raise SandboxError(
                f"the CodeRun did not finish within {limit:.0f} s; is the isobox operator running?"
            ) from error

    async def _cancel(self, name: str) -> None:
        try:
            await self._on_coderuns(
                self._api().patch_namespaced_custom_object, name, {"spec": {"cancelled": True}}
            )
        except ApiException as error:
            log.warning("cannot cancel CodeRun %s: %s", name, error.reason)

    async def close(self) -> None:
        # Runs cancelled by the shutdown may not have reached their own clean-up yet.
        await asyncio.gather(*(self._cancel(name) for name in list(self._in_flight)))
        if self._watcher is not None:
            self._watcher.stop()
        self._call.close()
