"""`isobox mcp`: the MCP server over stdio, for an agent on this machine, running code on an
isobox server through `isobox.client` (no server code here, like `isobox run`).

The agent starts it as a subprocess and speaks MCP on its stdin and stdout; logs go to stderr.
At start it asks the server for its languages and, from `/openapi.json`, its maxima, so the
tool descriptions name what that server runs and allows; a server that does not answer yet
still gets a working MCP server, whose descriptions then point to `list_languages`.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import urllib.error
import urllib.request
from typing import Any

import anyio
from mcp.server.mcpserver import Context

from isobox.client import ClientError, IsoboxClient, RequestFailed
from isobox.mcp.tools import SandboxFacts, SandboxUnavailable, build_server
from isobox.models import ExecutionRequest
from isobox.run_command import DEFAULT_URL
from isobox.wire import ExecuteResponse, LanguagesResponse

# How long start-up waits for the server's languages and limits.
PROBE_TIMEOUT_S = 5.0


class ClientSandbox:
    """The tools' `Sandbox`: an isobox server, called in a worker thread (the client blocks)."""

    def __init__(self, client: IsoboxClient) -> None:
        self.client = client

    async def execute(self, request: ExecutionRequest, context: Context) -> ExecuteResponse:
        return await anyio.to_thread.run_sync(_answer, self.client.execute, request)

    async def languages(self) -> LanguagesResponse:
        return await anyio.to_thread.run_sync(_answer, self.client.languages)


def _answer(call: Any, *args: Any) -> Any:
    try:
        return call(*args)
    except ClientError as error:
        raise SandboxUnavailable(
            f"isobox refused it: {error.message} (HTTP {error.status})"
        ) from error
    except RequestFailed as error:
        raise SandboxUnavailable(str(error)) from error


def run(arguments: argparse.Namespace) -> int:
    """Serve MCP on stdin/stdout until the agent closes it; the exit code to leave with."""
    url = arguments.url or os.environ.get("ISOBOX_URL") or DEFAULT_URL
    api_key = arguments.api_key or os.environ.get("ISOBOX_API_KEY") or None
    # Before the SDK's own logging set-up, which then leaves ours alone: stderr only, since
    # stdout carries the protocol.
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="isobox mcp: %(message)s")
    try:
        client = IsoboxClient(url, api_key=api_key)
    except ValueError as error:
        print(f"isobox mcp: --url / ISOBOX_URL: {error}", file=sys.stderr)
        return 2
    server = build_server(ClientSandbox(client), probe(url, api_key))
    try:
        server.run("stdio")
    except KeyboardInterrupt:
        return 130
    return 0


def probe(url: str, api_key: str | None) -> SandboxFacts:
    """What the server says about itself, as far as it answers within PROBE_TIMEOUT_S."""
    facts: dict[str, Any] = {}
    try:
        facts["languages"] = IsoboxClient(url, api_key, PROBE_TIMEOUT_S).languages().languages
    except RequestFailed as error:
        logging.getLogger(__name__).warning("no languages from %s yet: %s", url, error)
    facts.update(_maxima(url))
    return SandboxFacts(**facts)


def _maxima(url: str) -> dict[str, Any]:
    """The request bounds `/openapi.json` states (it needs no key)."""
    try:
        with urllib.request.urlopen(  # noqa: S310 (the client checked it is http(s))
            url.rstrip("/") + "/openapi.json", timeout=PROBE_TIMEOUT_S
        ) as answer:
            schema = json.load(answer)
        fields = schema["components"]["schemas"]["ExecutionRequest"]["properties"]
    except (OSError, ValueError, KeyError, TypeError, urllib.error.URLError):
        return {}
    found = {
        "max_timeout_s": _bound(fields, "timeout", "maximum"),
        "max_memory_mib": _bound(fields, "memory", "maximum"),
        "max_code_bytes": _bound(fields, "code", "maxLength"),
        "max_stdin_bytes": _bound(fields, "stdin", "maxLength"),
    }
    return {name: value for name, value in found.items() if value is not None}


def _bound(fields: dict[str, Any], name: str, key: str) -> Any:
    field = fields.get(name, {})
    for branch in [field, *field.get("anyOf", [])]:
        if isinstance(branch.get(key), int | float):
            return branch[key]
    return None
