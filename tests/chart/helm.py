"""Render the isobox chart with `helm template` and index the objects it produces.

Helm comes from ISOBOX_HELM, HELM or PATH; without it the chart tests fail (they do not skip).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART = REPO_ROOT / "charts" / "isobox"
RELEASE = "demo"
NAMESPACE = "isobox"

Obj = dict[str, Any]


def helm_binary() -> str:
    helm = os.environ.get("ISOBOX_HELM") or os.environ.get("HELM") or shutil.which("helm")
    if not helm:
        pytest.fail("helm not found: set ISOBOX_HELM or HELM, or put helm on PATH")
    return helm


def run_helm(*args: str, values: Obj | None = None) -> subprocess.CompletedProcess[str]:
    """Run helm with `values` (if any) passed as a values file."""
    with tempfile.NamedTemporaryFile("w", suffix=".json") as values_file:
        json.dump(values or {}, values_file)
        values_file.flush()
        return subprocess.run(
            [helm_binary(), *args, "--values", values_file.name],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


@dataclass(frozen=True)
class Rendered:
    """The objects of one `helm template`, hooks (the `helm test` Pod) included."""

    objects: list[Obj]

    def kinds(self) -> list[str]:
        return sorted(obj["kind"] for obj in self.objects)

    def all(self, kind: str) -> list[Obj]:
        return [obj for obj in self.objects if obj["kind"] == kind]

    def find(self, kind: str, name_suffix: str = "") -> Obj | None:
        found = [obj for obj in self.all(kind) if obj["metadata"]["name"].endswith(name_suffix)]
        assert len(found) <= 1, f"more than one {kind} named *{name_suffix}"
        return found[0] if found else None

    def get(self, kind: str, name_suffix: str = "") -> Obj:
        found = self.find(kind, name_suffix)
        assert found is not None, f"no {kind} named *{name_suffix}; have {self.kinds()}"
        return found

    def pod_specs(self) -> dict[str, Obj]:
        """Every Pod spec the chart can start: Deployments' templates and bare Pods."""
        specs = {f"Pod/{pod['metadata']['name']}": pod["spec"] for pod in self.all("Pod")}
        for deployment in self.all("Deployment"):
            name = f"Deployment/{deployment['metadata']['name']}"
            specs[name] = deployment["spec"]["template"]["spec"]
        return specs


def render(values: Obj | None = None) -> Rendered:
    """`helm template` of the chart with `values`; fails the test if helm does."""
    result = run_helm("template", RELEASE, str(CHART), "--namespace", NAMESPACE, values=values)
    assert result.returncode == 0, result.stderr
    return Rendered([obj for obj in yaml.safe_load_all(result.stdout) if obj])


def render_error(values: Obj) -> str:
    """The error of a `helm template` that must fail."""
    result = run_helm("template", RELEASE, str(CHART), "--namespace", NAMESPACE, values=values)
    assert result.returncode != 0, "helm template succeeded but should have failed"
    return result.stderr


def env_of(container: Obj) -> dict[str, str]:
    return {item["name"]: item.get("value", "") for item in container.get("env", [])}


NOTES_PROBE = """\
{{- /* Written by tests/chart/helm.py into a copy of the chart: NOTES.txt as data. */ -}}
apiVersion: v1
kind: ConfigMap
metadata:
  name: notes-probe
data:
  notes: {{ include (print $.Template.BasePath "/NOTES.txt") . | toJson }}
"""


def notes(values: Obj | None = None) -> str:
    """NOTES.txt as `helm install` prints it for `values`.

    `helm install --dry-run` needs a cluster, so a copy of the chart gets one more template
    that renders NOTES.txt into a ConfigMap, and `helm template` shows that alone.
    """
    with tempfile.TemporaryDirectory() as directory:
        chart = Path(directory) / CHART.name
        shutil.copytree(CHART, chart)
        (chart / "templates" / "zz-notes-probe.yaml").write_text(NOTES_PROBE)
        result = run_helm(
            "template",
            RELEASE,
            str(chart),
            "--namespace",
            NAMESPACE,
            "--show-only",
            "templates/zz-notes-probe.yaml",
            values=values,
        )
    assert result.returncode == 0, result.stderr
    text = yaml.safe_load(result.stdout)["data"]["notes"]
    assert isinstance(text, str)
    return text
