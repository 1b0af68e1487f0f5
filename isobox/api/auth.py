"""API keys: off by default; when configured, every endpoint but the health checks needs one.

Keys are never stored, only their SHA-256 digests (`isobox hash-key` prints one). A missing and
a wrong key get the same 401, so the answer never hints which it was.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

_bearer = HTTPBearer(auto_error=False, description="An isobox API key as a bearer token.")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="An isobox API key.")


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _accepted(key: str | None, digests: frozenset[str]) -> bool:
    if not key:
        return False
    offered = key_digest(key)
    # Compare against every digest without stopping early: timing says nothing about the keys.
    matches = [hmac.compare_digest(offered, digest) for digest in digests]
    return any(matches)


async def require_api_key(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header: Annotated[str | None, Depends(_header)],
) -> None:
    digests: frozenset[str] = request.app.state.api_key_digests
    if not digests:
        return
    key = bearer.credentials if bearer is not None else header
    if not _accepted(key, digests):
        raise HTTPException(
            status_code=401,
            detail="a valid API key is required",
            headers={"WWW-Authenticate": "Bearer"},
        )
    assert key is not None
    request.state.client_id = key_digest(key)  # per-client limits count by key
