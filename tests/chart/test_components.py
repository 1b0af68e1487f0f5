"""Which objects exist for which values, and that they match what isobox itself builds."""

from __future__ import annotations

from importlib import resources

import pytest
import yaml

from isobox.kubernetes import manifests
from isobox.languages import Language, LanguageRegistry
from isobox.settings import Settings

from .helm import CHART, env_of, render, render_error

SANDBOX = "isobox-sandbox"


def test_operator_runs_only_with_the_coderun_backend() -> None:
    rendered = render({"backend": "coderun"})
    operator = rendered.get("Deployment", "-operator")
    assert operator["spec"]["replicas"] == 1
    assert operator["spec"]["strategy"] == {"type": "Recreate"}
    container = operator["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["isobox", "operator"]
    env = {item["name"]: item.get("value") for item in container["env"]}
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert int(env["ISOBOX_OPERATOR_HEALTH_PORT"]) == ports["health"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    for backend in ("kubernetes", "docker", "local"):
        other = render({"backend": backend})
        assert other.find("Deployment", "-operator") is None, backend
        assert other.find("ServiceAccount", "-operator") is None, backend
        assert other.find("CustomResourceDefinition") is None, backend


def test_api_serves_with_the_configured_backend_namespace_and_limits() -> None:
    rendered = render(
        {
            "backend": "kubernetes",
            "api": {"replicas": 3},
            "limits": {"maxTimeoutSeconds": 30, "maxMemoryMiB": 1024, "cpus": 0.5},
            "sandbox": {"namespace": "runs"},
        }
    )
    api = rendered.get("Deployment", "-api")
    assert api["spec"]["replicas"] == 3
    container = api["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["isobox", "serve"]
    env = env_of(container)
    assert env["ISOBOX_BACKEND"] == "kubernetes"
    assert env["ISOBOX_KUBERNETES_NAMESPACE"] == "runs"
    assert env["ISOBOX_MAX_TIMEOUT_S"] == "30"
    assert env["ISOBOX_MAX_MEMORY_MIB"] == "1024"
    assert env["ISOBOX_CPUS"] == "0.5"
    assert env["ISOBOX_OUTPUT_LIMIT_BYTES"] == "1048576"  # never "1.048576e+06"
    assert env["ISOBOX_HOST"] == "0.0.0.0"
    assert env["PORT"] == "8000"
    assert env["ISOBOX_LANGUAGES_FILE"] == "/etc/isobox/languages.yaml"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert rendered.get("Role", "-api")["metadata"]["namespace"] == "runs"


def test_every_env_var_names_a_setting() -> None:
    known = {f"ISOBOX_{name.upper()}" for name in Settings.model_fields} | {"PORT", "LOG_LEVEL"}
    for name, pod in render({"backend": "coderun"}).pod_specs().items():
        if name.startswith("Pod/"):
            continue  # the helm test Pod's own variables
        for variable in env_of(pod["containers"][0]):
            assert variable in known, f"{name}: {variable} is not an isobox setting"


@pytest.mark.xfail(
    "kubernetes_runtime_class" not in Settings.model_fields,
    reason="needs Settings.kubernetes_runtime_class (ISOBOX_KUBERNETES_RUNTIME_CLASS)",
    strict=True,
)
def test_the_runtime_class_reaches_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """isobox reads sandbox.runtimeClassName back from the API's and the operator's environment."""
    rendered = render({"backend": "coderun", "sandbox": {"runtimeClassName": "gvisor"}})
    for name, pod in rendered.pod_specs().items():
        if name.startswith("Pod/"):
            continue  # the helm test Pod's own variables
        value = env_of(pod["containers"][0])["ISOBOX_KUBERNETES_RUNTIME_CLASS"]
        monkeypatch.setenv("ISOBOX_KUBERNETES_RUNTIME_CLASS", value)
        assert getattr(Settings(), "kubernetes_runtime_class", None) == "gvisor", name


def test_sandbox_namespace_enforces_restricted_and_is_kept() -> None:
    namespace = render().get("Namespace")
    expected = manifests.sandbox_namespace(SANDBOX)
    assert namespace["metadata"]["name"] == SANDBOX
    for label, value in expected["metadata"]["labels"].items():
        assert namespace["metadata"]["labels"][label] == value
    assert namespace["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert render({"sandbox": {"createNamespace": False}}).find("Namespace") is None


def test_sandbox_network_policy_is_the_one_isobox_requires() -> None:
    policy = render().get("NetworkPolicy", manifests.NETWORK_POLICY_NAME)
    expected = manifests.deny_all_network_policy(SANDBOX)
    assert policy["metadata"]["name"] == expected["metadata"]["name"]
    assert policy["metadata"]["namespace"] == SANDBOX
    assert policy["spec"] == expected["spec"]


def test_sandbox_quota_and_limit_range_bound_the_namespace() -> None:
    rendered = render({"sandbox": {"resourceQuota": {"pods": 7}}})
    quota = rendered.get("ResourceQuota")
    assert quota["metadata"]["namespace"] == SANDBOX
    assert quota["spec"]["hard"]["pods"] == "7"
    limit_range = rendered.get("LimitRange")
    assert limit_range["metadata"]["namespace"] == SANDBOX
    assert limit_range["spec"]["limits"][0]["type"] == "Container"
    disabled = render(
        {"sandbox": {"resourceQuota": {"enabled": False}, "limitRange": {"enabled": False}}}
    )
    assert disabled.find("ResourceQuota") is None
    assert disabled.find("LimitRange") is None


@pytest.mark.parametrize("backend", ["docker", "local"])
def test_no_sandbox_objects_without_a_cluster_backend(backend: str) -> None:
    rendered = render({"backend": backend})
    for kind in ("Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "RuntimeClass"):
        sandbox = [o for o in rendered.all(kind) if o["metadata"].get("namespace") != "isobox"]
        assert sandbox == [], kind
    assert rendered.find("NetworkPolicy", manifests.NETWORK_POLICY_NAME) is None
    assert rendered.find("NetworkPolicy", "-api") is not None  # the API's own stays


def test_languages_configmap_holds_the_registry_from_values() -> None:
    ruby = {
        "name": "ruby",
        "version": "3.1",
        "aliases": ["rb"],
        "file": "main.rb",
        "image": "registry.example/runtime-ruby:1",
        "run": ["ruby", "{file}"],
    }
    rendered = render({"languages": [ruby]})
    configmap = rendered.get("ConfigMap", "-languages")
    registry = yaml.safe_load(configmap["data"]["languages.yaml"])
    assert registry == {"languages": [ruby]}
    Language.model_validate(registry["languages"][0])
    api = rendered.get("Deployment", "-api")["spec"]["template"]
    volumes = {v["name"]: v for v in api["spec"]["volumes"]}
    assert volumes["languages"]["configMap"]["name"] == configmap["metadata"]["name"]
    # A registry change rolls the Pods.
    before = render()
    assert (
        api["metadata"]["annotations"]["checksum/languages"]
        != before.get("Deployment", "-api")["spec"]["template"]["metadata"]["annotations"][
            "checksum/languages"
        ]
    )


def test_default_languages_are_the_package_registry_without_local() -> None:
    """The chart ships the same languages as isobox's built-in registry, field for field.

    Only `local` (the bubblewrap backend's command) is left out: the chart never runs that
    backend. A language added to one registry and not the other fails here.
    """
    builtin = resources.files("isobox").joinpath("languages.yaml").read_text("utf-8")
    expected = [
        {key: value for key, value in entry.items() if key != "local"}
        for entry in yaml.safe_load(builtin)["languages"]
    ]
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())["languages"]
    assert [entry["name"] for entry in defaults] == [entry["name"] for entry in expected]
    for default, entry in zip(defaults, expected, strict=True):
        assert default == entry, entry["name"]
    # What the ConfigMap mounts is the same, quoted strings ("off", "0") included.
    text = render().get("ConfigMap", "-languages")["data"]["languages.yaml"]
    assert yaml.safe_load(text) == {"languages": expected}
    registry = LanguageRegistry.parse(text, "the chart's languages.yaml")
    for entry in yaml.safe_load(text)["languages"]:
        language = Language.model_validate(entry)
        assert registry.get(language.name) == language
        assert language.local is None
        assert language.image.startswith("localhost/isobox/runtime-"), language.image
        assert language.image.endswith(":0.1.0"), language.image


def test_ingress_is_off_by_default() -> None:
    assert render().find("Ingress") is None


def test_ingress_routes_the_host_to_the_api_service_with_tls() -> None:
    rendered = render(
        {
            "api": {
                "apiKeys": {"existingSecret": "isobox-keys"},
                "ingress": {
                    "enabled": True,
                    "className": "traefik",
                    "host": "isobox.example.com",
                    "annotations": {"cert-manager.io/cluster-issuer": "letsencrypt"},
                    "tls": {"enabled": True, "secretName": "isobox-tls"},
                },
            }
        }
    )
    ingress = rendered.get("Ingress")
    service = rendered.get("Service", "-api")
    assert ingress["spec"]["ingressClassName"] == "traefik"
    assert ingress["metadata"]["annotations"] == {"cert-manager.io/cluster-issuer": "letsencrypt"}
    assert ingress["spec"]["tls"] == [{"hosts": ["isobox.example.com"], "secretName": "isobox-tls"}]
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == "isobox.example.com"
    (path,) = rule["http"]["paths"]
    assert path["path"] == "/"
    assert path["pathType"] == "Prefix"
    assert path["backend"]["service"] == {
        "name": service["metadata"]["name"],
        "port": {"name": "http"},
    }
    assert service["spec"]["ports"][0]["name"] == "http"


def test_ingress_without_host_matches_any_host_and_default_class() -> None:
    ingress = render({"api": {"allowAnonymous": True, "ingress": {"enabled": True}}}).get("Ingress")
    assert "ingressClassName" not in ingress["spec"]
    assert "tls" not in ingress["spec"]
    assert "host" not in ingress["spec"]["rules"][0]


def test_ingress_tls_needs_a_host() -> None:
    error = render_error(
        {"api": {"allowAnonymous": True, "ingress": {"enabled": True, "tls": {"enabled": True}}}}
    )
    assert "needs api.ingress.host" in error


def test_helm_test_posts_hello_world_to_the_api_service() -> None:
    rendered = render()
    pod = rendered.get("Pod", "-test-execute")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    container = pod["spec"]["containers"][0]
    assert container["image"] == "localhost/isobox/isobox:0.1.0"
    assert container["imagePullPolicy"] == "IfNotPresent"
    env = env_of(container)
    service = rendered.get("Service", "-api")
    assert env["ISOBOX_URL"] == f"http://{service['metadata']['name']}.isobox.svc:80"
    assert env["EXPECTED_STDOUT"] == "Hello from isobox!\n"
    assert "/execute" in container["args"][0]


def test_api_keys_come_from_a_named_secret_only() -> None:
    off = render({}).get("Deployment", "-api")
    assert "ISOBOX_API_KEY_HASHES_FILE" not in env_of(
        off["spec"]["template"]["spec"]["containers"][0]
    )
    on = render({"api": {"apiKeys": {"existingSecret": "isobox-keys"}}}).get("Deployment", "-api")
    container = on["spec"]["template"]["spec"]["containers"][0]
    assert env_of(container)["ISOBOX_API_KEY_HASHES_FILE"] == "/etc/isobox/api-keys/hashes"
    volumes = {v["name"]: v for v in on["spec"]["template"]["spec"]["volumes"]}
    assert volumes["api-keys"]["secret"]["secretName"] == "isobox-keys"
