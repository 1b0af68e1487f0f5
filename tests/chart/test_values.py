"""values.schema.json rejects typos and bad values; values.yaml documents every key."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from .helm import CHART, render_error

SCHEMA_ERROR = "values don't meet the specifications of the schema"


@pytest.mark.parametrize(
    ("values", "where"),
    [
        ({"backend": "kubernetes", "replicas": 2}, "replicas"),
        ({"api": {"replica": 2}}, "replica"),
        ({"api": {"ingress": {"hosts": ["a"]}}}, "hosts"),
        ({"sandbox": {"namspace": "x"}}, "namspace"),
        ({"crd": {"instal": False}}, "instal"),
        ({"limits": {"maxTimeoutSecond": 5}}, "maxTimeoutSecond"),
        ({"languages": [{"name": "x", "file": "x", "image": "i", "run": ["x"], "cmd": []}]}, "cmd"),
        ({"api": {"allowAnonymus": True}}, "allowAnonymus"),
        ({"api": {"networkPolicy": {"ingressControler": {}}}}, "ingressControler"),
        (
            {"api": {"networkPolicy": {"monitoring": {"namespaceSelector": {"labels": {}}}}}},
            "labels",
        ),
        ({"sandbox": {"runtimeClass": {"name": "gvisor"}}}, "name"),
        ({"sandbox": {"runtimeClassname": "gvisor"}}, "runtimeClassname"),
        ({"sandbox": {"resourceQuota": {"coderuns": 10}}}, "coderuns"),
    ],
)
def test_schema_rejects_unknown_keys(values: dict[str, object], where: str) -> None:
    error = render_error(values)
    assert SCHEMA_ERROR in error, error
    assert f"additional properties '{where}' not allowed" in error, error


def _schema_error_at(values: dict[str, object], pointer: str) -> str:
    """The error of a render that the schema, not a template, refused, at `pointer`."""
    error = render_error(values)
    assert SCHEMA_ERROR in error, error
    assert f"- at '{pointer}'" in error, error
    return error


@pytest.mark.parametrize(
    ("values", "pointer"),
    [
        ({"backend": "podman"}, "/backend"),
        ({"image": {"pullPolicy": "Sometimes"}}, "/image/pullPolicy"),
        ({"limits": {"maxTimeoutSeconds": 7200}}, "/limits/maxTimeoutSeconds"),
        ({"limits": {"cpus": "two"}}, "/limits/cpus"),
        ({"sandbox": {"namespace": "Not_A_Namespace"}}, "/sandbox/namespace"),
        ({"languages": []}, "/languages"),
        ({"languages": [{"name": "x", "file": "x", "image": "i", "run": []}]}, "/languages/0/run"),
        ({"coderun": {"outputLimitBytes": 10_000_000}}, "/coderun/outputLimitBytes"),
        ({"limits": {"maxCompileTimeoutSeconds": 0}}, "/limits/maxCompileTimeoutSeconds"),
        ({"limits": {"maxCompileTimeoutSeconds": 900}}, "/limits/maxCompileTimeoutSeconds"),
        ({"limits": {"compileMemoryMiB": 8}}, "/limits/compileMemoryMiB"),
        ({"limits": {"compileMemoryMiB": 100_000}}, "/limits/compileMemoryMiB"),
        (
            {
                "languages": [
                    {"name": "x", "file": "x", "image": "i", "run": ["x"], "env": {"A": 1}}
                ]
            },
            "/languages/0/env/A",
        ),
        (
            {"languages": [{"name": "x", "file": "x", "image": "i", "run": ["x"], "env": ["A=1"]}]},
            "/languages/0/env",
        ),
        ({"api": {"allowAnonymous": "yes"}}, "/api/allowAnonymous"),
        ({"api": {"networkPolicy": {"enabled": "true"}}}, "/api/networkPolicy/enabled"),
        (
            {"api": {"networkPolicy": {"monitoring": {"namespaceSelector": {"matchLabels": []}}}}},
            "/api/networkPolicy/monitoring/namespaceSelector/matchLabels",
        ),
        (
            {
                "api": {
                    "networkPolicy": {
                        "ingressController": {
                            "podSelector": {"matchExpressions": [{"key": "a", "operator": "Is"}]}
                        }
                    }
                }
            },
            "/api/networkPolicy/ingressController/podSelector/matchExpressions/0/operator",
        ),
        ({"sandbox": {"runtimeClassName": "Not_A_Name"}}, "/sandbox/runtimeClassName"),
        ({"sandbox": {"runtimeClass": {"handler": "run.sc"}}}, "/sandbox/runtimeClass/handler"),
        ({"sandbox": {"runtimeClass": {"create": "yes"}}}, "/sandbox/runtimeClass/create"),
        ({"sandbox": {"resourceQuota": {"codeRuns": 0}}}, "/sandbox/resourceQuota/codeRuns"),
    ],
)
def test_schema_rejects_bad_values(values: dict[str, object], pointer: str) -> None:
    _schema_error_at(values, pointer)


def test_every_value_is_commented() -> None:
    """Each value has a comment right above it (or above the section it is part of)."""
    schema = json.loads((CHART / "values.schema.json").read_text())
    lines = (CHART / "values.yaml").read_text().splitlines()
    stack: list[tuple[int, dict[str, object] | None]] = [(-1, schema)]
    checked = 0
    for number, line in enumerate(lines):
        key = re.match(r"^(\s*)([A-Za-z][\w.-]*):", line)
        if key is None:
            continue
        indent = len(key.group(1))
        while stack[-1][0] >= indent:
            stack.pop()
        parent = stack[-1][1]
        properties = parent.get("properties") if parent else None
        if not isinstance(properties, dict):
            stack.append((indent, None))  # inside a free-form default (resources, probes...)
            continue
        node = properties.get(key.group(2))
        assert isinstance(node, dict), f"values.yaml:{number + 1}: {key.group(2)} not in schema"
        commented = lines[number - 1].strip().startswith("#")
        following = lines[number + 1].strip() if number + 1 < len(lines) else ""
        # A commented section whose keys carry no comments of their own (resources) is
        # documented as a whole; the keys of other sections are checked one by one.
        whole = commented and "properties" in node and not following.startswith("#")
        stack.append((indent, None if whole else node))
        if "properties" in node:
            continue
        assert commented, f"values.yaml:{number + 1}: {key.group(2)} has no comment"
        checked += 1
    assert checked > 80


def test_schema_is_closed_everywhere() -> None:
    """Every object with declared properties forbids others, so a typo anywhere fails."""
    schema = json.loads((CHART / "values.schema.json").read_text())

    def walk(node: object, path: str) -> None:
        if isinstance(node, dict):
            if "properties" in node:
                assert node.get("additionalProperties") is False, path
            for key, child in node.items():
                walk(child, f"{path}/{key}")
        elif isinstance(node, list):
            for index, child in enumerate(node):
                walk(child, f"{path}[{index}]")

    walk(schema, "")


def test_schema_and_values_agree() -> None:
    """Every key in values.yaml is in the schema (and the defaults render: see other tests)."""
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())

    def walk(value: object, node: dict[str, object], path: str) -> None:
        if isinstance(value, dict) and "properties" in node:
            properties = node["properties"]
            assert isinstance(properties, dict)
            for key, child in value.items():
                assert key in properties, f"{path}.{key} is not in values.schema.json"
                walk(child, properties[key], f"{path}.{key}")

    walk(values, schema, "")
