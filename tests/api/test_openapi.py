"""The OpenAPI schema says what the policy enforces: the bounds of every limit from the
settings the app runs with, and every status each route can answer (fuzzed against a live
server in tests/backends/test_schemathesis.py)."""

from __future__ import annotations

from isobox.api.app import create_app
from isobox.settings import Settings


def test_the_schema_carries_the_policy_bounds_and_every_status():
    settings = Settings(
        backend="local", default_timeout_s=5, max_timeout_s=7, max_memory_mib=300, max_args=5
    )
    schema = create_app(settings).openapi()
    request = schema["components"]["schemas"]["ExecutionRequest"]["properties"]
    assert request["language"]["minLength"] == 1
    assert request["timeout"]["anyOf"][0] == {
        "type": "number",
        "exclusiveMinimum": 0,
        "maximum": 7,
    }
    assert request["memory"]["anyOf"][0] == {"type": "integer", "minimum": 16, "maximum": 300}
    assert request["args"]["maxItems"] == 5
    assert request["code"]["maxLength"] == settings.max_code_bytes
    paths = schema["paths"]
    for path, method in (("/execute", "post"), ("/runs", "post")):
        assert {"400", "401", "413", "422", "429", "503"} <= set(paths[path][method]["responses"])
    assert {"401", "404", "503"} <= set(paths["/runs/{run_id}"]["get"]["responses"])
    piston = paths["/api/v2/execute"]["post"]
    assert piston["requestBody"]["content"]["application/json"]["schema"]["type"] == "object"
    assert {"400", "401", "413", "415", "429", "503"} <= set(piston["responses"])
