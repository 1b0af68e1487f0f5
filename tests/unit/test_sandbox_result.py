"""The one merge of the launcher's report with what the runtime saw (every backend uses it)."""

import base64
import json

import pytest

from isobox.errors import SandboxError
from isobox.launcher import FrameDecoder, SandboxEnd, sandbox_result


def frames(*lines: bytes) -> FrameDecoder:
    decoder = FrameDecoder(1024)
    decoder.feed(b"".join(line + b"\n" for line in lines))
    return decoder


def report(stage: str = "run", **fields: object) -> bytes:
    body = {"stage": stage, "exit_code": 0, "signal": None, **fields}
    return b"r " + json.dumps(body).encode()


def out(text: bytes, tag: bytes = b"o") -> bytes:
    return tag + b" " + base64.b64encode(text)


def test_the_report_is_the_result_when_the_runtime_saw_nothing_more():
    result = sandbox_result(frames(out(b"hi"), report(exit_code=3)), SandboxEnd(exit_code=3))
    assert (result.stdout, result.exit_code, result.oom_killed) == ("hi", 3, False)


def test_an_oom_kill_the_runtime_saw_marks_the_program_even_after_exit_0():
    result = sandbox_result(frames(report()), SandboxEnd(exit_code=0, oom_killed=True))
    assert (result.exit_code, result.oom_killed) == (0, True)


def test_an_oom_kill_during_a_failed_compile_marks_the_compile_only():
    decoder = frames(report("compile", exit_code=None, signal="SIGKILL"))
    result = sandbox_result(decoder, SandboxEnd(exit_code=137, oom_killed=True))
    assert result.compile is not None
    assert result.compile.oom_killed
    assert not result.oom_killed


def test_the_deadline_means_timed_out_whatever_was_reported():
    result = sandbox_result(frames(out(b"partial")), SandboxEnd(deadline_hit=True))
    assert (result.stdout, result.timed_out, result.signal, result.exit_code) == (
        "partial",
        True,
        "SIGKILL",
        None,
    )


def test_a_sandbox_oom_that_took_the_launcher_with_it_is_an_oom_kill():
    result = sandbox_result(frames(), SandboxEnd(exit_code=137, oom_killed=True))
    assert (result.oom_killed, result.signal) == (True, "SIGKILL")


@pytest.mark.parametrize("exit_code", [0, 1, 143, None])
def test_a_launcher_that_vanished_without_a_report_is_an_error_never_a_success(exit_code):
    with pytest.raises(SandboxError, match="without reporting a result"):
        sandbox_result(frames(out(b"x")), SandboxEnd(exit_code=exit_code))


def test_a_refusal_frame_is_a_sandbox_error_naming_the_reason():
    refused = b"x " + base64.b64encode(b"network isolation not in force")
    with pytest.raises(SandboxError, match="network isolation not in force"):
        sandbox_result(frames(refused), SandboxEnd(exit_code=125))
