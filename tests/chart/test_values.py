"""values.schema.json rejects typos and bad values; values.yaml documents every key."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from .helm import CHART, render_error


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
    ],
)
def test_schema_rejects_unknown_keys(values: dict[str, object], where: str) -> None:
    error = render_error(values)
    assert "additional properties" in error
    assert where in error


@pytest.mark.parametrize(
    "values",
    [
        {"backend": "podman"},
        {"image": {"pullPolicy": "Sometimes"}},
        {"limits": {"maxTimeoutSeconds": 7200}},
        {"limits": {"cpus": "two"}},
        {"sandbox": {"namespace": "Not_A_Namespace"}},
        {"languages": []},
        {"languages": [{"name": "x", "file": "x", "image": "i", "run": []}]},
        {"coderun": {"outputLimitBytes": 10_000_000}},
        {"limits": {"maxCompileTimeoutSeconds": 0}},
        {"limits": {"maxCompileTimeoutSeconds": 900}},
        {"limits": {"compileMemoryMiB": 8}},
        {"limits": {"compileMemoryMiB": 100_000}},
        {"languages": [{"name": "x", "file": "x", "image": "i", "run": ["x"], "env": {"A": 1}}]},
        {"languages": [{"name": "x", "file": "x", "image": "i", "run": ["x"], "env": ["A=1"]}]},
    ],
)
def test_schema_rejects_bad_values(values: dict[str, object]) -> None:
    render_error(values)


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
