"""`/mcp` on the fake backend: the MCP SDK's client in-process, the key check and the client
limits in front of it, and how a result becomes MCP content. The real thing, on both
transports, is tests/backends/test_mcp.py."""

from __future__ import annotations

import base64
from contextlib import asynccontextmanager

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import ImageContent, TextContent

from isobox.api.auth import key_digest
from isobox.mcp.tools import TAKES_OUTPUTS, result_content
from isobox.wire import ExecuteResponse

KEY = "mcp-key"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC"
)


@asynccontextmanager
async def mcp_client(app, key: str | None = None):
    """The SDK's streamable-HTTP client on the app (its lifespan started), in-process."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with app.router.lifespan_context(app):
        transport = httpx2.ASGITransport(app=app)
        async with (
            httpx2.AsyncClient(
                transport=transport, base_url="http://isobox", headers=headers
            ) as http,
            Client(streamable_http_client("http://isobox/mcp", http_client=http)) as client,
        ):
            yield client


def text(result) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))


async def test_execute_runs_through_the_service(fake_app, fake_backend):
    async with mcp_client(fake_app()) as client:
        result = await client.call_tool("execute", {"language": "bash", "code": "echo hi"})
    assert result.is_error is False
    assert result.structured_content["stdout"] == "hi\n"
    assert result.structured_content["backend"] == "fake"
    assert "verdict: accepted" in text(result)
    assert len(fake_backend.specs) == 1


async def test_the_descriptions_state_this_servers_limits(fake_app):
    async with mcp_client(fake_app(default_timeout_s=7, max_timeout_s=30)) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert "default 7 s, at most 30 s" in (tools["execute"].description or "")
    assert "Main.java" in (tools["execute"].description or "")


async def test_a_refusal_is_a_tool_error_naming_the_field(fake_app):
    async with mcp_client(fake_app(default_timeout_s=5, max_timeout_s=5)) as client:
        refused = await client.call_tool(
            "execute", {"language": "bash", "code": "echo hi", "timeout": 50}
        )
    assert refused.is_error is True
    assert "timeout" in text(refused)


async def test_mcp_needs_a_key_when_keys_are_on(fake_app):
    app = fake_app(api_key_hashes=key_digest(KEY))
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://isobox") as raw,
    ):
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"X-API-Key": "wrong"}):
            answer = await raw.post("/mcp", json=body, headers=headers)
            assert answer.status_code == 401
            assert answer.json()["message"] == "a valid API key is required"
    async with mcp_client(fake_app(api_key_hashes=key_digest(KEY)), KEY) as client:
        ran = await client.call_tool("execute", {"language": "bash", "code": "echo hi"})
    assert ran.structured_content["stdout"] == "hi\n"


async def test_calls_count_against_the_clients_rate_limit(fake_app):
    async with mcp_client(fake_app(rate_limit_per_minute=1)) as client:
        first = await client.call_tool("execute", {"language": "bash", "code": "echo hi"})
        second = await client.call_tool("execute", {"language": "bash", "code": "echo hi"})
    assert first.is_error is False
    assert second.is_error is True
    assert "at most 1 executions per minute; retry in" in text(second)


def result_with(**fields) -> ExecuteResponse:
    return ExecuteResponse(run_id="r", language="python", backend="fake", **fields)


@pytest.mark.skipif(not TAKES_OUTPUTS, reason="this build's results carry no files")
def test_output_files_become_image_and_text_content():
    files = [
        {"name": "plot.png", "size": len(PNG), "content_b64": base64.b64encode(PNG).decode()},
        {"name": "data.csv", "size": 4, "content_b64": base64.b64encode(b"a,b\n").decode()},
        {"name": "blob.bin", "size": 2, "content_b64": base64.b64encode(b"\xff\xfe").decode()},
    ]
    content = result_content(result_with(stdout="done\n", files=files)).content
    assert isinstance(content[0], TextContent)
    assert "done" in content[0].text
    image = content[1]
    assert isinstance(image, ImageContent)
    assert (image.mime_type, base64.b64decode(image.data)) == ("image/png", PNG)
    assert content[2].text == "--- file data.csv ---\na,b\n"
    assert "blob.bin: 2 bytes" in content[3].text


def test_a_failed_compile_shows_the_compiler_and_no_run():
    result = result_with(
        exit_code=None, compile={"stderr": "main.c:1: error: nope\n", "exit_code": 1}
    )
    shown = result_content(result).content[0].text
    assert "verdict: compilation_error" in shown
    assert "--- compile stderr ---\nmain.c:1: error: nope" in shown
    assert "--- stdout" not in shown
