"""The client's and `isobox run`'s own logic: exit codes, language inference, argument
splitting, and answers that are not isobox's (from a plain HTTP server standing in for a
proxy)."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from isobox.client import ClientError, IsoboxClient, RequestFailed, ServerUnreachable
from isobox.models import StageResult
from isobox.run_command import (
    Outcome,
    UsageError,
    infer_language,
    outcome_of,
    report,
    split_program_args,
)
from isobox.wire import ExecuteResponse, LanguageInfo, LanguagesResponse


@pytest.mark.parametrize(
    ("stage", "expected"),
    [
        (StageResult(exit_code=0), Outcome(0)),
        (StageResult(exit_code=3), Outcome(3)),
        (
            StageResult(exit_code=None, signal="SIGKILL", timed_out=True),
            Outcome(124, ("program timed out",)),
        ),
        (
            StageResult(exit_code=None, signal="SIGKILL", oom_killed=True),
            Outcome(137, ("program ran out of memory",)),
        ),
        (StageResult(signal="SIGSEGV"), Outcome(139, ("program killed by SIGSEGV",))),
        (StageResult(signal="SIG42"), Outcome(170, ("program killed by SIG42",))),
        (StageResult(), Outcome(2, ("program ended without an exit status",))),
        (
            StageResult(exit_code=0, stdout_truncated=True),
            Outcome(0, ("program stdout truncated at the server's output limit",)),
        ),
    ],
)
def test_how_a_program_ended_becomes_the_exit_code(stage, expected):
    assert outcome_of(stage, "program") == expected


def result(**fields) -> ExecuteResponse:
    return ExecuteResponse(run_id="r", language="c", backend="local", **fields)


def test_a_failed_compile_prints_its_output_to_stderr_and_exits_with_its_code(capsysbinary):
    compiled = StageResult(stdout="note\n", stderr="main.c:1: error\n", exit_code=1)
    outcome = report(result(compile=compiled))
    assert outcome == Outcome(1)
    assert capsysbinary.readouterr() == (b"", b"note\nmain.c:1: error\n")


def test_after_a_compile_the_program_output_comes_out_as_is(capsysbinary):
    compiled = StageResult(stderr="warning: unused\n", exit_code=0)
    outcome = report(result(stdout="ok ✓", stderr="err", exit_code=0, compile=compiled))
    assert outcome == Outcome(0)
    assert capsysbinary.readouterr() == ("ok ✓".encode(), b"warning: unused\nerr")


def test_a_timed_out_compile_is_124(capsysbinary):
    compiled = StageResult(exit_code=None, signal="SIGKILL", timed_out=True)
    assert report(result(compile=compiled)) == Outcome(124, ("compile timed out",))


LANGUAGES = LanguagesResponse(
    backend="local",
    languages=[
        LanguageInfo(name="python", version="3", aliases=["py"], compiled=False, file="main.py"),
        LanguageInfo(name="java", version="17", aliases=[], compiled=True, file="Main.java"),
        LanguageInfo(name="c", version="12", aliases=[], compiled=True, file="main.c"),
        LanguageInfo(name="c-clang", version="15", aliases=[], compiled=True, file="main.c"),
    ],
)


@pytest.mark.parametrize(
    ("file", "language"),
    [("a/prog.py", "python"), ("PROG.PY", "python"), ("Hello.java", "java")],
)
def test_the_extension_names_the_language(file, language):
    assert infer_language(file, LANGUAGES) == language


@pytest.mark.parametrize(
    ("file", "words"),
    [
        ("x.c", ["could be c or c-clang", "--language"]),
        ("notes.txt", [".txt", ".py (python)", ".java (java)", ".c (c/c-clang)", "--language"]),
        ("Makefile", ["no extension", ".py (python)"]),
    ],
)
def test_an_ambiguous_or_unknown_extension_lists_the_choices(file, words):
    with pytest.raises(UsageError) as refused:
        infer_language(file, LANGUAGES)
    for word in words:
        assert word in str(refused.value)


@pytest.mark.parametrize(
    ("argv", "own", "program"),
    [
        (["run", "f.py"], ["run", "f.py"], []),
        (["run", "f.py", "-l", "py", "--", "-x"], ["run", "f.py", "-l", "py"], ["-x"]),
        (["run", "f.py", "--", "a", "--", "b"], ["run", "f.py"], ["a", "--", "b"]),
    ],
)
def test_the_program_gets_everything_after_the_first_double_dash(argv, own, program):
    assert split_program_args(argv) == (own, program)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "localhost:8000", "ftp://host/", ""])
def test_only_http_urls_are_accepted(url):
    with pytest.raises(ValueError, match="http"):
        IsoboxClient(url)


class _Proxy(BaseHTTPRequestHandler):
    """Answers like something in front of isobox that is not isobox."""

    def do_GET(self) -> None:
        status, body = {
            "/languages": (200, b"<html>welcome</html>"),
            "/runs/bad": (502, b"<html>Bad Gateway</html>"),
            "/runs/empty": (503, b""),
            "/runs/moved": (307, b""),
        }[self.path]
        self.send_response(status)
        if status == 307:
            self.send_header("Location", "http://elsewhere.invalid/runs/moved")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture(scope="module")
def proxy() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Proxy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_an_error_without_isobox_body_keeps_status_and_text(proxy):
    with pytest.raises(ClientError) as failed:
        IsoboxClient(proxy).get_run("bad")
    assert (failed.value.status, failed.value.field) == (502, None)
    assert "Bad Gateway" in failed.value.message
    with pytest.raises(ClientError) as empty:
        IsoboxClient(proxy).get_run("empty")
    assert empty.value.status == 503
    assert empty.value.message


def test_redirects_are_not_followed(proxy):
    with pytest.raises(ClientError) as moved:
        IsoboxClient(proxy, api_key="secret").get_run("moved")
    assert moved.value.status == 307
    assert "http://elsewhere.invalid/runs/moved" in moved.value.message


def test_an_answer_that_is_not_isobox_is_a_request_failure(proxy):
    with pytest.raises(RequestFailed, match="not isobox's LanguagesResponse") as failed:
        IsoboxClient(proxy).languages()
    assert not isinstance(failed.value, ClientError | ServerUnreachable)


@contextmanager
def silent_listener() -> Iterator[str]:
    """A socket that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


def test_a_server_that_does_not_answer_in_time_is_unreachable():
    with silent_listener() as url, pytest.raises(ServerUnreachable, match=url) as failed:
        IsoboxClient(url, timeout=0.3).languages()
    assert "0.3 s" in str(failed.value)


def test_importing_the_client_loads_none_of_the_server():
    # The client is for users' programs: it must not pull in the server, its settings,
    # policy, metrics or web framework (import time, dependencies, and a clean layering).
    server_modules = [
        "isobox.service",
        "isobox.policy",
        "isobox.settings",
        "prometheus_client",
        "yaml",
        "fastapi",
    ]
    script = (
        f"import sys, isobox.client\nprint([m for m in {server_modules!r} if m in sys.modules])\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", script], check=True, capture_output=True, text=True
    ).stdout.strip()
    assert loaded == "[]"
