"""API keys: off by default; when configured, every endpoint but the health checks and the
API's own documentation needs one.

The check is ASGI middleware, in front of everything else: a request without a valid key is
answered 401 before a byte of its body is read, so a client with no key cannot make the server
buffer and parse bodies (FastAPI parses the body before any dependency runs). Keys are never
stored, only their SHA-256 digests (`isobox hash-key` prints one). A missing and a wrong key get
the same 401, so the answer never hints which it was. A valid key's digest becomes the request's
client id (`request.state.client_id`), which per-client limits and run ownership count by.
"""

from __future__ import annotations

import hashlib
import hmac

from fastapi import Depends
from fastapi.security import APIKeyHeader, HTTPBearer
from starlette.types import ASGIApp, Receive, Scope, Send

from isobox.api.errors import error_response

# Answered without a key: probes and the API's description (which holds no data).
OPEN_PATHS = frozenset(
    {"/health", "/healthz", "/readyz", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
    # The playground page and its assets (static, no data); what the page calls needs a key.
    | {"/playground", "/playground/playground.js", "/playground/playground.css"}
)
# Piston clients send the key bare, `Authorization: KEY`; only there is that read as a key.
PISTON_PREFIX = "/api/v2/"
# Judge0 clients send the key as `X-Auth-Token: KEY` (Judge0's AUTHN_HEADER); only there is
# that header read as a key.
JUDGE0_PREFIX = "/judge0/"
UNAUTHORIZED = "a valid API key is required"

# Declared on the routes for the OpenAPI description ("Authorize" in /docs); the middleware
# does the checking.
_bearer = HTTPBearer(auto_error=False, description="An isobox API key as a bearer token.")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="An isobox API key.")
DOCUMENT_API_KEY = [Depends(_bearer), Depends(_header)]


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def accepted(key: str | None, digests: frozenset[str]) -> bool:
    if not key:
        return False
    offered = key_digest(key)
    # Compare against every digest without stopping early: timing says nothing about the keys.
    matches = [hmac.compare_digest(offered, digest) for digest in digests]
    return any(matches)


def offered_key(
    headers: dict[bytes, bytes], bare_allowed: bool, auth_token_allowed: bool = False
) -> str | None:
    """The key a request presents: `Authorization: Bearer KEY` (or, where `bare_allowed`,
    `Authorization: KEY`), else `X-API-Key: KEY` (or, where `auth_token_allowed`,
    `X-Auth-Token: KEY`)."""
    authorization = headers.get(b"authorization", b"").decode("latin-1").strip()
    scheme, _, rest = authorization.partition(" ")
    if scheme.lower() == "bearer" and rest.strip():
        return rest.strip()
    if bare_allowed and authorization:
        return authorization
    key = headers.get(b"x-api-key", b"").decode("latin-1").strip()
    if not key and auth_token_allowed:
        key = headers.get(b"x-auth-token", b"").decode("latin-1").strip()
    return key or None


class ApiKeyCheck:
    """Refuses requests without a valid key (but to OPEN_PATHS) before the app sees them, and
    records a valid key's digest as the client id."""

    def __init__(self, app: ASGIApp, digests: frozenset[str]) -> None:
        self.app = app
        self.digests = digests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.digests:
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        key = offered_key(
            dict(scope["headers"]),
            bare_allowed=path.startswith(PISTON_PREFIX),
            auth_token_allowed=path.startswith(JUDGE0_PREFIX),
        )
        if accepted(key, self.digests):
            assert key is not None
            scope.setdefault("state", {})["client_id"] = key_digest(key)
        elif path not in OPEN_PATHS:
            response = error_response(401, "unauthorized", UNAUTHORIZED)
            response.headers["WWW-Authenticate"] = "Bearer"
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
