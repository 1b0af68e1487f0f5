"""Kubernetes API access for the backends and the operator: config loading and a call pool.

The official client is blocking, so calls run on a small, bounded thread pool: short calls
only (create, read, delete, log reads). Waiting for pods is done by one shared watch stream per
resource (see `watcher`), never by a thread per run.
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from threading import Event
from typing import Any, TypeVar

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from isobox.kubernetes.manifests import CONTAINER_NAME
from isobox.launcher import FrameDecoder

T = TypeVar("T")
CALL_THREADS = 16
LOG_CHUNK = 65536
FOLLOW_RETRY_S = 0.2


def load_api_client(pool_size: int = 64) -> client.ApiClient:
    """In-cluster credentials when running in a pod, else the kubeconfig (`KUBECONFIG`)."""
    configuration = client.Configuration()
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    else:
        config.load_kube_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    configuration.connection_pool_maxsize = pool_size
    return client.ApiClient(configuration)


class ApiCaller:
    """Runs blocking client calls off the event loop, at most CALL_THREADS at once."""

    def __init__(self, threads: int = CALL_THREADS) -> None:
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="isobox-k8s")

    async def __call__(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(function, *args, **kwargs))

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def read_sandbox_log(
    core: client.CoreV1Api, namespace: str, pod: str, decoder: FrameDecoder, cap: int
) -> None:
    """Feed the sandbox container's log to `decoder`, reading at most `cap` bytes (the
    launcher's own frames of a run never need more: `launcher.spec_log_read_cap`)."""
    response: Any = core.read_namespaced_pod_log(
        pod, namespace, container=CONTAINER_NAME, _preload_content=False
    )
    try:
        read = 0
        for chunk in response.stream(LOG_CHUNK):
            decoder.feed(chunk)
            read += len(chunk)
            if read > cap:
                break
    finally:
        response.release_conn()


def follow_sandbox_log(
    core: client.CoreV1Api, namespace: str, pod: str, decoder: FrameDecoder, stop: Event
) -> None:
    """Feed the sandbox container's log to `decoder` as it grows, from the container's start
    to its end (streaming); before the start the kubelet answers 400, so it asks again every
    FOLLOW_RETRY_S until then or until `stop` is set. The decoder caps what it keeps."""
    while True:
        # Once `stop` says the pod has ended, one last read without following: a pod that
        # ran and ended between two tries has all its log there still.
        ended = stop.is_set()
        try:
            response: Any = core.read_namespaced_pod_log(
                pod, namespace, container=CONTAINER_NAME, follow=not ended, _preload_content=False
            )
        except ApiException as error:
            if error.status not in {400, 404} or ended:  # 404: the operator has not made it yet
                return
            stop.wait(FOLLOW_RETRY_S)
            continue
        try:
            for chunk in response.stream(LOG_CHUNK):
                decoder.feed(chunk)
        finally:
            response.release_conn()
        return
