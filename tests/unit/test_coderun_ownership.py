"""The coderun backend's asynchronous runs belong to their owner: the CodeRun is labelled with
a digest of the owner, and another owner's read or cancel finds nothing and changes nothing.
Against an in-memory stand-in for the CustomObjects API (the real cluster: tests/backends/
test_run_ownership.py)."""

from __future__ import annotations

import copy
from typing import Any

from kubernetes.client.exceptions import ApiException

from isobox.backends.coderun import OWNER_LABEL, CodeRunBackend, owner_label
from isobox.languages import LanguageRegistry
from isobox.models import ExecutionRequest
from isobox.policy import build_run_spec
from isobox.settings import Settings


class FakeCustomObjects:
    """create/get/patch of namespaced custom objects, kept in a dict by name."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.patches: list[str] = []

    def create_namespaced_custom_object(self, *path: str, **_: Any) -> dict[str, Any]:
        body = path[-1]
        name = body["metadata"]["name"]
        if name in self.objects:
            raise ApiException(status=409)
        stored = copy.deepcopy(body)
        stored["metadata"]["resourceVersion"] = "1"
        self.objects[name] = stored
        return copy.deepcopy(stored)

    def get_namespaced_custom_object(self, *path: str, **_: Any) -> dict[str, Any]:
        if path[-1] not in self.objects:
            raise ApiException(status=404)
        return copy.deepcopy(self.objects[path[-1]])

    def list_namespaced_custom_object(
        self, *path: str, label_selector: str = "", **_: Any
    ) -> dict[str, Any]:
        """One page of every object (the backend counts an owner's runs in flight)."""
        wanted = dict(term.split("=", 1) for term in label_selector.split(",") if term)
        found = [
            copy.deepcopy(stored)
            for stored in self.objects.values()
            if wanted.items() <= (stored["metadata"].get("labels") or {}).items()
        ]
        return {"metadata": {"resourceVersion": "1"}, "items": found}

    def patch_namespaced_custom_object(self, *path: Any, **_: Any) -> dict[str, Any]:
        name, patch = path[-2], path[-1]
        self.patches.append(name)
        self.objects[name]["spec"].update(patch["spec"])
        self.objects[name]["status"] = {"phase": "Cancelled"}  # an operator, at once
        return copy.deepcopy(self.objects[name])


def backend() -> tuple[CodeRunBackend, FakeCustomObjects]:
    coderuns = CodeRunBackend(Settings(backend="coderun"))
    fake = FakeCustomObjects()
    coderuns._custom = fake  # instead of start()'s real client
    return coderuns, fake


def spec() -> Any:
    request = ExecutionRequest(language="bash", code="echo hi")
    return build_run_spec(request, LanguageRegistry.load(None), Settings())


async def test_a_coderun_records_a_digest_of_its_owner():
    coderuns, fake = backend()
    run = spec()
    await coderuns.submit(run, "client-a")
    labels = fake.objects[f"run-{run.run_id}"]["metadata"]["labels"]
    assert labels[OWNER_LABEL] == owner_label("client-a") != owner_label("client-b")
    assert "client-a" not in labels[OWNER_LABEL]
    assert len(labels[OWNER_LABEL]) <= 63  # a label value


async def test_another_owner_neither_reads_nor_cancels_it():
    coderuns, fake = backend()
    run = spec()
    await coderuns.submit(run, "client-a")
    assert await coderuns.read(run.run_id, "client-b") is None
    assert await coderuns.cancel(run.run_id, "client-b") is None
    assert fake.patches == []
    state = await coderuns.read(run.run_id, "client-a")
    assert state is not None
    assert state.status == "running"
    cancelled = await coderuns.cancel(run.run_id, "client-a")
    assert cancelled is not None
    assert cancelled.status == "cancelled"
