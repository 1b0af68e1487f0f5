"""Completion callbacks: when an asynchronous run ends, the API tier (never the sandbox) sends
its final result, once, to the URL the submission named.

The body is signed, `X-Isobox-Signature: sha256=<hex HMAC-SHA256 of the body>` under the
deployment's `ISOBOX_CALLBACK_SECRET`, and tried at most `ISOBOX_CALLBACK_MAX_ATTEMPTS` times
with doubling waits. A callback is a request isobox makes on a client's behalf, so it is held
against server-side request forgery: callbacks are off unless `ISOBOX_CALLBACK_ALLOWED_HOSTS`
lists host names, a URL naming another host is refused at submission, and the host is resolved
and every address checked (link-local and the metadata address, unspecified, multicast and
reserved always refused; `ISOBOX_CALLBACK_DENY_CIDRS`, loopback and the cluster's service
range by default; private ranges unless `ISOBOX_CALLBACK_ALLOW_PRIVATE`), at submission and
again at each delivery, which then connects to the address it checked (a name that resolves
elsewhere a moment later, DNS rebinding, gains nothing). Redirects are not followed; each
delivery has a time limit and reads at most a few KiB of the answer.

Deliveries live in this process: a run's callback is delivered by the API replica that
accepted the run and is lost if that replica stops first (CodeRun-backed runs included).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import ipaddress
import logging
import socket
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, cast
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from pydantic import BaseModel, Field

from isobox import __version__
from isobox.errors import excerpt
from isobox.outcome import RunStatus
from isobox.runs import OnEnd, RunStore
from isobox.runstate import RunState
from isobox.settings import Settings
from isobox.wire import RunResponse

log = logging.getLogger(__name__)

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[str]]]

MAX_URL_CHARS = 2048
MAX_ANSWER_BYTES = 16 * 1024
MAX_DELIVERIES_KEPT = 10_000
SIGNATURE_HEADER = "X-Isobox-Signature"
# Refused whatever the settings say.
ALWAYS_DENIED: tuple[tuple[Network, str], ...] = (
    (ipaddress.ip_network("169.254.169.254/32"), "the cloud metadata address"),
    (ipaddress.ip_network("169.254.0.0/16"), "link-local"),
    (ipaddress.ip_network("fe80::/10"), "link-local"),
    (ipaddress.ip_network("0.0.0.0/8"), "unspecified"),
    (ipaddress.ip_network("::/128"), "unspecified"),
    (ipaddress.ip_network("224.0.0.0/4"), "multicast"),
    (ipaddress.ip_network("ff00::/8"), "multicast"),
    (ipaddress.ip_network("240.0.0.0/4"), "reserved"),
    (ipaddress.ip_network("64:ff9b::/96"), "NAT64 (an IPv4 address in disguise)"),
)
PRIVATE: tuple[Network, ...] = tuple(
    ipaddress.ip_network(cidr)
    for cidr in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
)


class CallbackRefused(Exception):
    """A callback URL isobox will not call; the message says why (for a 422)."""


class CallbackState(BaseModel):
    """Delivery of a run's completion callback, as `GET /runs/{id}` shows it."""

    url: str
    delivered: Annotated[bool, Field(description="A delivery was answered 2xx.")] = False
    attempts: Annotated[int, Field(description="Deliveries tried so far.")] = 0
    last_error: Annotated[
        str | None, Field(description="Why the last try failed; null once delivered.")
    ] = None


@dataclass(frozen=True)
class Target:
    """A checked callback URL: where to connect and what to ask for."""

    url: str
    scheme: str
    host: str
    port: int
    path: str
    addresses: tuple[str, ...]


class Guard:
    """The SSRF rules of this deployment (see the module docstring)."""

    def __init__(self, settings: Settings, resolver: Resolver | None = None) -> None:
        self.hosts = settings.callback_hosts()
        self.denied = settings.callback_denied_networks()
        self.allow_private = settings.callback_allow_private
        self._resolve = resolver or _resolve

    @property
    def on(self) -> bool:
        return bool(self.hosts)

    async def check(self, url: str) -> Target:
        """The URL, its host listed and every address it resolves to allowed; else
        CallbackRefused saying why."""
        if not self.on:
            raise CallbackRefused(
                "callbacks are off on this server (ISOBOX_CALLBACK_ALLOWED_HOSTS is empty)"
            )
        if len(url) > MAX_URL_CHARS:
            raise CallbackRefused(f"is longer than {MAX_URL_CHARS} characters")
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as error:
            raise CallbackRefused(f"{excerpt(url)!r} is not a valid URL") from error
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise CallbackRefused(f"{excerpt(url)!r} is not an http or https URL")
        if parts.username is not None or parts.password is not None:
            raise CallbackRefused("must not carry credentials")
        host = parts.hostname.lower().rstrip(".")
        if host not in self.hosts:
            raise CallbackRefused(
                f"host {excerpt(host)!r} is not one callbacks may go to "
                "(ISOBOX_CALLBACK_ALLOWED_HOSTS)"
            )
        port = port or (443 if parts.scheme == "https" else 80)
        try:
            addresses = await self._resolve(host, port)
        except OSError as error:
            raise CallbackRefused(f"host {excerpt(host)!r} does not resolve") from error
        if not addresses:
            raise CallbackRefused(f"host {excerpt(host)!r} does not resolve")
        for address in addresses:
            reason = self.refusal(address)
            if reason is not None:
                raise CallbackRefused(f"host {excerpt(host)!r} resolves to {address} ({reason})")
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return Target(url, parts.scheme, host, port, path, tuple(addresses))

    def refusal(self, text: str) -> str | None:
        """Why a callback may not go to this address, or None if it may."""
        address: Address = ipaddress.ip_address(text.split("%")[0])
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        for network, reason in ALWAYS_DENIED:
            if address.version == network.version and address in network:
                return reason
        for network in self.denied:
            if address.version == network.version and address in network:
                return f"in {network}, denied by ISOBOX_CALLBACK_DENY_CIDRS"
        if not self.allow_private and any(
            address.version == network.version and address in network for network in PRIVATE
        ):
            return "a private address (ISOBOX_CALLBACK_ALLOW_PRIVATE is off)"
        return None


async def _resolve(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def signature(secret: str, body: bytes) -> str:
    """The `X-Isobox-Signature` value of `body`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Dispatcher:
    """Sends completion callbacks and remembers how each went, by run id."""

    def __init__(self, settings: Settings, resolver: Resolver | None = None) -> None:
        self.guard = Guard(settings, resolver)
        self._secret = settings.callback_secret.get_secret_value()
        self._attempts = settings.callback_max_attempts
        self._base_wait_s = settings.callback_retry_base_s
        self._timeout_s = settings.callback_timeout_s
        self._states: dict[str, CallbackState] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def state(self, run_id: str) -> CallbackState | None:
        return self._states.get(run_id)

    def send_when_ended(
        self, run_id: str, url: str, method: str, body: Callable[[], Awaitable[bytes | None]]
    ) -> None:
        """Once `body()` answers (it waits for the run's end), deliver it to `url`; a None
        body (the run is gone) sends nothing."""
        state = CallbackState(url=url)
        self._states[run_id] = state
        self._forget_old()
        task = asyncio.create_task(self._deliver(state, method, body))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Stop the deliveries still pending (they are lost, as the module docstring says)."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _deliver(
        self, state: CallbackState, method: str, body: Callable[[], Awaitable[bytes | None]]
    ) -> None:
        payload = await body()
        if payload is None:
            state.last_error = "the run was no longer known when it ended"
            return
        for attempt in range(1, self._attempts + 1):
            if attempt > 1:
                await asyncio.sleep(self._base_wait_s * 2 ** (attempt - 2))
            state.attempts = attempt
            try:
                await self._send_once(state.url, method, payload)
            except (CallbackRefused, OSError, TimeoutError, ValueError) as error:
                state.last_error = excerpt(str(error) or type(error).__name__, 256)
                log.warning(
                    "callback not delivered",
                    extra={
                        "url": excerpt(state.url),
                        "attempt": attempt,
                        "error": state.last_error,
                    },
                )
                continue
            state.delivered = True
            state.last_error = None
            return

    async def _send_once(self, url: str, method: str, payload: bytes) -> None:
        target = await self.guard.check(url)  # again: the name may resolve elsewhere now
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature(self._secret, payload),
            "User-Agent": f"isobox/{__version__}",
        }
        async with asyncio.timeout(self._timeout_s):
            status, location = await _exchange(target, method, headers, payload)
        if 300 <= status < 400:
            raise ValueError(
                f"answered {status} (a redirect to {excerpt(location)!r}, not followed)"
            )
        if not 200 <= status < 300:
            raise ValueError(f"answered {status}")

    def _forget_old(self) -> None:
        while len(self._states) > MAX_DELIVERIES_KEPT:
            del self._states[next(iter(self._states))]


async def _exchange(
    target: Target, method: str, headers: dict[str, str], payload: bytes
) -> tuple[int, str]:
    """One HTTP/1.1 request to the first checked address that accepts a connection; the
    status and Location of the answer, whose body is read up to MAX_ANSWER_BYTES only."""
    context = ssl.create_default_context() if target.scheme == "https" else None
    last: OSError | None = None
    for address in target.addresses:
        try:
            reader, writer = await asyncio.open_connection(
                address,
                target.port,
                ssl=context,
                server_hostname=target.host if context is not None else None,
            )
        except OSError as error:
            last = error
            continue
        try:
            writer.write(_request(target, method, headers, payload))
            await writer.drain()
            return await _answer(reader)
        finally:
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError):
                await writer.wait_closed()
    raise last or OSError(f"no address of {target.host} accepted a connection")


def _request(target: Target, method: str, headers: dict[str, str], payload: bytes) -> bytes:
    default_port = 443 if target.scheme == "https" else 80
    host = f"[{target.host}]" if ":" in target.host else target.host
    if target.port != default_port:
        host = f"{host}:{target.port}"
    lines = [f"{method} {target.path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines += [f"Content-Length: {len(payload)}", "Connection: close", "", ""]
    return "\r\n".join(lines).encode("latin-1") + payload


async def _answer(reader: asyncio.StreamReader) -> tuple[int, str]:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.LimitOverrunError as error:
        raise ValueError("answered with oversized headers") from error
    except asyncio.IncompleteReadError as error:
        raise ValueError("closed the connection without an HTTP answer") from error
    if len(head) > MAX_ANSWER_BYTES:
        raise ValueError("answered with oversized headers")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise ValueError(f"answered something that is not HTTP: {excerpt(status_line)!r}")
    location = ""
    for line in header_lines:
        name, _, value = line.partition(":")
        if name.strip().lower() == "location":
            location = value.strip()
    with contextlib.suppress(asyncio.IncompleteReadError, OSError):
        await reader.read(MAX_ANSWER_BYTES)  # some of the body, then hang up
    return int(parts[1]), location


# --- waiting for a run's end ---------------------------------------------------------------------

POLL_FIRST_S = 0.05
POLL_MAX_S = 2.0


class EndSignal:
    """Wraps a run's `on_end` so that waiting for the end wakes at once when the store calls it
    (the memory store calls it when the run ends; a durable store at submission, and the wait
    then polls the store). `ended_at` is when it was called after `arm()`, the moment the
    store accepted the run."""

    def __init__(self, release: OnEnd) -> None:
        self._release = release
        self._armed = False
        self.ended_at: float | None = None
        self.event = asyncio.Event()

    def arm(self) -> None:
        self._armed = True

    def __call__(self) -> None:
        self._release()
        if self._armed:
            self.ended_at = time.time()
        self.event.set()


async def wait_for_end(
    runs: RunStore, run_id: str, owner: str, signal: EndSignal | None = None
) -> RunState | None:
    """The run once it has ended (None if the store forgot it on the way)."""
    pause = POLL_FIRST_S
    while True:
        state = await runs.get(run_id, owner)
        if state is None or state.status is not RunStatus.RUNNING:
            return state
        if signal is not None and not signal.event.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(signal.event.wait(), timeout=POLL_MAX_S)
            continue
        await asyncio.sleep(pause)
        pause = min(POLL_MAX_S, pause * 1.5)


def run_body(state: RunState) -> bytes:
    """The body of a `/runs` callback: what `GET /runs/{id}` answers."""
    from isobox.api.responses import run_response

    return run_response(state).model_dump_json().encode()


# --- wiring ------------------------------------------------------------------------------------


def dispatcher_of(request: Request) -> Dispatcher:
    return cast(Dispatcher, request.app.state.callbacks)


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """A router lifespan: the app's dispatcher, its pending deliveries stopped at shutdown."""
    app.state.callbacks = Dispatcher(app.state.service.settings)
    try:
        yield
    finally:
        await app.state.callbacks.close()


class RunWithCallback(RunResponse):
    """`GET /runs/{id}`: the run, and its callback's delivery when it named one."""

    callback: CallbackState | None = None
