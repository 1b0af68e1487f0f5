"""limits.* reach the isobox settings they name, and the sandbox namespace admits every run.

The settings are read back from the API container's environment as isobox reads them, and
the sandbox Pods are built by isobox's own manifests, so the chart's LimitRange and
ResourceQuota are checked against the Pods the service really creates.
"""

from __future__ import annotations

import json
import os
import re
from fractions import Fraction

import pytest
import yaml

from isobox.kubernetes import manifests
from isobox.languages import LanguageRegistry
from isobox.models import ExecutionRequest
from isobox.policy import build_run_spec
from isobox.settings import Settings

from .helm import CHART, Obj, Rendered, env_of, render

SANDBOX = "isobox-sandbox"

# Every limits.* value, the isobox setting it maps to, and a non-default value to render.
LIMIT_SETTINGS: dict[str, tuple[str, float]] = {
    "defaultTimeoutSeconds": ("default_timeout_s", 5),
    "maxTimeoutSeconds": ("max_timeout_s", 30),
    "compileTimeoutSeconds": ("compile_timeout_s", 20),
    "maxCompileTimeoutSeconds": ("max_compile_timeout_s", 90),
    "defaultMemoryMiB": ("default_memory_mib", 128),
    "maxMemoryMiB": ("max_memory_mib", 1024),
    "compileMemoryMiB": ("compile_memory_mib", 768),
    "cpus": ("cpus", 0.5),
    "pidsLimit": ("pids_limit", 128),
    "outputLimitBytes": ("output_limit_bytes", 2_097_152),
    "scratchMiB": ("scratch_mib", 32),
    "maxCodeBytes": ("max_code_bytes", 131_072),
    "maxFiles": ("max_files", 8),
    "maxFilesBytes": ("max_files_bytes", 262_144),  # at most the CodeRun CRD's 512 KiB
    "maxStdinBytes": ("max_stdin_bytes", 65_536),
    "maxArgs": ("max_args", 16),
    "maxArgBytes": ("max_arg_bytes", 1024),
    "maxBodyBytes": ("max_body_bytes", 4_194_304),
    "maxConcurrentRuns": ("max_concurrent_runs", 8),
    "maxQueuedRuns": ("max_queued_runs", 16),
    "rateLimitPerMinute": ("rate_limit_per_minute", 60),
    "maxInFlightPerClient": ("max_in_flight_per_client", 4),
}

_SUFFIXES = {
    "m": Fraction(1, 1000),
    "": Fraction(1),
    "k": Fraction(10**3),
    "M": Fraction(10**6),
    "G": Fraction(10**9),
    "T": Fraction(10**12),
    "Ki": Fraction(2**10),
    "Mi": Fraction(2**20),
    "Gi": Fraction(2**30),
    "Ti": Fraction(2**40),
}


def _quantity(text: str | float) -> Fraction:
    """A Kubernetes quantity ("4Gi", "500m", "2") as an exact number."""
    match = re.fullmatch(r"([0-9.]+)([a-zA-Z]*)", str(text))
    assert match is not None, text
    assert match.group(2) in _SUFFIXES, text
    return Fraction(match.group(1)) * _SUFFIXES[match.group(2)]


def _settings(rendered: Rendered, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The Settings isobox builds from the API container's environment."""
    api = rendered.get("Deployment", "-api")["spec"]["template"]["spec"]["containers"][0]
    for name in [name for name in os.environ if name.startswith("ISOBOX_")]:
        monkeypatch.delenv(name)
    for name, value in env_of(api).items():
        monkeypatch.setenv(name, value)
    return Settings()


def _registry(rendered: Rendered) -> LanguageRegistry:
    return LanguageRegistry.parse(rendered.get("ConfigMap", "-languages")["data"]["languages.yaml"])


def test_every_limit_reaches_its_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    assert set(LIMIT_SETTINGS) == set(schema["properties"]["limits"]["properties"])
    values = {key: value for key, (_, value) in LIMIT_SETTINGS.items()}
    settings = _settings(render({"limits": values}), monkeypatch)
    for key, (setting, value) in LIMIT_SETTINGS.items():
        assert getattr(settings, setting) == value, key


def test_default_limits_are_the_settings_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())["limits"]
    settings = _settings(render(), monkeypatch)
    for key, (setting, _) in LIMIT_SETTINGS.items():
        assert defaults[key] == Settings.model_fields[setting].default, key
        assert getattr(settings, setting) == defaults[key], key


def _container_resources(pod: Obj) -> list[Obj]:
    spec = pod["spec"]
    return [c["resources"] for c in [*spec.get("initContainers", []), *spec["containers"]]]


@pytest.mark.parametrize(
    "limits", [{}, {"maxMemoryMiB": 4096, "compileMemoryMiB": 1024, "defaultMemoryMiB": 512}]
)
def test_limit_range_admits_the_largest_sandbox_of_every_language(
    limits: Obj, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A compiled run's sandbox gets max(memory, compile memory): both asked at the maximum."""
    rendered = render({"limits": limits})
    settings = _settings(rendered, monkeypatch)
    (bounds,) = rendered.get("LimitRange")["spec"]["limits"]
    registry = _registry(rendered)
    for language in registry:
        request = ExecutionRequest(
            language=language.name,
            code="x",
            memory=settings.max_memory_mib,
            compile_memory=settings.max_memory_mib,
            timeout=settings.max_timeout_s,
            compile_timeout=settings.max_compile_timeout_s,
        )
        pod = manifests.sandbox_pod(build_run_spec(request, registry, settings), SANDBOX)
        for resources in _container_resources(pod):
            assert set(resources["limits"]) <= set(bounds["max"])
            for resource, value in resources["limits"].items():
                maximum = bounds["max"][resource]
                assert _quantity(value) <= _quantity(maximum), (language.name, resource)


def test_quota_admits_as_many_default_sandboxes_as_it_allows_pods(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With the defaults, `resourceQuota.pods` runs of any language (compiled ones get the
    larger compile memory) fit in the quota's CPU, memory and storage sums."""
    rendered = render()
    settings = _settings(rendered, monkeypatch)
    hard = rendered.get("ResourceQuota")["spec"]["hard"]
    pods = int(hard["pods"])
    registry = _registry(rendered)
    for language in registry:
        request = ExecutionRequest(language=language.name, code="x")
        pod = manifests.sandbox_pod(build_run_spec(request, registry, settings), SANDBOX)
        for scope in ("requests", "limits"):
            for resource, quota in hard.items():
                if not resource.startswith(f"{scope}."):
                    continue
                name = resource.removeprefix(f"{scope}.")
                used = sum(_quantity(r[scope].get(name, 0)) for r in _container_resources(pod))
                assert pods * used <= _quantity(quota), (language.name, resource)
