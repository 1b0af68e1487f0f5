"""A small synchronous client for the isobox HTTP API.

It speaks the API with the standard library only (no HTTP dependency for users of the
client) and answers with the same pydantic models the server sends, so a field exists once.
Nothing happens at import time; a client opens a connection per call.

    client = IsoboxClient("http://127.0.0.1:8000", api_key="...")
    result = client.execute(ExecutionRequest(language="python", code="print(1)"))
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from isobox.errors import IsoboxError
from isobox.models import ExecutionRequest
from isobox.wire import ExecuteResponse, LanguagesResponse, RunResponse

__all__ = [
    "ClientError",
    "ExecuteResponse",
    "ExecutionRequest",
    "IsoboxClient",
    "LanguagesResponse",
    "RequestFailed",
    "RunResponse",
    "ServerUnreachable",
]

DEFAULT_TIMEOUT_S = 300.0
"""How long a call waits for the server; long enough for the longest run it allows by default."""

API_KEY_HEADER = "X-API-Key"
Model = TypeVar("Model", bound=BaseModel)


class RequestFailed(IsoboxError):
    """A call got no answer the client can use; the subclasses say why."""


class ClientError(RequestFailed):
    """The server refused or failed the request (a 4xx or 5xx, with isobox's error body or a
    proxy's text), or redirected it, which the client does not follow."""

    def __init__(
        self, status: int, message: str, error: str = "http_error", field: str | None = None
    ) -> None:
        super().__init__(f"{message} (HTTP {status} {error})")
        self.status = status
        self.message = message
        self.error = error
        self.field = field


class ServerUnreachable(RequestFailed):
    """The server could not be reached or did not answer in time."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"cannot reach isobox at {url}: {reason}")
        self.url = url
        self.reason = reason


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """isobox never redirects, and following one would carry the API key wherever it points."""

    def redirect_request(self, *_: Any) -> None:
        return None


class IsoboxClient:
    """Calls one isobox server; every method raises a `RequestFailed` when it gets no result."""

    def __init__(
        self, base_url: str, api_key: str | None = None, timeout: float = DEFAULT_TIMEOUT_S
    ) -> None:
        parsed = urllib.parse.urlsplit(base_url)
        if parsed.scheme not in {"http", "https"} or not parsed.netloc:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self._opener = urllib.request.build_opener(_NoRedirects)

    def execute(self, request: ExecutionRequest) -> ExecuteResponse:
        """Run a program and wait for its result (`POST /execute`)."""
        return self._call("POST", "/execute", ExecuteResponse, body=_body(request))

    def languages(self) -> LanguagesResponse:
        """The languages the server's backend can run (`GET /languages`)."""
        return self._call("GET", "/languages", LanguagesResponse)

    def submit_run(
        self, request: ExecutionRequest, idempotency_key: str | None = None
    ) -> RunResponse:
        """Start a run and return at once (`POST /runs`); resubmitting with the same
        `idempotency_key` returns the first run instead of starting another."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return self._call("POST", "/runs", RunResponse, body=_body(request), headers=headers)

    def get_run(self, run_id: str) -> RunResponse:
        """A run's status and, once it ended, its result (`GET /runs/{id}`)."""
        return self._call("GET", _run_path(run_id), RunResponse)

    def cancel_run(self, run_id: str) -> RunResponse:
        """Stop a run and remove its sandbox (`DELETE /runs/{id}`)."""
        return self._call("DELETE", _run_path(run_id), RunResponse)

    def execute_streamed(
        self, request: ExecutionRequest, on_output: Callable[[str, str, str], None]
    ) -> ExecuteResponse:
        """Run a program, telling `on_output(stage, stream, text)` of its output as it comes
        (Server-Sent Events of `POST /execute`; `stage` is compile or run), and return the
        same result as `execute`."""
        with self._send(
            "POST", "/execute", body=_body(request), accept="text/event-stream"
        ) as response:
            for name, data in _events(response):
                if name in {"stdout", "stderr"}:
                    on_output("run", name, data["text"])
                elif name == "compile":
                    on_output("compile", data["stream"], data["text"])
                elif name == "result":
                    return ExecuteResponse.model_validate(data)
                elif name == "error":
                    raise ClientError(503, str(data.get("message", "")), str(data.get("error")))
        raise RequestFailed(f"POST {self.base_url}/execute: the stream ended without a result")

    def _call(
        self,
        method: str,
        path: str,
        model: type[Model],
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Model:
        with self._send(method, path, body, headers) as response:
            try:
                answer = response.read()
            except OSError as error:  # the connection dropped mid-answer
                raise ServerUnreachable(
                    self.base_url, str(error) or type(error).__name__
                ) from error
        try:
            return model.model_validate_json(answer)
        except ValidationError as error:
            raise RequestFailed(
                f"{method} {self.base_url + path}: the answer is not isobox's {model.__name__}: "
                f"{answer[:200]!r}"
            ) from error

    def _send(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        accept: str = "application/json",
    ) -> Any:
        """The open answer to one request (a context manager), or the error it came to."""
        url = self.base_url + path
        request = urllib.request.Request(url, data=body, method=method)  # noqa: S310 (http(s) only)
        request.add_header("Accept", accept)
        if body is not None:
            request.add_header("Content-Type", "application/json")
        if self.api_key:
            request.add_header(API_KEY_HEADER, self.api_key)
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            return self._opener.open(request, timeout=self.timeout)
        except urllib.error.HTTPError as error:
            if 300 <= error.code < 400:
                where = error.headers.get("Location", "elsewhere")
                raise ClientError(error.code, f"redirected to {where}; not followed") from error
            raise _client_error(error.code, error.read(), error.reason) from error
        except urllib.error.URLError as error:
            raise ServerUnreachable(self.base_url, self._reason(error.reason)) from error
        except TimeoutError as error:
            raise ServerUnreachable(self.base_url, self._reason(error)) from error
        except OSError as error:
            raise ServerUnreachable(self.base_url, str(error) or type(error).__name__) from error

    def _reason(self, reason: object) -> str:
        if isinstance(reason, TimeoutError):
            return f"no answer within {self.timeout:g} s"
        if isinstance(reason, OSError) and reason.strerror:
            return reason.strerror
        return str(reason)


def _events(response: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """Server-Sent Events as (name, data) as they arrive, one line at a time."""
    name = ""
    for raw in response:
        line = raw.decode("utf-8").rstrip("\r\n")
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            yield name, json.loads(line.removeprefix("data: "))


def _body(request: ExecutionRequest) -> bytes:
    return request.model_dump_json(exclude_none=True).encode()


def _run_path(run_id: str) -> str:
    return "/runs/" + urllib.parse.quote(run_id, safe="")


def _client_error(status: int, answer: bytes, reason: str) -> ClientError:
    """isobox's `{"error", "message", "field"}` body, or whatever a proxy in between sent."""
    try:
        document: Any = json.loads(answer)
    except ValueError:
        document = None
    if isinstance(document, dict) and isinstance(document.get("message"), str):
        field = document.get("field")
        return ClientError(
            status,
            document["message"],
            str(document.get("error") or "http_error"),
            field if isinstance(field, str) else None,
        )
    text = answer.decode("utf-8", errors="replace").strip()[:200]
    return ClientError(status, text or str(reason or "no error message"))
