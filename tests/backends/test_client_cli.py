"""`isobox run` and `IsoboxClient` against a real `isobox serve` on the local backend (end to end,
so it lives with the real-backend tests).

The CLI runs as a subprocess on real files, so what is checked is what a shell sees: bytes on
stdout and stderr, and the exit code.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from isobox.client import ClientError, IsoboxClient, ServerUnreachable
from isobox.models import ExecutionRequest
from tests.helpers.environment import clean_environment
from tests.helpers.server import free_port, isobox_server
from tests.helpers.wait import wait_until

pytestmark = pytest.mark.local

KEY = "cli-test-key"


@contextmanager
def serving(log: Path, **env: str) -> Iterator[str]:
    """A real `isobox serve` on the local backend; yields its URL."""
    with isobox_server(log, ISOBOX_BACKEND="local", **env) as (url, _):
        yield url


@pytest.fixture(scope="module")
def url(tmp_path_factory) -> Iterator[str]:
    with serving(tmp_path_factory.mktemp("server") / "server.log") as address:
        yield address


@pytest.fixture(scope="module")
def keyed_url(tmp_path_factory) -> Iterator[str]:
    digest = subprocess.run(
        [sys.executable, "-m", "isobox", "hash-key", KEY],
        check=True,
        capture_output=True,
        text=True,
        env=clean_environment(),
    ).stdout.strip()
    log = tmp_path_factory.mktemp("keyed") / "server.log"
    with serving(log, ISOBOX_API_KEY_HASHES=digest) as address:
        yield address


def isobox_run(
    *argv: str, url: str, stdin: bytes = b"", cwd: Path | None = None, **env: str
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "isobox", "run", *argv],
        input=stdin,
        capture_output=True,
        cwd=cwd,
        env=clean_environment(ISOBOX_URL=url, **env),
        timeout=120,
    )


def source(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


# The CLI


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("hello.py", "print('Hello from isobox! ✓')"),
        ("hello.sh", "echo 'Hello from isobox! ✓'"),
    ],
)
def test_hello_world_comes_out_unchanged(url, tmp_path, name, code):
    done = isobox_run(source(tmp_path, name, code), url=url, LC_ALL="C")
    assert (done.returncode, done.stdout, done.stderr) == (
        0,
        "Hello from isobox! ✓\n".encode(),
        b"",
    )


def test_stdout_and_stderr_stay_apart_and_the_exit_code_is_ours(url, tmp_path):
    code = "import sys\nsys.stdout.write('out')\nsys.stderr.write('err')\nsys.exit(3)\n"
    done = isobox_run(source(tmp_path, "split.py", code), url=url)
    assert (done.returncode, done.stdout, done.stderr) == (3, b"out", b"err")
    assert isobox_run(source(tmp_path, "exit.sh", "exit 3"), url=url).returncode == 3


def test_args_after_double_dash_and_options_after_the_file(url, tmp_path):
    code = "import sys\nprint(sys.argv[1:], repr(sys.stdin.read()))"
    program = source(tmp_path, "args.py", code)
    done = isobox_run(program, "--stdin", "typed", "--", "-x", "--flag", "--", "y", url=url)
    assert done.stdout == b"['-x', '--flag', '--', 'y'] 'typed'\n", done.stderr


def test_stdin_dash_pipes_our_stdin_to_the_program(url, tmp_path):
    program = source(tmp_path, "cat.sh", "tr a-z A-Z")
    done = isobox_run(program, "--stdin", "-", url=url, stdin=b"piped\nlines\n")
    assert (done.returncode, done.stdout) == (0, b"PIPED\nLINES\n")


def test_without_stdin_the_program_reads_nothing(url, tmp_path):
    program = source(tmp_path, "count.py", "import sys; print(len(sys.stdin.read()))")
    assert isobox_run(program, url=url, stdin=b"not for the program").stdout == b"0\n"


def test_language_override_and_code_from_stdin(url, tmp_path):
    program = source(tmp_path, "really_bash.py", "echo $((6 * 7))")
    assert isobox_run(program, "--language", "bash", url=url).stdout == b"42\n"
    piped = isobox_run("-", "--language", "python", url=url, stdin=b"print(6 * 7)")
    assert piped.stdout == b"42\n"


def test_an_unknown_extension_lists_the_known_ones(url, tmp_path):
    done = isobox_run(source(tmp_path, "notes.txt", "hello"), url=url)
    assert done.returncode == 2
    message = done.stderr.decode()
    assert "notes.txt" in message
    assert ".txt" in message
    assert ".py (python)" in message
    assert ".sh (bash)" in message
    assert "--language" in message


def test_code_from_stdin_needs_a_language(url):
    done = isobox_run("-", url=url, stdin=b"print(1)")
    assert done.returncode == 2
    assert b"--language" in done.stderr


def test_a_language_the_server_refuses_is_exit_2_with_its_message(url, tmp_path):
    done = isobox_run(source(tmp_path, "x.py", "print(1)"), "-l", "cobol", url=url)
    assert done.returncode == 2
    assert b"unknown language 'cobol'" in done.stderr


def test_a_missing_file_is_exit_2(url, tmp_path):
    done = isobox_run(str(tmp_path / "absent.py"), url=url)
    assert done.returncode == 2
    assert b"absent.py" in done.stderr


def test_usage_errors_are_exit_2(url):
    assert isobox_run(url=url).returncode == 2
    assert isobox_run("x.py", "--timeout", "soon", url=url).returncode == 2


def test_the_api_key_is_required_then_accepted(keyed_url, tmp_path):
    program = source(tmp_path, "hi.sh", "echo hi")
    refused = isobox_run(program, url=keyed_url)
    assert refused.returncode == 2
    assert b"a valid API key is required" in refused.stderr
    assert isobox_run(program, "--api-key", "wrong", url=keyed_url).returncode == 2
    by_flag = isobox_run(program, "--api-key", KEY, url=keyed_url)
    by_env = isobox_run(program, url=keyed_url, ISOBOX_API_KEY=KEY)
    assert (by_flag.returncode, by_flag.stdout) == (0, b"hi\n")
    assert (by_env.returncode, by_env.stdout) == (0, b"hi\n")


def test_a_server_that_is_down_is_exit_2_naming_it(tmp_path):
    down = f"http://127.0.0.1:{free_port()}"
    done = isobox_run(source(tmp_path, "hi.sh", "echo hi"), url=down)
    assert done.returncode == 2
    assert down.encode() in done.stderr
    flagged = isobox_run(source(tmp_path, "hi.sh", "echo hi"), "--url", down, url="http://x:1")
    assert (flagged.returncode, down.encode() in flagged.stderr) == (2, True)


def test_a_timeout_is_exit_124_keeping_the_output_so_far(url, tmp_path):
    program = source(tmp_path, "slow.sh", "echo started; sleep 20; echo finished")
    done = isobox_run(program, "--timeout", "1", url=url)
    assert (done.returncode, done.stdout) == (124, b"started\n")
    assert b"timed out" in done.stderr


def test_a_signal_is_exit_128_plus_its_number(url, tmp_path):
    program = source(tmp_path, "crash.py", "import ctypes\nctypes.string_at(0)\n")
    done = isobox_run(program, url=url)
    assert done.returncode == 128 + 11
    assert b"SIGSEGV" in done.stderr


def test_out_of_memory_is_exit_137(url, tmp_path):
    if httpx.get(f"{url}/readyz").json()["resource_limits"] != "enforced":
        pytest.skip("this host does not let the local backend enforce memory limits")
    program = source(tmp_path, "hog.py", "x = bytearray(512 * 1024 * 1024)\nprint(len(x))")
    done = isobox_run(program, "--memory", "64", url=url)
    assert done.returncode == 137
    assert b"out of memory" in done.stderr


def needs_c(url: str) -> None:
    names = {language.name for language in IsoboxClient(url).languages().languages}
    # make venv builds isobox-launch and hack/test.sh installs gcc: c must be there.
    assert "c" in names, names


def test_a_compile_error_is_the_compilers_exit_code_and_output(url, tmp_path):
    needs_c(url)
    done = isobox_run(source(tmp_path, "broken.c", "int main( {\n"), url=url)
    assert done.returncode not in (0, 2)
    assert done.stdout == b""
    assert b"error" in done.stderr


def test_a_compiled_program_runs_with_args(url, tmp_path):
    needs_c(url)
    code = '#include <stdio.h>\nint main(int c, char **v) { printf("%s\\n", v[1]); return 5; }\n'
    done = isobox_run(source(tmp_path, "hello.c", code), "--", "arg", url=url)
    assert (done.returncode, done.stdout) == (5, b"arg\n")


# The library


def test_execute_returns_the_typed_result(url):
    result = IsoboxClient(url).execute(
        ExecutionRequest(language="py", code="import sys; print(sys.argv[1]); exit(4)", args=["a"])
    )
    assert (result.stdout, result.exit_code, result.language) == ("a\n", 4, "python")
    assert result.backend == "local"
    assert result.compile is None
    assert result.run_id


def test_languages_name_their_main_file(url):
    languages = {entry.name: entry for entry in IsoboxClient(url).languages().languages}
    assert languages["python"].file == "main.py"
    assert languages["bash"].file == "main.sh"
    assert "py" in languages["python"].aliases


def test_runs_submit_get_and_cancel(url):
    client = IsoboxClient(url)
    request = ExecutionRequest(language="bash", code="sleep 0.3; echo later")
    submitted = client.submit_run(request, idempotency_key="client-test-1")
    assert submitted.status == "running"
    again = client.submit_run(request, idempotency_key="client-test-1")
    assert again.run_id == submitted.run_id
    run = wait_until(
        lambda: (state := client.get_run(submitted.run_id)).status != "running" and state,
        30,
        "the run to end",
    )
    assert run.status == "succeeded"
    assert run.result is not None
    assert run.result.stdout == "later\n"

    slow = client.submit_run(ExecutionRequest(language="bash", code="sleep 30.3", timeout=40))
    cancelled = client.cancel_run(slow.run_id)
    assert cancelled.status == "cancelled"
    assert client.get_run(slow.run_id).status == "cancelled"


def test_a_refused_request_is_a_client_error_naming_the_field(url):
    client = IsoboxClient(url)
    with pytest.raises(ClientError) as refused:
        client.execute(ExecutionRequest(language="python", code="x", timeout=10**6))
    assert (refused.value.status, refused.value.error) == (422, "invalid_request")
    assert refused.value.field == "timeout"
    assert "timeout" in refused.value.message
    with pytest.raises(ClientError) as unknown:
        client.get_run("no-such-run")
    assert (unknown.value.status, unknown.value.error) == (404, "not_found")


def test_the_api_key_goes_with_every_call(keyed_url):
    with pytest.raises(ClientError) as refused:
        IsoboxClient(keyed_url).languages()
    assert refused.value.status == 401
    assert refused.value.message == "a valid API key is required"
    assert IsoboxClient(keyed_url, api_key=KEY).languages().languages


def test_an_unreachable_server_is_named():
    down = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ServerUnreachable, match=down):
        IsoboxClient(down).languages()


def test_a_compile_timeout_is_exit_124(url, tmp_path):
    needs_c(url)
    code = '#include <stdio.h>\nint main(void) { puts("never"); return 0; }\n'
    done = isobox_run(source(tmp_path, "slow.c", code), "--compile-timeout", "0.001", url=url)
    assert done.returncode == 124
    assert done.stdout == b""


def test_output_comes_out_live_as_the_program_writes_it(url, tmp_path):
    program = source(
        tmp_path,
        "slow.py",
        "import time\nprint('one', flush=True)\ntime.sleep(1.5)\nprint('two')\n",
    )
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "isobox", "run", program],
        stdout=subprocess.PIPE,
        env=clean_environment(ISOBOX_URL=url),
    )
    assert process.stdout is not None
    first = process.stdout.readline()
    first_at = time.monotonic() - started
    rest = process.stdout.read()
    assert process.wait(60) == 0
    assert (first, rest) == (b"one\n", b"two\n")
    assert time.monotonic() - started - first_at >= 1.0, "the first line came at the end"


def test_no_stream_waits_for_the_whole_answer_and_says_the_same(url, tmp_path):
    program = source(
        tmp_path,
        "both.py",
        "import sys\nprint('out')\nprint('err', file=sys.stderr)\nsys.exit(3)\n",
    )
    streamed = isobox_run(program, url=url)
    waited = isobox_run("--no-stream", program, url=url)
    assert (streamed.returncode, streamed.stdout, streamed.stderr) == (3, b"out\n", b"err\n")
    assert (waited.returncode, waited.stdout, waited.stderr) == (3, b"out\n", b"err\n")
