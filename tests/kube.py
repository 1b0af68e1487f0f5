"""Helpers for tests on the cluster that KUBECONFIG names (any cluster: this repo's or kind)."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from isobox.kubernetes import manifests
from isobox.sandbox import POOL_LABEL
from tests.helpers.environment import clean_environment
from tests.helpers.processes import stop_process
from tests.helpers.wait import wait_until

__all__ = ["wait_until"]  # kube.wait_until: the one wait helper, for cluster tests


def api_client() -> client.ApiClient:
    configuration = client.Configuration()
    config.load_kube_config(client_configuration=configuration)
    return client.ApiClient(configuration)


def create_sandbox_namespace(api: client.ApiClient, name: str) -> None:
    core = client.CoreV1Api(api)
    delete_namespace(api, name)
    wait_until(lambda: _namespace_gone(core, name), 120, f"old namespace {name} to go")
    core.create_namespace(manifests.sandbox_namespace(name))
    client.NetworkingV1Api(api).create_namespaced_network_policy(
        name, manifests.deny_all_network_policy(name)
    )
    # The controller-manager creates the default ServiceAccount; pods wait for it.
    wait_until(lambda: _has_default_account(core, name), 60, "the default ServiceAccount")


def delete_namespace(api: client.ApiClient, name: str) -> None:
    """Delete `name`, first releasing CodeRuns whose finalizers no operator will remove."""
    custom = client.CustomObjectsApi(api)
    with contextlib.suppress(ApiException):
        listed = custom.list_namespaced_custom_object(
            manifests.GROUP, manifests.VERSION, name, manifests.CODERUN_PLURAL
        )
        for item in listed["items"]:
            if item["metadata"].get("finalizers"):
                custom.patch_namespaced_custom_object(
                    manifests.GROUP,
                    manifests.VERSION,
                    name,
                    manifests.CODERUN_PLURAL,
                    item["metadata"]["name"],
                    {"metadata": {"finalizers": None}},
                )
    with contextlib.suppress(ApiException):
        client.CoreV1Api(api).delete_namespace(name)


def _namespace_gone(core: client.CoreV1Api, name: str) -> bool:
    try:
        core.read_namespace(name)
    except ApiException as error:
        return error.status == 404
    return False


def _has_default_account(core: client.CoreV1Api, name: str) -> bool:
    try:
        core.read_namespaced_service_account("default", name)
    except ApiException:
        return False
    return True


def apply_coderun_crd(api: client.ApiClient) -> None:
    extensions = client.ApiextensionsV1Api(api)
    crd = manifests.coderun_crd()
    try:
        existing = extensions.read_custom_resource_definition(crd["metadata"]["name"])
        crd["metadata"]["resourceVersion"] = existing.metadata.resource_version
        extensions.replace_custom_resource_definition(crd["metadata"]["name"], crd)
    except ApiException as error:
        if error.status != 404:
            raise
        extensions.create_custom_resource_definition(crd)
    wait_until(lambda: _crd_established(extensions, crd["metadata"]["name"]), 60, "the CRD")


def _crd_established(extensions: client.ApiextensionsV1Api, name: str) -> bool:
    conditions = extensions.read_custom_resource_definition(name).status.conditions or []
    return any(c.type == "Established" and c.status == "True" for c in conditions)


@contextlib.contextmanager
def coderun_namespace(api: client.ApiClient, name: str) -> Iterator[str]:
    """A sandbox namespace with the CodeRun CRD in place, deleted afterwards."""
    create_sandbox_namespace(api, name)
    apply_coderun_crd(api)
    try:
        yield name
    finally:
        delete_namespace(api, name)


@contextlib.contextmanager
def operator_process(
    namespace: str, log_path: Path, **env: str
) -> Iterator[subprocess.Popen[bytes]]:
    """`isobox operator` as a real process watching `namespace`, without a warm pool unless
    `env` sets ISOBOX_POOL_SIZE."""
    environment = clean_environment(
        ISOBOX_KUBERNETES_NAMESPACE=namespace, **{"ISOBOX_POOL_SIZE": "", **env}
    )
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "isobox", "operator"], env=environment, stdout=log, stderr=log
        )
    try:
        yield process
    finally:
        stop_process(process)


def kubectl(*args: str) -> str:
    return subprocess.run(["kubectl", *args], check=True, capture_output=True, text=True).stdout


def dump(obj: object) -> str:
    return yaml.safe_dump(obj)


def warm_pods(namespace: str, language: str = "python", *, ready: bool = True) -> list[str]:
    """The unclaimed warm pods of `language` in `namespace` (with `ready`, only those whose
    launcher said it passed its isolation check and waits for a bundle)."""
    core = client.CoreV1Api(api_client())
    selector = f"{POOL_LABEL}={language},!{manifests.CODERUN_LABEL}"
    found = []
    for pod in core.list_namespaced_pod(namespace, label_selector=selector).items:
        if pod.metadata.deletion_timestamp is not None or pod.status.phase != "Running":
            continue
        if ready:
            try:
                log = core.read_namespaced_pod_log(pod.metadata.name, namespace, limit_bytes=4096)
            except ApiException:  # gone, or not started, since the list
                continue
            if "w ready" not in log:
                continue
        found.append(pod.metadata.name)
    return found
