"""`/mcp`: the MCP server (`isobox.mcp.tools`) over streamable HTTP, calling the service
in-process.

It sits behind the same ASGI middleware as every route: the API key check (a request to `/mcp`
without a valid key is a 401 before its body is read) and the body cap. Each `execute` call
counts against the caller's per-client limits (rate and in flight) as a `POST /execute` does;
over one, the tool answers an error saying when to retry, which a model can read.

The transport is stateless and answers JSON: every POST stands alone, so no session outlives
its request, a session id can never be replayed by another client, and any API replica can
answer any request behind a load balancer. The server is built in the app's lifespan, once the
service knows which languages its backend runs, and its descriptions state this server's limits.
DNS-rebinding protection (a Host allow-list) is the SDK's for a localhost server; isobox
leaves Host to the deployment (an Ingress names its host) and guards `/mcp` with API keys as
it guards `/execute`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import APIRouter, FastAPI, HTTPException, Request
from mcp.server.mcpserver import Context
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp
from mcp.server.transport_security import TransportSecuritySettings
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from isobox.api.client_limits import admit_client
from isobox.api.responses import execute_response, languages_response
from isobox.errors import BackendUnavailable, PolicyError, SandboxError, Saturated
from isobox.mcp.tools import SandboxFacts, SandboxUnavailable, build_server
from isobox.models import ExecutionRequest
from isobox.service import ExecutionService
from isobox.settings import Settings
from isobox.wire import ExecuteResponse, LanguagesResponse

PATH = "/mcp"


class ServiceSandbox:
    """The tools' `Sandbox`: the service itself, with the caller's client limits."""

    def __init__(self, service: ExecutionService) -> None:
        self.service = service

    async def execute(self, request: ExecutionRequest, context: Context) -> ExecuteResponse:
        http = context.request_context.request
        if not isinstance(http, Request):
            raise SandboxUnavailable("this MCP endpoint answers over HTTP only")
        try:
            release = admit_client(http)
        except HTTPException as error:
            retry = (error.headers or {}).get("Retry-After", "1")
            raise SandboxUnavailable(f"{error.detail}; retry in {retry} s") from error
        try:
            execution = await self.service.execute(request)
        except PolicyError as error:
            raise SandboxUnavailable(f"refused: {error}") from error
        except (Saturated, BackendUnavailable, SandboxError) as error:
            raise SandboxUnavailable(f"the sandbox cannot run it now: {error}") from error
        finally:
            release()
        return execute_response(execution)

    async def languages(self) -> LanguagesResponse:
        return languages_response(self.service)


def facts(service: ExecutionService) -> SandboxFacts:
    """The limits a request gets from this server's settings, and its languages."""
    settings: Settings = service.settings
    return SandboxFacts(
        languages=languages_response(service).languages,
        default_timeout_s=settings.default_timeout_s,
        max_timeout_s=settings.max_timeout_s,
        default_memory_mib=settings.default_memory_mib,
        max_memory_mib=settings.max_memory_mib,
        compile_timeout_s=settings.compile_timeout_s,
        cpus=settings.cpus,
        pids_limit=settings.pids_limit,
        output_limit_bytes=settings.output_limit_bytes,
        scratch_mib=settings.scratch_mib,
        max_code_bytes=settings.max_code_bytes,
        max_stdin_bytes=settings.max_stdin_bytes,
        # Read softly: settings of builds whose results bring files back.
        max_output_files=getattr(settings, "max_output_files", None),
        max_output_bytes=getattr(settings, "max_output_bytes", None),
    )


@asynccontextmanager
async def _serving(app: FastAPI) -> AsyncIterator[None]:
    """Within the app's lifespan (the service is up): build the server and run its sessions."""
    service: ExecutionService = app.state.service
    server = build_server(ServiceSandbox(service), facts(service))
    server.streamable_http_app(
        stateless_http=True,
        json_response=True,
        max_request_body_size=service.settings.max_body_bytes,
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )
    app.state.mcp_http = StreamableHTTPASGIApp(server.session_manager)
    async with _in_own_task(server.session_manager.run()):
        yield


@asynccontextmanager
async def _in_own_task(context: AbstractAsyncContextManager[None]) -> AsyncIterator[None]:
    """Hold `context` open in a task of its own: the session manager's task group must be left
    by the task that entered it, and a lifespan may be entered and left by different tasks (an
    ASGI server does both in one; a test fixture's set-up and tear-down need not)."""
    entered, leave = asyncio.Event(), asyncio.Event()

    async def hold() -> None:
        async with context:
            entered.set()
            await leave.wait()

    task = asyncio.create_task(hold())
    waiting = asyncio.create_task(entered.wait())
    await asyncio.wait({task, waiting}, return_when=asyncio.FIRST_COMPLETED)
    waiting.cancel()
    if task.done():
        task.result()  # it failed to enter: raise why
    try:
        yield
    finally:
        leave.set()
        await task


class _Endpoint:
    """An ASGI app (not a function), so Starlette passes every method on to the transport of
    this app's lifespan."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await scope["app"].state.mcp_http(scope, receive, send)


router = APIRouter(lifespan=_serving)
router.routes.append(Route(PATH, endpoint=_Endpoint(), include_in_schema=False))
