"""Real Piston clients from PyPI, unchanged, run programs on isobox through /api/v2.

Two independent clients: aiopyston (aiohttp; hands back Piston's JSON as it came) and piston-rspy
(the Rust piston_rs crate: reqwest and a typed serde model). They need a live TCP server, so the
module starts a real `isobox serve` on the local backend, with an API key, which both clients
send as Piston clients do: the bare key in `Authorization`.
"""

from __future__ import annotations

import pyston
import pytest

from isobox.api.auth import key_digest
from tests.helpers.server import isobox_server

try:
    import piston_rspy
except ImportError:  # it ships wheels for CPython 3.8 to 3.12 only
    piston_rspy = None

pytestmark = [
    pytest.mark.local,
    pytest.mark.filterwarnings("ignore:verify_ssl is deprecated:DeprecationWarning"),
]

KEY = "piston-client-key"
HELLO = 'print("Hello from isobox!")'


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    log_path = tmp_path_factory.mktemp("piston") / "server.log"
    with isobox_server(log_path, ISOBOX_BACKEND="local", ISOBOX_API_KEY_HASHES=key_digest(KEY)) as (
        url,
        _,
    ):
        yield url


async def failure(call, expected: type[Exception]) -> str:
    """The message of the exception `call` raises.

    Not pytest.raises: its kept traceback would keep an aiopyston client alive past the event
    loop, and the client's __del__ needs that loop.
    """
    try:
        await call
    except expected as error:
        return str(error)
    raise AssertionError(f"no {expected.__name__} was raised")


class Aiopyston:
    """aiopyston 1.2.1: `PystonClient(api_key, base_url)`; it posts to `{base_url}execute/`."""

    def __init__(self, url: str, key: str | None = KEY) -> None:
        self.client = pyston.PystonClient(api_key=key, base_url=f"{url}/api/v2/")

    async def runtimes(self) -> list[tuple[str, str, list[str]]]:
        return [(r.language, r.version, r.aliases) for r in await self.client.runtimes()]

    async def execute(self, language, version, files, **options) -> dict:
        sources = [pyston.File(content, filename=name) for name, content in files]
        output = await self.client.execute(language, sources, version=version, **options)
        return output.raw_json

    async def refusal(self, language, version, files) -> str:
        failing = self.execute(language, version, files)
        return await failure(failing, pyston.exceptions.ExecutionError)

    async def close(self) -> None:
        await self.client.close_session()


class PistonRspy:
    """piston-rspy 0.4.3: `Client.with_url_and_key(url, key)`, an `Executor`, typed results."""

    def __init__(self, url: str) -> None:
        self.client = piston_rspy.Client.with_url_and_key(f"{url}/api/v2", KEY)

    async def runtimes(self) -> list[tuple[str, str, list[str]]]:
        return [(r.language, r.version, r.aliases) for r in await self.client.fetch_runtimes()]

    async def _send(self, language, version, files, **options):
        sources = [piston_rspy.File(name=name, content=content) for name, content in files]
        executor = piston_rspy.Executor(
            language=language, version=version, files=sources, **options
        )
        return await self.client.execute(executor)

    async def execute(self, language, version, files, **options) -> dict:
        response = await self._send(language, version, files, **options)
        assert response.status == 200, response.run.stderr
        return {
            "language": response.language,
            "version": response.version,
            "run": self._stage(response.run),
            "compile": response.compile and self._stage(response.compile),
        }

    @staticmethod
    def _stage(stage) -> dict:
        fields = ("stdout", "stderr", "output", "code", "signal")
        return {field: getattr(stage, field) for field in fields}

    async def refusal(self, language, version, files) -> str:
        # piston_rs turns a non-200 answer into a response carrying its status and body.
        response = await self._send(language, version, files)
        assert response.status == 400
        return response.run.stderr

    async def close(self) -> None:
        pass


@pytest.fixture(
    params=[
        "aiopyston",
        pytest.param(
            "piston-rspy",
            marks=pytest.mark.skipif(piston_rspy is None, reason="no piston-rspy wheel here"),
        ),
    ]
)
async def client(request, server):
    client = Aiopyston(server) if request.param == "aiopyston" else PistonRspy(server)
    yield client
    await client.close()


@pytest.fixture
async def aiopyston_client(server):
    client = Aiopyston(server)
    yield client
    await client.close()


async def test_runtimes_list_what_the_backend_runs(client):
    listed = {
        language: (version, aliases) for language, version, aliases in await client.runtimes()
    }
    assert listed["python"] == ("3.11", ["py", "python3"])
    assert {"node", "bash"} <= listed.keys()


async def test_hello_world(client):
    answer = await client.execute("python", "*", [("hello.py", HELLO)])
    assert (answer["language"], answer["version"]) == ("python", "3.11")
    run = answer["run"]
    assert run["stdout"] == run["output"] == "Hello from isobox!\n"
    assert (run["stderr"], run["code"], run["signal"]) == ("", 0, None)
    assert answer.get("compile") is None


async def test_stdin_and_args_reach_the_program(client):
    code = "import sys; print(repr(sys.stdin.read()), sys.argv[1:])"
    answer = await client.execute("py", "3", [("", code)], stdin="abc", args=["x", "y z"])
    # Piston feeds stdin with a trailing newline; isobox does the same for Piston clients.
    assert answer["run"]["stdout"] == "'abc\\n' ['x', 'y z']\n"


async def test_extra_files_keep_their_names(client):
    files = [
        ("main.py", "import helper; helper.greet()"),
        ("helper.py", "def greet(): print('hi')"),
    ]
    answer = await client.execute("python", "3.11", files)
    assert answer["run"]["stdout"] == "hi\n"


async def test_a_non_zero_exit(client):
    code = "import sys; print('out'); print('boom', file=sys.stderr); sys.exit(3)"
    run = (await client.execute("python", "*", [("", code)]))["run"]
    assert (run["code"], run["signal"]) == (3, None)
    assert (run["stdout"], run["stderr"]) == ("out\n", "boom\n")
    assert run["output"] == "out\nboom\n"  # isobox keeps the streams apart: stdout, then stderr


async def test_a_timeout_is_a_sigkill_without_exit_code(client):
    code = "import time; print('started', flush=True); time.sleep(30)"
    run = (await client.execute("python", "*", [("", code)], run_timeout=1000))["run"]
    assert (run["code"], run["signal"]) == (None, "SIGKILL")
    assert run["stdout"] == "started\n"


@pytest.mark.parametrize(
    ("language", "version", "message"),
    [
        ("python", "9.9", "python-9.9 runtime is unknown"),
        ("cobol", "*", "cobol-* runtime is unknown"),
    ],
)
async def test_an_unknown_runtime_is_pistons_400(client, language, version, message):
    assert message in await client.refusal(language, version, [("", "x")])


async def test_pistons_status_and_message_come_through(aiopyston_client):
    failed = await aiopyston_client.execute("python", "*", [("", "raise SystemExit(2)")])
    assert (failed["run"]["status"], failed["run"]["message"]) == (
        "RE",
        "Exited with error status 2",
    )
    slow = await aiopyston_client.execute(
        "python", "*", [("", "while True: pass")], run_timeout=500
    )
    assert slow["run"]["status"] == "TO"
    assert slow["run"]["wall_time"] >= 500
    killed = await aiopyston_client.execute(
        "python", "*", [("", "import ctypes; ctypes.string_at(0)")]
    )
    assert (killed["run"]["signal"], killed["run"]["status"]) == ("SIGSEGV", "SG")


async def test_a_client_without_the_key_is_refused(server):
    client = Aiopyston(server, key=None)
    try:
        message = await failure(client.runtimes(), pyston.exceptions.UnexpectedError)
    finally:
        await client.close()
    assert "a valid API key is required" in message


@pytest.fixture
async def c_compiler(client):
    # make venv builds isobox-launch and hack/test.sh installs gcc: c must be there.
    assert "c" in {language for language, _, _ in await client.runtimes()}
    return client


async def test_c_compile_error_is_reported_as_compile_and_run(c_compiler):
    answer = await c_compiler.execute("c", "*", [("main.c", "int main(void) { return 0 }")])
    assert answer["compile"]["code"] not in (0, None)
    assert "error" in answer["compile"]["stderr"]
    assert answer["run"] == answer["compile"]  # Piston reports a failed compile as the run too


async def test_c_runtime_error_follows_a_clean_compile(c_compiler):
    code = '#include <stdio.h>\nint main(void) { puts("compiled"); return 4; }'
    answer = await c_compiler.execute("gcc", "*", [("main.c", code)])
    assert answer["compile"]["code"] == 0
    assert (answer["run"]["stdout"], answer["run"]["code"]) == ("compiled\n", 4)
