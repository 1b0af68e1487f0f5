"""CodeRuns are bounded: the CRD caps every string and list at isobox's own request caps (its
backstop), the chart keeps the caps within those bounds, and the sandbox ResourceQuota caps how
many CodeRuns the audit window may hold."""

from __future__ import annotations

from typing import Any

import annotated_types
import pytest

from isobox.kubernetes.coderun import spec_from_run
from isobox.kubernetes.manifests import coderun_crd
from isobox.languages import LanguageRegistry
from isobox.models import ExecutionRequest, SourceFile
from isobox.policy import build_run_spec
from isobox.settings import Settings

from .helm import Obj, render, render_error

KIB = 1024


def _schema() -> Obj:
    (version,) = coderun_crd()["spec"]["versions"]
    schema = version["schema"]["openAPIV3Schema"]["properties"]
    assert isinstance(schema, dict)
    return schema


def _default(field: str) -> int:
    value = Settings.model_fields[field].default
    assert isinstance(value, int)
    return value


def _upper_bound(field: str) -> int:
    (le,) = [
        m.le for m in Settings.model_fields[field].metadata if isinstance(m, annotated_types.Le)
    ]
    assert isinstance(le, int)
    return le


def test_the_spec_is_bounded_by_the_api_default_caps() -> None:
    spec = _schema()["spec"]["properties"]
    assert spec["code"]["maxLength"] == _default("max_code_bytes") == 256 * KIB
    assert spec["stdin"]["maxLength"] == _default("max_stdin_bytes") == 256 * KIB
    assert spec["args"]["maxItems"] == _default("max_args") == 64
    assert spec["args"]["items"]["maxLength"] == _default("max_arg_bytes")
    assert spec["files"]["maxItems"] == _default("max_files") == 32
    entry = spec["files"]["items"]["properties"]
    assert entry["content"]["maxLength"] == _default("max_files_bytes") == 512 * KIB
    assert entry["name"]["maxLength"] == 255  # policy.MAX_PATH_BYTES


def test_status_output_fits_the_largest_output_the_operator_keeps() -> None:
    """The operator keeps min(output_limit_bytes, coderun_output_limit_bytes) per stream; the
    CRD admits the largest value the setting allows, for the run and the compile stage."""
    status = _schema()["status"]["properties"]
    largest = _upper_bound("coderun_output_limit_bytes")
    assert largest >= _default("coderun_output_limit_bytes")
    for stage in (status, status["compile"]["properties"]):
        for stream in ("stdout", "stderr"):
            assert stage[stream]["maxLength"] >= largest, stream


def test_every_string_and_list_of_a_coderun_is_bounded() -> None:
    unbounded: list[str] = []

    def walk(node: Obj, path: str) -> None:
        if node.get("type") == "string" and "maxLength" not in node and "enum" not in node:
            unbounded.append(path)
        if node.get("type") == "array":
            if "maxItems" not in node:
                unbounded.append(path)
            walk(node["items"], f"{path}[]")
        for key, child in (node.get("properties") or {}).items():
            walk(child, f"{path}.{key}")

    for key, node in _schema().items():
        walk(node, key)
    assert unbounded == []


def _violations(schema: Obj, value: Any, path: str = "") -> list[str]:
    """Where `value` breaks the schema's maxLength, maxItems or required (enough for this CRD)."""
    found: list[str] = []
    if isinstance(value, str) and len(value) > schema.get("maxLength", len(value)):
        found.append(f"{path}: {len(value)} characters > {schema['maxLength']}")
    if isinstance(value, list):
        if len(value) > schema.get("maxItems", len(value)):
            found.append(f"{path}: {len(value)} items > {schema['maxItems']}")
        for index, item in enumerate(value):
            found += _violations(schema["items"], item, f"{path}[{index}]")
    if isinstance(value, dict):
        found += [
            f"{path}.{key}: required" for key in schema.get("required", []) if key not in value
        ]
        for key, item in value.items():
            found += _violations(schema["properties"][key], item, f"{path}.{key}")
    return found


def test_the_largest_request_the_api_accepts_is_a_valid_coderun() -> None:
    settings = Settings()
    registry = LanguageRegistry.load()
    per_file = settings.max_files_bytes // settings.max_files
    request = ExecutionRequest(
        language="python",
        code="x" * settings.max_code_bytes,
        stdin="é" * (settings.max_stdin_bytes // 2),  # 2 bytes, 1 character each
        args=["a" * settings.max_arg_bytes] * settings.max_args,
        files=[
            SourceFile(name=f"f{i}.txt", content="y" * per_file) for i in range(settings.max_files)
        ],
    )
    spec = spec_from_run(build_run_spec(request, registry, settings))
    assert _violations(_schema()["spec"], spec) == []
    assert _violations(_schema()["spec"], {**spec, "code": spec["code"] + "x"}) != []


CAPS = ["maxCodeBytes", "maxStdinBytes", "maxFiles", "maxFilesBytes", "maxArgs", "maxArgBytes"]


@pytest.mark.parametrize("key", CAPS)
def test_the_chart_refuses_caps_above_the_crd_bounds_with_backend_coderun(key: str) -> None:
    above = {
        "maxCodeBytes": 256 * KIB + 1,
        "maxStdinBytes": 256 * KIB + 1,
        "maxFiles": 33,
        "maxFilesBytes": 512 * KIB + 1,
        "maxArgs": 65,
        "maxArgBytes": 4 * KIB + 1,
    }[key]
    error = render_error({"backend": "coderun", "limits": {key: above}})
    assert f"limits.{key}={above} is above" in error
    assert "CodeRun CRD" in error
    render({"backend": "kubernetes", "limits": {key: above}})  # no CodeRuns there


def test_the_chart_accepts_caps_at_the_crd_bounds() -> None:
    spec = _schema()["spec"]["properties"]
    at = {
        "maxCodeBytes": spec["code"]["maxLength"],
        "maxStdinBytes": spec["stdin"]["maxLength"],
        "maxFiles": spec["files"]["maxItems"],
        "maxFilesBytes": spec["files"]["items"]["properties"]["content"]["maxLength"],
        "maxArgs": spec["args"]["maxItems"],
        "maxArgBytes": spec["args"]["items"]["maxLength"],
    }
    assert set(at) == set(CAPS)
    render({"backend": "coderun", "limits": at})


def test_the_sandbox_quota_caps_the_number_of_coderuns() -> None:
    hard = render().get("ResourceQuota")["spec"]["hard"]
    assert hard["count/coderuns.isobox.dev"] == "5000"
    quota = {"resourceQuota": {"codeRuns": 20000}}
    hard = render({"sandbox": quota}).get("ResourceQuota")["spec"]["hard"]
    assert hard["count/coderuns.isobox.dev"] == "20000"
    kubernetes = render({"backend": "kubernetes"}).get("ResourceQuota")["spec"]["hard"]
    assert "count/coderuns.isobox.dev" not in kubernetes  # no CodeRuns with that backend
