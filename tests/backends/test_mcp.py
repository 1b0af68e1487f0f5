"""The MCP server, proven with the MCP SDK's own client against a real `isobox serve` on the
local backend, on both transports: stdio (`isobox mcp --url ...` as the agent spawns it) and
streamable HTTP (`<url>/mcp`, with and without API keys); and with the MCP inspector's CLI
(from the npm registry) where `npx` is there.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import asynccontextmanager

import httpx2
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult, ImageContent, TextContent

from isobox.mcp.tools import TAKES_OUTPUTS
from tests.helpers.environment import clean_environment
from tests.helpers.png import RED_SQUARE
from tests.helpers.server import isobox_server

pytestmark = pytest.mark.local

KEY = "mcp-test-key"
INSPECTOR = "@modelcontextprotocol/inspector@0.15.0"


@pytest.fixture(scope="module")
def url(tmp_path_factory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("mcp") / "server.log"
    with isobox_server(log, ISOBOX_BACKEND="local") as (address, _):
        yield address


@pytest.fixture(scope="module")
def keyed_url(tmp_path_factory) -> Iterator[str]:
    from isobox.api.auth import key_digest

    log = tmp_path_factory.mktemp("mcp-keyed") / "server.log"
    with isobox_server(
        log,
        ISOBOX_BACKEND="local",
        ISOBOX_API_KEY_HASHES=key_digest(KEY),
    ) as (address, _):
        yield address


@pytest.fixture(scope="module")
def limited_url(tmp_path_factory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("mcp-limited") / "server.log"
    with isobox_server(log, ISOBOX_BACKEND="local", ISOBOX_RATE_LIMIT_PER_MINUTE="3") as (
        address,
        _,
    ):
        yield address


def stdio(url: str, **env: str) -> Client:
    """`isobox mcp --url URL`, spawned as an agent spawns it."""
    command = [sys.executable, "-m", "isobox", "mcp", "--url", url]
    return Client(
        StdioServerParameters(command=command[0], args=command[1:], env=clean_environment(**env))
    )


@asynccontextmanager
async def http(url: str, key: str | None = None):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=120) as transport_client,
        Client(streamable_http_client(f"{url}/mcp", http_client=transport_client)) as client,
    ):
        yield client


def text(result: CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))


async def check_tools(client: Client) -> None:
    tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools) == {"execute", "list_languages"}
    described = tools["execute"].description or ""
    for fact in ("No network at all", "A fresh sandbox per call", "nothing persists", "main.py"):
        assert fact in described, fact
    assert "at most 60 s" in described
    assert {"language", "code", "stdin", "files", "timeout"} <= set(
        tools["execute"].input_schema["properties"]
    )
    assert tools["list_languages"].annotations.read_only_hint is True


async def check_execute(client: Client) -> None:
    code = "import sys\nprint('out', sys.stdin.read())\nprint('err', file=sys.stderr)\nsys.exit(3)"
    result = await client.call_tool("execute", {"language": "python", "code": code, "stdin": "in"})
    assert result.is_error is False
    shown = text(result)
    assert "verdict: runtime_error" in shown
    assert "exit code: 3" in shown
    assert "out in\n" in shown
    assert "err\n" in shown
    data = result.structured_content
    assert (data["stdout"], data["stderr"], data["exit_code"]) == ("out in\n", "err\n", 3)
    assert (data["verdict"], data["backend"], data["language"]) == (
        "runtime_error",
        "local",
        "python",
    )


async def check_refusal(client: Client) -> None:
    refused = await client.call_tool("execute", {"language": "cobol", "code": "DISPLAY 'X'."})
    assert refused.is_error is True
    assert "unknown language 'cobol'" in text(refused)


async def check_languages(client: Client) -> None:
    listed = await client.call_tool("list_languages", {})
    assert "python 3.11 (also py, python3): main.py" in text(listed)
    names = {entry["name"] for entry in listed.structured_content["languages"]}
    assert {"python", "bash", "node"} <= names


# stdio


async def test_stdio_describes_the_sandbox_for_a_model(url):
    async with stdio(url) as client:
        await check_tools(client)


async def test_stdio_execute_returns_output_exit_code_and_verdict(url):
    async with stdio(url) as client:
        await check_execute(client)
        await check_languages(client)


async def test_stdio_a_refused_request_is_a_tool_error_the_model_reads(url):
    async with stdio(url) as client:
        await check_refusal(client)


async def test_stdio_nothing_persists_between_calls(url):
    async with stdio(url) as client:
        first = await client.call_tool(
            "execute", {"language": "bash", "code": "echo kept > note.txt; ls"}
        )
        assert "note.txt" in first.structured_content["stdout"]
        second = await client.call_tool("execute", {"language": "bash", "code": "cat note.txt"})
        assert second.structured_content["exit_code"] != 0
        assert "No such file" in second.structured_content["stderr"]


async def test_stdio_sends_the_api_key_from_the_environment(keyed_url):
    async with stdio(keyed_url) as client:
        refused = await client.call_tool("execute", {"language": "bash", "code": "echo hi"})
        assert refused.is_error is True
        assert "a valid API key is required (HTTP 401)" in text(refused)
    async with stdio(keyed_url, ISOBOX_API_KEY=KEY) as client:
        ran = await client.call_tool("execute", {"language": "bash", "code": "echo hi"})
        assert ran.structured_content["stdout"] == "hi\n"
        assert "main.sh" in ((await client.list_tools()).tools[0].description or "")


# streamable HTTP


async def test_http_describes_the_sandbox_with_this_servers_defaults(url):
    async with http(url) as client:
        await check_tools(client)
        described = (await client.list_tools()).tools[0].description or ""
        assert "default 10 s, at most 60 s" in described
        assert "default 256 MiB" in described


async def test_http_execute_returns_output_exit_code_and_verdict(url):
    async with http(url) as client:
        await check_execute(client)
        await check_refusal(client)
        await check_languages(client)


async def test_http_without_a_key_is_a_401_before_any_mcp(keyed_url):
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        answer = httpx2.post(f"{keyed_url}/mcp", json=body, headers=headers)
        assert answer.status_code == 401
        assert answer.headers["www-authenticate"] == "Bearer"
    with pytest.raises(BaseExceptionGroup) as refused:
        async with http(keyed_url) as client:
            await client.list_tools()
    # The SDK client says no more than that the server answered with an error.
    assert any(isinstance(error, MCPError) for error in leaves(refused.value)), refused.value


def leaves(error: BaseException) -> list[BaseException]:
    """The errors an exception group holds (the SDK client raises one), or the error itself."""
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in leaves(inner)]
    return [error, *([error.__cause__] if error.__cause__ else [])]


async def test_http_with_a_key_runs(keyed_url):
    async with http(keyed_url, KEY) as client:
        await check_execute(client)


async def test_http_calls_count_against_the_clients_limits(limited_url):
    async with http(limited_url) as client:
        outcomes = [
            await client.call_tool("execute", {"language": "bash", "code": "echo hi"})
            for _ in range(4)
        ]
    assert [o.structured_content["stdout"] for o in outcomes[:3]] == ["hi\n"] * 3
    assert outcomes[3].is_error is True
    assert "at most 3 executions per minute" in text(outcomes[3])


def brings_files_back(url: str) -> bool:
    probe = {"language": "bash", "code": "echo x > a.txt", "outputs": ["a.txt"]}
    return bool(httpx2.post(f"{url}/execute", json=probe, timeout=60).json().get("files"))


@pytest.mark.skipif(not TAKES_OUTPUTS, reason="this build's requests take no `outputs`")
async def test_an_image_output_comes_back_as_image_content(url):
    if not brings_files_back(url):
        pytest.skip("this build's local backend does not send output files back yet")
    async with http(url) as client:
        result = await client.call_tool(
            "execute", {"language": "python", "code": RED_SQUARE, "outputs": ["plot.png"]}
        )
    images = [block for block in result.content if isinstance(block, ImageContent)]
    assert len(images) == 1
    assert images[0].mime_type == "image/png"
    assert images[0].data.startswith("iVBORw0KGgo")  # base64 of the PNG signature


# The MCP inspector's CLI


def inspector(*args: str) -> dict:
    done = subprocess.run(
        ["npx", "-y", INSPECTOR, "--cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=clean_environment(),
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.skipif(shutil.which("npx") is None, reason="npx (Node.js) is not installed")
def test_the_inspector_cli_lists_and_calls_the_tools_on_both_transports(url):
    command = [sys.executable, "-m", "isobox", "mcp", "--url", url]
    listed = inspector(*command, "--method", "tools/list")
    assert {tool["name"] for tool in listed["tools"]} == {"execute", "list_languages"}
    called = inspector(
        f"{url}/mcp",
        "--transport",
        "http",
        "--method",
        "tools/call",
        "--tool-name",
        "execute",
        "--tool-arg",
        "language=python",
        "--tool-arg",
        "code=print(6 * 7)",
    )
    assert called["isError"] is False
    assert called["structuredContent"]["stdout"] == "42\n"
