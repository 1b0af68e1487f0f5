"""Every bad request gets a 4xx whose JSON names the problem; health endpoints answer. On the
fake backend."""

import json

import pytest

from isobox import __version__


@pytest.fixture
async def client(fake_client_for):
    async with fake_client_for(max_body_bytes=64 * 1024, max_code_bytes=16 * 1024) as client:
        yield client


async def post(client, body: object, raw: bytes | None = None):
    content = raw if raw is not None else json.dumps(body).encode()
    return await client.post(
        "/execute", content=content, headers={"content-type": "application/json"}
    )


async def test_health_reports_the_service_and_version(client):
    response = await client.get("/health")
    assert response.json() == {"status": "healthy", "service": "isobox", "version": __version__}


async def test_liveness_and_readiness(client):
    assert (await client.get("/healthz")).status_code == 200
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ready",
        "backend": "fake",
        "resource_limits": "enforced",
        "runtime": "",
    }


async def test_languages_lists_the_registry(client):
    body = (await client.get("/languages")).json()
    names = {entry["name"] for entry in body["languages"]}
    assert {"python", "node", "bash"} <= names


async def test_openapi_documents_execute(client):
    spec = (await client.get("/openapi.json")).json()
    assert "/execute" in spec["paths"]
    assert "ExecutionRequest" in spec["components"]["schemas"]


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"language": "cobol", "code": "x"}, 422, "language"),
        ({"code": "print(1)"}, 422, "language"),
        ({"language": "python"}, 422, "code"),
        ({"language": "python", "code": 42}, 422, "code"),
        ({"language": "python", "code": "x", "timeout": "soon"}, 422, "timeout"),
        ({"language": "python", "code": "x", "timeout": 10**6}, 422, "timeout"),
        ({"language": "python", "code": "x", "timeout": -5}, 422, "timeout"),
        ({"language": "python", "code": "x", "memory": 10**7}, 422, "memory"),
        ({"language": "python", "code": "x", "args": "notalist"}, 422, "args"),
        ({"language": "python", "code": "x", "args": ["\u0000"]}, 422, "args[0]"),
        (
            {"language": "python", "code": "x", "files": [{"name": "../etc", "content": ""}]},
            422,
            "files[0].name",
        ),
        ({"language": "python", "code": "x", "files": [{"name": "a"}]}, 422, "files[0].content"),
        ({"language": "python", "code": "x", "colour": "blue"}, 422, "colour"),
        ({"language": "python", "code": "x" * 20000}, 413, "code"),
        ([1, 2], 422, "body"),
    ],
)
async def test_bad_requests_name_the_offending_field(client, body, status, field):
    response = await post(client, body)
    assert response.status_code == status, response.text
    assert response.json()["field"] == field
    assert response.json()["message"]


@pytest.mark.parametrize("raw", [b'{"language": "python", "code": "\xff\xfe"}', b"{not json", b""])
async def test_undecodable_bodies_are_400(client, raw):
    response = await post(client, None, raw=raw)
    assert response.status_code in {400, 422}
    assert response.json()["field"] == "body"


async def test_an_oversized_body_is_413_before_parsing(client):
    response = await post(
        client, None, raw=b'{"language": "python", "code": "' + b"x" * 70000 + b'"}'
    )
    assert response.status_code == 413
    assert response.json()["error"] == "request_too_large"


async def test_unknown_paths_and_methods_answer_json(client):
    assert (await client.get("/nope")).json()["error"] == "not_found"
    assert (await client.get("/execute")).status_code == 405


async def test_a_failing_program_is_still_a_200(client):
    response = await post(client, {"language": "python", "code": "print(undefined_variable)"})
    assert response.status_code == 200
    body = response.json()
    assert body["exit_code"] == 1
    assert "NameError" in body["stderr"]
