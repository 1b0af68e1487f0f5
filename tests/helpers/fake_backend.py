"""A FAKE backend for API-layer tests: it never runs code.

It answers each run from a script keyed by the program's source: `SCRIPTS` below holds the
few programs the API tests send, and a test may pass more. A script says what the "program"
prints, how it exits and how long it "runs"; a script that runs past the run's timeout ends
timed out, as a real sandbox would report it. An unscripted program gets exit code 127 and a
stderr naming the fake, so a test never mistakes it for a real run.

What the API layer hands a backend is kept for assertions: `specs` (every RunSpec, in order),
`in_flight` (run ids running now) and `cancelled` (run ids whose run was cancelled, which is
how a DELETE /runs, a client disconnect or a shutdown reaches a backend).

Real behaviour (sandboxes, limits, clean-up) is proven on the real backends in tests/backends.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from isobox.backends.base import Backend
from isobox.errors import BackendUnavailable
from isobox.languages import Language
from isobox.launcher import OutputListener
from isobox.models import RunResult
from isobox.spec import RunSpec

FOREVER = float("inf")


@dataclass(frozen=True)
class Script:
    """What one scripted program does: its output, its exit, and how long it takes."""

    stdout: str = ""
    stderr: str = ""
    exit_code: int | None = 0
    signal: str | None = None
    seconds: float = 0.001
    oom_killed: bool = False


SCRIPTS: dict[str, Script] = {
    "echo hi": Script(stdout="hi\n"),
    "echo once": Script(stdout="once\n"),
    "exit 4": Script(exit_code=4),
    "sleep 0.5; echo later": Script(stdout="later\n", seconds=0.5),
    "sleep 0.3; echo later": Script(stdout="later\n", seconds=0.3),
    "sleep 1.5; echo done": Script(stdout="done\n", seconds=1.5),
    "sleep 30": Script(seconds=30),
    "print('abc')": Script(stdout="abc\n"),
    "import time; time.sleep(0.2)": Script(seconds=0.2),
    "raise SystemExit(3)": Script(exit_code=3),
    "while True: pass": Script(seconds=FOREVER),
    "print(undefined_variable)": Script(
        stderr="Traceback (most recent call last):\n"
        '  File "/workspace/main.py", line 1, in <module>\n'
        "NameError: name 'undefined_variable' is not defined\n",
        exit_code=1,
    ),
}

UNSCRIPTED = Script(stderr="fake backend: no script for this program\n", exit_code=127)


class FakeBackend(Backend):
    """The Backend interface, answered from scripts (see the module docstring)."""

    name = "fake"

    def __init__(
        self,
        scripts: Mapping[str, Script] | None = None,
        *,
        languages: Iterable[str] | None = None,
        unavailable: str | None = None,
        enforces_resource_limits: bool = True,
    ) -> None:
        self.scripts = {**SCRIPTS, **(scripts or {})}
        self.languages = None if languages is None else set(languages)
        self.unavailable = unavailable
        self._enforces_resource_limits = enforces_resource_limits
        self.specs: list[RunSpec] = []
        self.in_flight: set[str] = set()
        self.cancelled: list[str] = []
        self.started = self.closed = False

    async def start(self) -> None:
        self.started = True

    async def check(self) -> None:
        if self.unavailable is not None:
            raise BackendUnavailable(self.unavailable)

    def supports(self, language: Language) -> bool:
        return self.languages is None or language.name in self.languages

    @property
    def enforces_resource_limits(self) -> bool:
        return self._enforces_resource_limits

    async def run(self, spec: RunSpec, on_output: OutputListener | None = None) -> RunResult:
        await self.check()
        self.specs.append(spec)
        script = self.scripts.get(spec.files[0].content.decode(), UNSCRIPTED)
        timed_out = script.seconds > spec.limits.timeout_s
        began = time.monotonic()
        self.in_flight.add(spec.run_id)
        try:
            await asyncio.sleep(min(script.seconds, spec.limits.timeout_s))
        except asyncio.CancelledError:
            self.cancelled.append(spec.run_id)
            raise
        finally:
            self.in_flight.discard(spec.run_id)
        duration_ms = max(1, int((time.monotonic() - began) * 1000))
        if timed_out:
            return RunResult(
                exit_code=None, signal="SIGKILL", timed_out=True, duration_ms=duration_ms
            )
        if on_output is not None:  # a stream hears the scripted output, once, at the end
            for stream, text in (("stdout", script.stdout), ("stderr", script.stderr)):
                if text:
                    on_output("run", stream, text.encode())
        return RunResult(
            stdout=script.stdout,
            stderr=script.stderr,
            exit_code=script.exit_code,
            signal=script.signal,
            oom_killed=script.oom_killed,
            duration_ms=duration_ms,
        )

    async def close(self) -> None:
        self.closed = True
