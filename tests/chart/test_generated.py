"""Generated files are up to date: the CRD template (`make chart-crd`) and manifests/ (`make manifests`)."""

from __future__ import annotations

import difflib
import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from isobox.kubernetes.manifests import coderun_crd

from .helm import REPO_ROOT, render


def _render_module() -> ModuleType:
    path = REPO_ROOT / "hack" / "chart" / "render.py"
    spec = importlib.util.spec_from_file_location("isobox_chart_render", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


RENDER = _render_module()


def _assert_fresh(path: Path, expected: str, target: str) -> None:
    current = path.read_text() if path.exists() else ""
    if current != expected:
        diff = "".join(
            difflib.unified_diff(
                current.splitlines(keepends=True),
                expected.splitlines(keepends=True),
                str(path.relative_to(REPO_ROOT)),
                "expected",
                n=1,
            )
        )
        pytest.fail(f"{path.relative_to(REPO_ROOT)} is stale: run `make {target}`\n{diff[:4000]}")


def test_crd_template_is_isobox_crd() -> None:
    for path, text in RENDER.expected_files("crd").items():
        _assert_fresh(path, text, "chart-crd")


def test_rendered_crd_equals_the_code_and_is_kept() -> None:
    crd = render().get("CustomResourceDefinition")
    assert crd["spec"] == coderun_crd()["spec"]
    assert crd["metadata"]["name"] == "coderuns.isobox.dev"
    assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


def test_crd_is_gated_by_crd_install_and_keep() -> None:
    assert render({"crd": {"install": False}}).find("CustomResourceDefinition") is None
    unkept = render({"crd": {"keep": False}}).get("CustomResourceDefinition")
    assert "helm.sh/resource-policy" not in (unkept["metadata"].get("annotations") or {})


@pytest.mark.parametrize("flavour", ["coderun", "kubernetes"])
def test_manifests_are_rendered_from_the_chart(flavour: str) -> None:
    path = RENDER.MANIFESTS / f"isobox-{flavour}.yaml"
    _assert_fresh(path, RENDER.manifest(flavour), "manifests")
    objects = [obj for obj in yaml.safe_load_all(path.read_text()) if obj]
    kinds = {obj["kind"] for obj in objects}
    assert "Pod" not in kinds  # the helm test hook is left out
    assert ("CustomResourceDefinition" in kinds) == (flavour == "coderun")
    for obj in objects:
        if obj["kind"] in {"Deployment", "Service", "ConfigMap", "ServiceAccount"}:
            assert obj["metadata"]["namespace"] == "isobox"
