"""The Python side of the launcher protocol: bundles out, frames in, memory bounded."""

import base64
import json

from isobox.languages import LanguageRegistry
from isobox.launcher import BUNDLE_CHUNK_CHARS, FrameDecoder, bundle_document, bundle_environment
from isobox.models import ExecutionRequest
from isobox.policy import build_run_spec
from isobox.settings import Settings


def frame(tag: str, data: bytes) -> bytes:
    return f"{tag} {base64.b64encode(data).decode()}\n".encode()


def report(**fields) -> bytes:
    body = {"stage": "run", "exit_code": 0, "signal": None, "timed_out": False, **fields}
    return f"r {json.dumps(body)}\n".encode()


def spec(code: str = "print(1)"):
    request = ExecutionRequest(language="python", code=code, stdin="in", args=["a"])
    return build_run_spec(request, LanguageRegistry.load(), Settings(max_code_bytes=1 << 20))


def test_bundle_round_trips_through_the_environment():
    environment = bundle_environment(spec())
    payload = "".join(environment[f"ISOBOX_BUNDLE_{i}"] for i in range(len(environment)))
    document = json.loads(base64.b64decode(payload))
    assert document == bundle_document(spec())
    assert document["command"] == ["python3", "main.py", "a"]
    assert base64.b64decode(document["stdin_b64"]) == b"in"
    assert document["env"]["HOME"] == "/workspace"


def test_large_bundles_are_split_below_the_kernel_string_limit():
    environment = bundle_environment(spec("x" * 300_000))
    assert len(environment) > 1
    assert all(len(value) <= BUNDLE_CHUNK_CHARS for value in environment.values())


def test_streams_are_rebuilt_apart_from_any_chunking():
    stream = (
        frame("o", b"out1\n") + frame("e", b"err\n") + frame("o", b"out2\n") + report(exit_code=3)
    )
    decoder = FrameDecoder(limit=1024)
    for index in range(0, len(stream), 7):
        decoder.feed(stream[index : index + 7])
    result = decoder.result()
    assert (result.stdout, result.stderr, result.exit_code) == ("out1\nout2\n", "err\n", 3)
    assert decoder.has_report()


def test_output_beyond_the_limit_is_dropped_and_flagged():
    decoder = FrameDecoder(limit=10)
    decoder.feed(frame("o", b"0123456789abcdef") + report())
    result = decoder.result()
    assert result.stdout == "0123456789"
    assert result.stdout_truncated
    assert not result.stderr_truncated


def test_compile_frames_go_to_the_compile_stage():
    decoder = FrameDecoder(limit=100)
    decoder.feed(frame("ce", b"syntax error") + report(stage="compile", exit_code=1))
    result = decoder.result()
    assert result.compile is not None
    assert result.compile.stderr == "syntax error"
    assert result.stderr == ""
    assert decoder.has_report()


def test_garbage_lines_are_counted_not_trusted():
    decoder = FrameDecoder(limit=100)
    decoder.feed(b"hello\no !!!notbase64\n" + frame("o", b"ok"))
    assert decoder.result().stdout == "ok"
    assert decoder.garbage_lines == 2
    assert not decoder.has_report()


def test_an_endless_line_does_not_grow_memory():
    decoder = FrameDecoder(limit=100)
    for _ in range(100):
        decoder.feed(b"x" * 65536)
    assert len(decoder._pending) <= FrameDecoder.MAX_LINE


def test_a_launcher_failure_is_reported_apart_from_program_output():
    decoder = FrameDecoder(limit=100)
    decoder.feed(b"x " + base64.b64encode(b"network isolation not in force") + b"\n")
    assert decoder.launcher_error == "network isolation not in force"
    assert not decoder.has_report()


def test_only_the_smaller_stage_gets_its_own_memory_limit():
    settings = Settings(max_memory_mib=1024)
    registry = LanguageRegistry.load()

    def document(**fields):
        request = ExecutionRequest(language="c", code="int main(void){}", **fields)
        return bundle_document(build_run_spec(request, registry, settings))

    # The sandbox has 512 MiB for the compiler; the launcher holds the program to 64.
    smaller_run = document(memory=64, compile_memory=512)
    assert (smaller_run["memory_bytes"], smaller_run["compile"]["memory_bytes"]) == (64 << 20, 0)
    smaller_compile = document(memory=600, compile_memory=100)
    assert smaller_compile["compile"]["memory_bytes"] == 100 << 20
    assert smaller_compile["memory_bytes"] == 0
