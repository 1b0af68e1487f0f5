"""Judge0 CE's API under `/judge0` (submissions, batches, languages, statuses, about,
config_info), so Judge0 clients work unchanged against `http://HOST:8000/judge0`.

The translation lives in `isobox.api.judge0`. A submission is an asynchronous run in the
service's run store (`app.state.runs`: CodeRuns in coderun mode), its token an encoding of the
run id; it belongs to its client and counts against the client's limits like `POST /runs`.
`wait=true` submits the same way and answers once the run has ended. What Judge0 shows of a
submission's request (source, stdin, expected output, limits) is kept by this process beside
the run (`Records`). Refusals answer Judge0's way: 422 with Rails' errors hash, 400 and 503
`{"error": ...}`; the API key check (which takes Judge0's `X-Auth-Token`) and a body over the
server's cap keep isobox's body.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Annotated, Any, cast

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse

from isobox import __version__
from isobox.api import judge0
from isobox.api.callbacks import CallbackRefused, Dispatcher, EndSignal, wait_for_end
from isobox.api.client_limits import admit_client, client_id
from isobox.api.openapi import errors
from isobox.api.routes.execute import CLIENT_CLOSED_REQUEST, ClientGone, unless_client_leaves
from isobox.errors import (
    BackendUnavailable,
    PolicyError,
    RequestProblem,
    Saturated,
    TooManyRuns,
    excerpt,
)
from isobox.outcome import RunStatus
from isobox.runs import RunStore
from isobox.runstate import RunState
from isobox.service import ExecutionService

router = APIRouter(prefix="/judge0", tags=["judge0"])

Fields = Annotated[
    str | None, Query(description="Comma-separated submission fields, or `*` for all.")
]
Base64 = Annotated[
    str | None,
    Query(description="`true`: text fields are Base64, in the request and the answer."),
]
DOCUMENTED: dict[int | str, dict[str, Any]] = {
    400: {"description": 'Judge0 refuses the query: `{"error": ...}`.'},
    404: {"description": "No such submission (or not this client's)."},
    413: {"description": "A text field or the body is over its cap."},
    422: {"description": "Judge0 would not save it: `{field: [message, ...]}`."},
    429: {"description": 'This client\'s rate, in-flight or stored-runs limit: `{"error": ...}`.'},
    503: {"description": "The backend cannot run anything, or the queue is full."},
    **errors(401),
}


class Answer(Exception):
    """A Judge0-shaped refusal, raised from the helpers and answered by the route."""

    def __init__(self, status: int, body: Any, retry_after_s: int | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.retry_after_s = retry_after_s

    def response(self, body: Any = None) -> JSONResponse:
        headers = {} if self.retry_after_s is None else {"Retry-After": str(self.retry_after_s)}
        content = self.body if body is None else body
        return JSONResponse(status_code=self.status, content=content, headers=headers)


@dataclass
class Record:
    """What this process knows of one submission beside its run."""

    submission: judge0.Submission
    signal: EndSignal
    finished_at: float | None = None


class Records:
    """The Judge0 side of the submissions this process accepted, by run id, the oldest
    forgotten beyond `limit` (the run store keeps the runs themselves)."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._records: dict[str, Record] = {}

    def add(self, run_id: str, record: Record) -> None:
        self._records[run_id] = record
        while len(self._records) > self._limit:
            del self._records[next(iter(self._records))]

    def get(self, run_id: str) -> Record | None:
        return self._records.get(run_id)

    def finished_at(self, run_id: str, state: RunState) -> float | None:
        """When the run ended: when the store said so, else when this process first saw it."""
        record = self._records.get(run_id)
        if record is None or state.status is RunStatus.RUNNING:
            return None
        if record.finished_at is None:
            record.finished_at = record.signal.ended_at or time.time()
        return record.finished_at


@dataclass(frozen=True)
class Context:
    """What every submission route needs of the app."""

    service: ExecutionService
    runs: RunStore
    records: Records
    callbacks: Dispatcher
    client: str

    @property
    def limits(self) -> judge0.Limits:
        return judge0.Limits.from_settings(self.service.settings)


def _context(request: Request) -> Context:
    state = request.app.state
    if not hasattr(state, "judge0"):
        state.judge0 = Records(state.service.settings.max_stored_runs)
    return Context(
        service=cast(ExecutionService, state.service),
        runs=cast(RunStore, state.runs),
        records=cast(Records, state.judge0),
        callbacks=cast(Dispatcher, state.callbacks),
        client=client_id(request),
    )


def _answering(route: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """Answer an `Answer` (or a 400 of Judge0's) raised anywhere in the route."""

    @functools.wraps(route)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return await route(*args, **kwargs)
        except Answer as answer:
            return answer.response()
        except judge0.Judge0BadRequest as error:
            return JSONResponse(status_code=400, content={"error": str(error)})

    return wrapper


# --- languages, statuses, information --------------------------------------------------------


@router.get("/languages", responses=errors(401))
async def languages(request: Request) -> list[dict[str, Any]]:
    """The languages this backend runs, `[{id, name}]`, with Judge0 CE's ids."""
    return judge0.language_list(_context(request).service.available_languages())


@router.get("/languages/{language_id}", responses={404: DOCUMENTED[404], **errors(401)})
async def language(language_id: str, request: Request) -> Any:
    """One language: `{id, name, is_archived, source_file, compile_cmd, run_cmd}`."""
    number = judge0._integer(language_id)
    offered = judge0.offered(_context(request).service.available_languages())
    if number is None or number not in offered:
        return JSONResponse(status_code=404, content={"error": "Not Found"})
    return judge0.language_detail(number, offered[number])


@router.get("/statuses", responses=errors(401))
async def statuses() -> list[dict[str, Any]]:
    """Judge0's fourteen statuses, `[{id, description}]`."""
    return judge0.statuses()


@router.get("/about", responses=errors(401))
async def about() -> dict[str, Any]:
    """The Judge0 version this API follows (the SDK picks its language table by it)."""
    return judge0.about(__version__)


@router.get("/config_info", responses=errors(401))
async def config_info(request: Request) -> dict[str, Any]:
    """Judge0's configuration keys, with the values that hold on this server."""
    context = _context(request)
    return judge0.config_info(context.limits, context.service.settings, context.callbacks.guard.on)


# --- submissions -------------------------------------------------------------------------------


@router.post("/submissions", status_code=201, responses=DOCUMENTED)
@_answering
async def create_submission(
    request: Request,
    wait: Annotated[str | None, Query(description="`true`: answer once the run ended.")] = None,
    base64_encoded: Base64 = None,
    fields: Fields = None,
) -> Any:
    """Create a submission (Judge0's body: `source_code`, `language_id`, `stdin`,
    `expected_output`, `cpu_time_limit` s, `wall_time_limit` s, `memory_limit` KB,
    `command_line_arguments`, `callback_url`...). Answers `{token}` at once, or with
    `wait=true` the finished submission's `fields`."""
    selected = judge0.requested_fields(fields)
    encoded = base64_encoded == "true"
    context = _context(request)
    body = await _json_body(request)
    token, run_id, signal = await _submit(request, context, body, encoded)
    if wait != "true":
        return JSONResponse(status_code=201, content={"token": token})
    try:
        state = await unless_client_leaves(
            request, wait_for_end(context.runs, run_id, context.client, signal)
        )
    except ClientGone:
        return Response(status_code=CLIENT_CLOSED_REQUEST)
    if state is None:
        raise Answer(503, {"error": "the run was forgotten before it ended"})
    rendered = _rendered(context, token, state, selected, encoded)
    return JSONResponse(status_code=201, content=rendered)


@router.get("/submissions/batch", responses=DOCUMENTED)
@_answering
async def get_submission_batch(
    request: Request,
    tokens: Annotated[str | None, Query(description="Comma-separated tokens.")] = None,
    base64_encoded: Base64 = None,
    fields: Fields = None,
) -> Any:
    """Several submissions at once (`tokens` as a query parameter or header), in order;
    null for a token that names none of this client's."""
    selected = judge0.requested_fields(fields)
    context = _context(request)
    wanted = _split_tokens(request.headers.get("tokens") or tokens or "")
    _batch_size(len(wanted), context.limits.max_batch_size)
    encoded = base64_encoded == "true"
    found = [await _found(context, token) for token in wanted]
    return {
        "submissions": [
            None if hit is None else _rendered(context, token, hit, selected, encoded)
            for token, hit in zip(wanted, found, strict=True)
        ]
    }


@router.post("/submissions/batch", status_code=201, responses=DOCUMENTED)
@_answering
async def create_submission_batch(request: Request, base64_encoded: Base64 = None) -> Any:
    """Create several submissions (`{"submissions": [...]}`); each answer is `{token}` or
    that submission's errors. 201 if any was created."""
    context = _context(request)
    body = await _json_body(request)
    items = body.get("submissions") if isinstance(body, dict) else None
    items = items if isinstance(items, list) else []
    _batch_size(len(items), context.limits.max_batch_size)
    answers: list[Any] = []
    created = False
    refusal: Answer | None = None
    for item in items:
        try:
            token, _, _ = await _submit(request, context, item, base64_encoded == "true")
        except Answer as answer:
            answers.append(answer.body)
            if answer.status not in (413, 422) and refusal is None:
                refusal = answer
            continue
        answers.append({"token": token})
        created = True
    if not created and refusal is not None:
        return refusal.response(answers)  # every one refused, by a limit first: say which
    return JSONResponse(status_code=201 if created else 422, content=answers)


@router.get("/submissions/{token}", responses=DOCUMENTED)
@_answering
async def get_submission(
    token: str, request: Request, base64_encoded: Base64 = None, fields: Fields = None
) -> Any:
    """One submission's `fields` (the defaults: token, time, memory, stdout, stderr,
    compile_output, message, status)."""
    selected = judge0.requested_fields(fields)
    context = _context(request)
    state = await _found(context, token)
    if state is None:
        return JSONResponse(status_code=404, content={"error": "Not Found"})
    return _rendered(context, token, state, selected, base64_encoded == "true")


# --- helpers -----------------------------------------------------------------------------------


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise Answer(400, {"error": "the body is not valid JSON in UTF-8"}) from error


def _batch_size(count: int, limit: int) -> None:
    if count > limit:
        raise Answer(
            400,
            {"error": f"number of submissions in a batch should be less than or equal to {limit}"},
        )
    if count == 0:
        raise Answer(400, {"error": "there should be at least one submission in a batch"})


def _split_tokens(text: str) -> list[str]:
    # Ruby's "a,b,,".split(",") drops the trailing empty fields.
    parts = text.strip().split(",")
    while parts and parts[-1] == "":
        parts.pop()
    return parts


async def _submit(
    request: Request, context: Context, body: Any, encoded: bool
) -> tuple[str, str, EndSignal]:
    """Check, admit and start one submission; its token, run id and end signal."""
    languages = context.service.available_languages()
    try:
        job = judge0.parse_submission(body, languages, context.limits, encoded)
    except judge0.Judge0Invalid as invalid:
        raise Answer(invalid.status, invalid.errors) from invalid
    url = job.submission.callback_url
    if url is not None:
        await _check_callback(context.callbacks, url)
    try:
        release = admit_client(request)
    except HTTPException as refused:
        raise Answer(429, {"error": refused.detail}, _retry_after(refused)) from refused
    signal = EndSignal(release)
    try:
        state = await context.runs.submit(job.request, context.client, None, on_end=signal)
    except PolicyError as error:
        status = 413 if error.problem is RequestProblem.TOO_LARGE else 422
        raise Answer(status, judge0.policy_errors(error)) from error
    except TooManyRuns as error:
        raise Answer(429, {"error": str(error)}, error.retry_after_s) from error
    except Saturated as error:
        raise Answer(503, {"error": str(error)}, error.retry_after_s) from error
    except BackendUnavailable as error:
        raise Answer(503, {"error": excerpt(str(error), 512)}) from error
    signal.arm()
    token = judge0.token_for(state.run_id, job.submission.expected_output is not None)
    submission = replace(job.submission, created_at=time.time())
    context.records.add(state.run_id, Record(submission, signal))
    if url is not None:
        context.callbacks.send_when_ended(
            state.run_id, url, "PUT", _callback_body(context, token, state.run_id, signal)
        )
    return token, state.run_id, signal


async def _check_callback(callbacks: Dispatcher, url: str) -> None:
    if not callbacks.guard.on:
        raise Answer(422, {"callback_url": ["setting callback is not allowed"]})
    try:
        await callbacks.guard.check(url)
    except CallbackRefused as refused:
        raise Answer(422, {"callback_url": [str(refused)]}) from refused


def _callback_body(
    context: Context, token: str, run_id: str, signal: EndSignal
) -> Callable[[], Awaitable[bytes | None]]:
    """Judge0's callback body (isolate_job.rb's call_callback): the default fields, Base64."""

    async def body() -> bytes | None:
        state = await wait_for_end(context.runs, run_id, context.client, signal)
        if state is None:
            return None
        rendered = _rendered(context, token, state, judge0.DEFAULT_FIELDS, True)
        return json.dumps(rendered).encode()

    return body


async def _found(context: Context, token: str) -> RunState | None:
    decoded = judge0.run_of(token)
    if decoded is None:
        return None
    return await context.runs.get(decoded[0], context.client)


def _rendered(
    context: Context,
    token: str,
    state: RunState,
    fields: tuple[str, ...],
    encoded: bool,
) -> dict[str, Any]:
    decoded = judge0.run_of(token)
    expects_output = decoded is not None and decoded[1]
    record = context.records.get(state.run_id)
    view = judge0.view(
        token,
        state,
        None if record is None else record.submission,
        expects_output,
        context.records.finished_at(state.run_id, state),
        context.service.available_languages(),
    )
    return judge0.render(view, fields, encoded)


def _retry_after(error: HTTPException) -> int | None:
    value = (error.headers or {}).get("Retry-After")
    return int(value) if value and value.isdigit() else None
