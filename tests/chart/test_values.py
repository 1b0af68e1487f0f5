"""values.schema.json rejects typos and bad values; values.yaml documents every key."""

from __future__ import annotations

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
    ],
)
def test_schema_rejects_bad_values(values: dict[str, object]) -> None:
    render_error(values)


def test_every_value_is_commented() -> None:
    """Each key in values.yaml has a comment line right above it (or is under a commented list)."""
    lines = (CHART / "values.yaml").read_text().splitlines()
    in_block_of_list = False
    for number, line in enumerate(lines):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key = re.match(r"^(\s*)([A-Za-z][\w.-]*):", line)
        if line.lstrip().startswith("- "):
            in_block_of_list = True
            continue
        if key is None:
            continue
        indent = len(key.group(1))
        if indent == 0:
            in_block_of_list = False
        if in_block_of_list:
            continue
        previous = lines[number - 1].strip() if number else ""
        value = line.split(":", 1)[1].strip()
        is_section = value == ""
        assert previous.startswith("#") or (is_section and _section_has_comments(lines, number)), (
            f"values.yaml:{number + 1}: {key.group(2)} has no comment"
        )


def _section_has_comments(lines: list[str], number: int) -> bool:
    """A section header (`key:` with nested keys) is described by its children's comments."""
    following = lines[number + 1] if number + 1 < len(lines) else ""
    return following.strip().startswith("#") or following.strip().startswith("-")


def test_schema_is_closed_everywhere() -> None:
    """Every object with declared properties forbids others, so a typo anywhere fails."""
    import json

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
    import json

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
