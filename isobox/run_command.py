"""`isobox run FILE`: run a file on an isobox server as if it ran here.

The program's stdout and stderr come out on ours, unchanged, and its exit status becomes ours,
so `isobox run` fits in shell pipelines. The exit-code contract:

- the program's own exit code when it exits;
- a compile step that fails: the compiler's exit code (its output goes to stderr either way);
- a timeout: 124 (like `timeout(1)`); killed by a signal N: 128 + N; out of memory: 137;
- the server refuses the request or cannot be reached, or a usage error: 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:  # the client is imported when a run starts: `isobox --help` stays quick
    from isobox.client import IsoboxClient
    from isobox.models import ExecutionRequest, StageResult
    from isobox.wire import ExecuteResponse, LanguagesResponse

DEFAULT_URL = "http://127.0.0.1:8000"
FAILED = 2
INTERRUPTED = 130
STDIN = "-"


class UsageError(Exception):
    """The command line asks for something `isobox run` cannot do."""


@dataclass(frozen=True)
class Outcome:
    """What `isobox run` reports: the exit code, and notes for stderr about how it ended."""

    exit_code: int
    notes: tuple[str, ...] = ()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.usage = "isobox run FILE [options] [-- ARGS...]"
    parser.add_argument("file", metavar="FILE", help=f"the program's source ({STDIN}: stdin)")
    parser.add_argument(
        "--language", "-l", help="language name or alias (default: from FILE's extension)"
    )
    parser.add_argument(
        "--url", default=None, help=f"the isobox server (ISOBOX_URL, default {DEFAULT_URL})"
    )
    parser.add_argument(
        "--api-key", default=None, help="API key (ISOBOX_API_KEY, which keeps it out of ps)"
    )
    parser.add_argument(
        "--stdin", metavar="TEXT", help=f"the program's standard input ({STDIN}: read ours)"
    )
    parser.add_argument("--timeout", type=float, metavar="S", help="wall-clock limit in seconds")
    parser.add_argument("--memory", type=int, metavar="MIB", help="memory limit in MiB")
    parser.add_argument(
        "--compile-timeout", type=float, metavar="S", help="compile step's limit in seconds"
    )
    parser.add_argument(
        "--compile-memory", type=int, metavar="MIB", help="compile step's memory limit in MiB"
    )
    parser.add_argument(
        "--cpu-time", type=float, metavar="S", help="CPU-time limit of the program in seconds"
    )
    parser.add_argument(
        "--no-stream",
        action="store_true",
        help="wait for the whole answer instead of showing the output as it comes",
    )


def split_program_args(argv: list[str]) -> tuple[list[str], list[str]]:
    """`isobox run`'s own arguments, and the program's: everything after the first `--`."""
    if "--" not in argv:
        return argv, []
    cut = argv.index("--")
    return argv[:cut], argv[cut + 1 :]


def run(arguments: argparse.Namespace, program_args: list[str]) -> int:
    """Run the file the arguments name; the exit code to leave with."""
    from isobox.client import IsoboxClient, RequestFailed

    url = arguments.url or os.environ.get("ISOBOX_URL") or DEFAULT_URL
    api_key = arguments.api_key or os.environ.get("ISOBOX_API_KEY") or None
    try:
        client = IsoboxClient(url, api_key=api_key)
    except ValueError as error:
        _note(f"--url / ISOBOX_URL: {error}")
        return FAILED
    try:
        request = _request(arguments, program_args, client)
        if arguments.no_stream:
            outcome = report(client.execute(request))
        else:
            outcome = ended(client.execute_streamed(request, show))
    except (UsageError, RequestFailed) as error:
        _note(str(error))
        return FAILED
    except KeyboardInterrupt:
        return INTERRUPTED
    for line in outcome.notes:
        _note(line)
    return outcome.exit_code


def report(result: ExecuteResponse) -> Outcome:
    """Write the program's output (compile output to stderr first); how it ended."""
    compiled = result.compile
    if compiled is not None:
        _write(sys.stderr, compiled.stdout + compiled.stderr)
    _write(sys.stdout, result.stdout)
    _write(sys.stderr, result.stderr)
    return ended(result)


def show(stage: str, stream: str, text: str) -> None:
    """A streamed piece of output, as it comes: the program's to our stdout or stderr, a
    compile step's to stderr."""
    _write(sys.stdout if (stage, stream) == ("run", "stdout") else sys.stderr, text)


def ended(result: ExecuteResponse) -> Outcome:
    """How the compile step or, if it passed, the program ended."""
    from isobox.outcome import stage_failed

    if result.compile is not None and stage_failed(result.compile):
        return outcome_of(result.compile, "compile")
    return outcome_of(result, "program")


def outcome_of(stage: StageResult, what: str) -> Outcome:
    """The exit code (and notes) for how a compile step or program ended."""
    from isobox.outcome import Ending, exit_status, stage_ending

    notes = [
        f"{what} {stream} truncated at the server's output limit"
        for stream, cut in (("stdout", stage.stdout_truncated), ("stderr", stage.stderr_truncated))
        if cut
    ]
    match stage_ending(stage):
        case Ending.TIMEOUT:
            notes.append(f"{what} timed out")
        case Ending.OOM:
            notes.append(f"{what} ran out of memory")
        case _ if stage.signal is not None:
            notes.append(f"{what} killed by {stage.signal}")
        case _ if stage.exit_code is None:
            notes.append(f"{what} ended without an exit status")
    return Outcome(exit_status(stage), tuple(notes))


def infer_language(file: str, languages: LanguagesResponse) -> str:
    """The language whose main file has FILE's extension, or a UsageError listing the choices."""
    extension = Path(file).suffix.lower()
    by_extension: dict[str, list[str]] = {}
    for language in languages.languages:
        by_extension.setdefault(Path(language.file).suffix.lower(), []).append(language.name)
    matches = by_extension.get(extension, []) if extension else []
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise UsageError(
            f"{file}: {extension} could be {' or '.join(matches)}; choose one with --language"
        )
    known = ", ".join(
        f"{ext} ({'/'.join(names)})" for ext, names in sorted(by_extension.items()) if ext
    )
    what = f"no language on this server runs {extension} files" if extension else "no extension"
    raise UsageError(f"{file}: {what}; known: {known}; or give --language")


def _request(
    arguments: argparse.Namespace, program_args: list[str], client: IsoboxClient
) -> ExecutionRequest:
    from isobox.models import ExecutionRequest

    if arguments.file == STDIN and arguments.stdin == STDIN:
        raise UsageError("FILE and --stdin cannot both be read from stdin")
    if arguments.file == STDIN:
        if not arguments.language:
            raise UsageError("reading the program from stdin needs --language")
        code = _text(sys.stdin.buffer.read(), "stdin")
    else:
        try:
            code = _text(Path(arguments.file).read_bytes(), arguments.file)
        except OSError as error:
            raise UsageError(f"cannot read {arguments.file}: {error.strerror or error}") from error
    stdin = arguments.stdin or ""
    if stdin == STDIN:
        stdin = _text(sys.stdin.buffer.read(), "stdin")
    language = arguments.language or infer_language(arguments.file, client.languages())
    return ExecutionRequest(
        language=language,
        code=code,
        stdin=stdin,
        args=program_args,
        timeout=arguments.timeout,
        memory=arguments.memory,
        compile_timeout=arguments.compile_timeout,
        compile_memory=arguments.compile_memory,
        cpu_time=arguments.cpu_time,
    )


def _text(data: bytes, source: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise UsageError(
            f"{source} is not UTF-8 text ({error.reason} at byte {error.start})"
        ) from error


def _write(stream: TextIO, text: str) -> None:
    """`text` exactly as the program wrote it: UTF-8, whatever our locale."""
    if text:
        stream.flush()
        stream.buffer.write(text.encode("utf-8"))
        stream.buffer.flush()


def _note(message: str) -> None:
    sys.stderr.flush()
    sys.stderr.write(f"isobox: {message}\n")
    sys.stderr.flush()
