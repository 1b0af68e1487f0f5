"""`/playground`: a page to run code from a browser, shipped in the package (isobox/static).

Plain HTML, a script and a style sheet, no build step and nothing loaded from elsewhere (the
Content-Security-Policy allows this origin only). The page itself needs no key (it holds no
data); what it calls, `/languages` and `/execute`, does, and it asks for the key and sends it
as `Authorization: Bearer`.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from fastapi import APIRouter, Response

router = APIRouter(prefix="/playground", tags=["playground"], include_in_schema=False)

# Answered without a key (isobox.api.auth.OPEN_PATHS names them too).
ASSETS = {
    "playground.js": "text/javascript; charset=utf-8",
    "playground.css": "text/css; charset=utf-8",
}
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@cache
def _read(name: str) -> bytes:
    return (resources.files("isobox") / "static" / name).read_bytes()


def _served(name: str, media_type: str) -> Response:
    return Response(_read(name), media_type=media_type, headers=HEADERS)


@router.get("")
async def page() -> Response:
    """The playground page."""
    return _served("playground.html", "text/html; charset=utf-8")


@router.get("/playground.js")
async def script() -> Response:
    return _served("playground.js", ASSETS["playground.js"])


@router.get("/playground.css")
async def style() -> Response:
    return _served("playground.css", ASSETS["playground.css"])
