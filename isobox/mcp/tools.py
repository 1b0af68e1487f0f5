"""The MCP server isobox speaks: two tools, `execute` and `list_languages`, over a `Sandbox`.

The descriptions are written for the model that reads them: what the sandbox is (no network,
fresh per call), its limits and their defaults, and the languages with their main files, as
the server that runs the code states them (`SandboxFacts`). A result comes back as MCP content:
one text block a model can read (verdict, exit code, duration, stdout, stderr, the compile step),
an image block per image the program wrote as an output file, a text block per other output file,
and the whole isobox result as structured content for programs.
"""

from __future__ import annotations

import base64
import binascii
import inspect
import mimetypes
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Protocol

from mcp.server.mcpserver import Context, MCPServer
from mcp_types import CallToolResult, ContentBlock, ImageContent, TextContent, ToolAnnotations
from pydantic import Field, ValidationError

from isobox import __version__
from isobox.models import ExecutionRequest, SourceFile, StageResult
from isobox.wire import ExecuteResponse, LanguageInfo, LanguagesResponse

# Formats an MCP client can show a model as an image.
IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
# Output files beyond this many characters are cut in the text a model reads (the structured
# content keeps them whole).
MAX_FILE_TEXT_CHARS = 64 * 1024
# Whether this build's request model takes `outputs` (files to bring back from the sandbox).
TAKES_OUTPUTS = "outputs" in ExecutionRequest.model_fields


class SandboxUnavailable(Exception):
    """The run could not be done: refused, over a limit, or the server is unreachable. The
    message says why, for the model to read."""


class Sandbox(Protocol):
    """Where the tools send their work: isobox in-process, or an isobox server."""

    async def execute(self, request: ExecutionRequest, context: Context) -> ExecuteResponse:
        """Run `request` to completion, or raise SandboxUnavailable."""
        ...

    async def languages(self) -> LanguagesResponse:
        """The languages the backend can run, or raise SandboxUnavailable."""
        ...


@dataclass(frozen=True)
class SandboxFacts:
    """What the descriptions tell the model; None: not known to this server."""

    languages: Sequence[LanguageInfo] = ()
    default_timeout_s: float | None = None
    max_timeout_s: float | None = None
    default_memory_mib: int | None = None
    max_memory_mib: int | None = None
    compile_timeout_s: float | None = None
    cpus: float | None = None
    pids_limit: int | None = None
    output_limit_bytes: int | None = None
    scratch_mib: int | None = None
    max_code_bytes: int | None = None
    max_stdin_bytes: int | None = None
    max_output_files: int | None = None
    max_output_bytes: int | None = None
    extra: Sequence[str] = field(default_factory=tuple)


def build_server(sandbox: Sandbox, facts: SandboxFacts) -> MCPServer:
    """An MCP server whose tools run on `sandbox`, described by `facts`."""
    server = MCPServer(
        "isobox",
        title="isobox",
        version=__version__,
        instructions=instructions(facts),
    )

    async def list_languages() -> CallToolResult:
        try:
            answer = await sandbox.languages()
        except SandboxUnavailable as error:
            return tool_error(str(error))
        return CallToolResult(
            content=[TextContent(text=languages_text(answer.languages))],
            structured_content=answer.model_dump(mode="json"),
        )

    async def execute(
        language: Annotated[str, Field(description="Language name or alias: see the list.")],
        code: Annotated[str, Field(description="Source of the main file.")],
        context: Context,
        stdin: Annotated[str, Field(description="Text fed to standard input.")] = "",
        args: Annotated[list[str] | None, Field(description="Command-line arguments.")] = None,
        files: Annotated[
            list[SourceFile] | None,
            Field(description="Extra text files beside the main file (relative paths)."),
        ] = None,
        timeout: Annotated[  # noqa: ASYNC109 (the tool argument is the request field)
            float | None, Field(description="Wall-clock limit in seconds; unset: the default.")
        ] = None,
        memory: Annotated[
            int | None, Field(description="Memory limit in MiB; unset: the default.")
        ] = None,
        outputs: Annotated[
            list[str] | None,
            Field(
                description="Files the program writes to bring back: globs relative to the "
                'work directory (`*`, `?`, `[...]`), e.g. ["plot.png", "out/*.csv"]; '
                "images come back as images, text files as text."
            ),
        ] = None,
    ) -> CallToolResult:
        fields: dict[str, Any] = {"language": language, "code": code, "stdin": stdin}
        optional = {"args": args, "files": files, "timeout": timeout, "memory": memory}
        if TAKES_OUTPUTS:
            optional["outputs"] = outputs
        fields.update({name: value for name, value in optional.items() if value is not None})
        try:
            request = ExecutionRequest(**fields)
        except ValidationError as error:
            return tool_error(f"refused: {_first_problem(error)}")
        try:
            result = await sandbox.execute(request, context)
        except SandboxUnavailable as error:
            return tool_error(str(error))
        return result_content(result)

    if not TAKES_OUTPUTS:
        _drop_parameter(execute, "outputs")
    server.add_tool(
        execute,
        name="execute",
        title="Run code in a sandbox",
        description=execute_description(facts),
        annotations=ToolAnnotations(
            title="Run code in a sandbox",
            read_only_hint=False,
            destructive_hint=False,
            idempotent_hint=False,
            open_world_hint=False,
        ),
    )
    server.add_tool(
        list_languages,
        name="list_languages",
        title="Languages the sandbox runs",
        description="List the languages `execute` can run here: name, version, aliases, the main "
        "file the code is saved as, and whether there is a compile step.",
        annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False),
    )
    return server


def tool_error(message: str) -> CallToolResult:
    """A failed call the model reads (and can correct), not a protocol error."""
    return CallToolResult(content=[TextContent(text=message)], is_error=True)


def _first_problem(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ())) or "request"
    return f"{where}: {first.get('msg', 'invalid')}"


def _drop_parameter(function: Any, name: str) -> None:
    """Remove a keyword parameter from what the SDK reads (signature and annotations), so the
    tool does not offer what this build cannot do."""
    signature = inspect.signature(function, eval_str=True)
    function.__signature__ = signature.replace(
        parameters=[p for p in signature.parameters.values() if p.name != name]
    )
    function.__annotations__ = {k: v for k, v in function.__annotations__.items() if k != name}


# What the model reads


def instructions(facts: SandboxFacts) -> str:
    return (
        "isobox runs untrusted code in a fresh, isolated sandbox per call, with no network. "
        "Use `execute` to run a program and read its output; `list_languages` names what runs."
    )


def execute_description(facts: SandboxFacts) -> str:
    lines = [
        "Run a program in a fresh, isolated sandbox and return its stdout, stderr, exit code "
        "and verdict (accepted, time_limit_exceeded, memory_limit_exceeded, runtime_error, "
        "output_limit_exceeded, compilation_error).",
        "",
        "What the sandbox is:",
        "- No network at all: no internet, no DNS, no localhost services; installing packages "
        "(pip, npm, apt) fails. Only the language's standard library and the tools the sandbox "
        "comes with are there.",
        "- A fresh sandbox per call: nothing persists between calls (files, variables, "
        "installed anything). Send everything a run needs in one call: the main `code`, extra "
        "`files`, `stdin`, `args`.",
        "- The program runs as an unprivileged user in a small writable work directory, with "
        "its code saved as the language's main file; a failing program is still a result "
        "(read stderr and the exit code), only a refused request is an error.",
    ]
    if TAKES_OUTPUTS:
        lines.append(
            "- To get files back (plots, generated data), write them in the work directory and "
            "name them in `outputs`; images come back as images."
        )
    lines += ["", "Limits (per call):", *_limit_lines(facts), *facts.extra]
    if facts.languages:
        lines += ["", "Languages (name: main file; compiled ones have a compile step first):"]
        lines += [_language_line(language) for language in facts.languages]
    else:
        lines += ["", "Call `list_languages` for the languages and their main file names."]
    return "\n".join(lines)


def _limit_lines(facts: SandboxFacts) -> list[str]:
    lines = [
        "- Wall clock: `timeout` seconds, "
        + _default_and_max(facts.default_timeout_s, facts.max_timeout_s, "s")
        + "; a run past it is killed (timed_out, verdict time_limit_exceeded).",
        "- Memory: `memory` MiB, no swap, "
        + _default_and_max(facts.default_memory_mib, facts.max_memory_mib, "MiB")
        + "; past it the program is killed (oom_killed).",
    ]
    if facts.compile_timeout_s is not None:
        lines.append(f"- A compile step has its own wall clock, {facts.compile_timeout_s:g} s.")
    if facts.cpus is not None:
        lines.append(f"- CPU: {facts.cpus:g} core(s).")
    if facts.pids_limit is not None:
        lines.append(f"- Processes and threads: at most {facts.pids_limit}.")
    if facts.output_limit_bytes is not None:
        lines.append(
            f"- Output: {_size(facts.output_limit_bytes)} kept per stream (stdout, stderr); "
            "the rest is dropped and flagged as truncated."
        )
    if facts.scratch_mib is not None:
        lines.append(f"- Disk: a {facts.scratch_mib} MiB work directory.")
    if facts.max_code_bytes is not None:
        lines.append(f"- Code: at most {_size(facts.max_code_bytes)}.")
    if facts.max_stdin_bytes is not None:
        lines.append(f"- Stdin: at most {_size(facts.max_stdin_bytes)}.")
    if TAKES_OUTPUTS and facts.max_output_files is not None:
        total = f", {_size(facts.max_output_bytes)} in all" if facts.max_output_bytes else ""
        lines.append(f"- Output files: at most {facts.max_output_files}{total}.")
    return lines


def _default_and_max(default: float | None, maximum: float | None, unit: str) -> str:
    said = [f"default {default:g} {unit}" if default is not None else "the server's default"]
    if maximum is not None:
        said.append(f"at most {maximum:g} {unit}")
    return ", ".join(said)


def _size(count: int) -> str:
    if count % (1024 * 1024) == 0:
        return f"{count // (1024 * 1024)} MiB"
    if count % 1024 == 0:
        return f"{count // 1024} KiB"
    return f"{count} bytes"


def _language_line(language: LanguageInfo) -> str:
    aliases = f" (also {', '.join(language.aliases)})" if language.aliases else ""
    compiled = ", compiled" if language.compiled else ""
    return f"- {language.name} {language.version}{aliases}: {language.file}{compiled}"


def languages_text(languages: Sequence[LanguageInfo]) -> str:
    if not languages:
        return "No language can run here right now."
    return "\n".join(_language_line(language) for language in languages)


# A result as content


@dataclass(frozen=True)
class OutputFile:
    """A file the program wrote and the result brings back, decoded."""

    name: str
    data: bytes
    mime_type: str
    truncated: bool = False

    @property
    def text(self) -> str | None:
        try:
            return self.data.decode("utf-8")
        except UnicodeDecodeError:
            return None


def result_content(result: ExecuteResponse) -> CallToolResult:
    """The text a model reads, images and files after it, and the result as structured data."""
    content: list[ContentBlock] = [TextContent(text=result_text(result))]
    for output in output_files(result):
        cut = " (cut at the output files' limit)" if output.truncated else ""
        if output.mime_type in IMAGE_TYPES and not output.truncated:
            encoded = base64.b64encode(output.data).decode("ascii")
            content.append(ImageContent(data=encoded, mime_type=output.mime_type))
        elif (text := output.text) is not None:
            shown = text if len(text) <= MAX_FILE_TEXT_CHARS else text[:MAX_FILE_TEXT_CHARS] + "…"
            content.append(TextContent(text=f"--- file {output.name}{cut} ---\n{shown}"))
        else:
            content.append(
                TextContent(
                    text=f"--- file {output.name}: {len(output.data)} bytes of "
                    f"{output.mime_type}{cut}, not shown ---"
                )
            )
    return CallToolResult(content=content, structured_content=result.model_dump(mode="json"))


def result_text(result: ExecuteResponse) -> str:
    exit_code = "none" if result.exit_code is None else str(result.exit_code)
    summary = [
        f"verdict: {result.verdict}",
        f"exit code: {exit_code}",
        f"duration: {result.duration_ms} ms",
        f"language: {result.language}",
    ]
    if result.signal:
        summary.append(f"signal: {result.signal}")
    parts = [", ".join(summary)]
    if result.compile is not None:
        parts.append(_stage_text("compile", result.compile))
    if result.compile is None or result.compile.exit_code == 0:
        parts.append(_stage_text("run", result))
    for skipped in getattr(result, "files_skipped", None) or ():
        item = skipped if isinstance(skipped, dict) else _as_dict(skipped)
        parts.append(f"output file {item.get('name')} not sent back: {item.get('reason')}")
    return "\n".join(parts)


def _stage_text(name: str, stage: StageResult) -> str:
    notes = []
    if stage.timed_out:
        notes.append("timed out")
    if stage.oom_killed:
        notes.append("killed: out of memory")
    if stage.cpu_time_exceeded:
        notes.append("CPU-time limit exceeded")
    lines = [f"{name}: {', '.join(notes)}"] if notes else []
    for stream, text, truncated in (
        ("stdout", stage.stdout, stage.stdout_truncated),
        ("stderr", stage.stderr, stage.stderr_truncated),
    ):
        label = f"{name} {stream}" if name == "compile" else stream
        cut = " (truncated)" if truncated else ""
        lines.append(f"--- {label}{cut} ---\n{text}" if text else f"--- {label}: empty ---")
    return "\n".join(lines)


def output_files(result: ExecuteResponse) -> list[OutputFile]:
    """The files a result brings back (`files`: `name`, `content_b64`, `truncated`; read
    tolerantly, so a plain-text `content` or an `encoding: base64` does too)."""
    found: list[OutputFile] = []
    for entry in getattr(result, "files", None) or ():
        item = entry if isinstance(entry, dict) else _as_dict(entry)
        name = str(item.get("name") or item.get("path") or "output")
        data = _file_bytes(item)
        if data is None:
            continue
        mime = item.get("mime_type") or item.get("media_type") or item.get("content_type")
        guessed = mimetypes.guess_type(name)[0]
        mime_type = str(mime or guessed or "application/octet-stream")
        found.append(OutputFile(name, data, mime_type, bool(item.get("truncated"))))
    return found


def _as_dict(entry: Any) -> dict[str, Any]:
    dump = getattr(entry, "model_dump", None)
    return dict(dump()) if callable(dump) else dict(vars(entry))


def _file_bytes(item: dict[str, Any]) -> bytes | None:
    encoded = item.get("content_b64")
    content = encoded if encoded is not None else item.get("content", item.get("data"))
    if content is None:
        return None
    if isinstance(content, bytes):
        return content
    text = str(content)
    if encoded is not None or str(item.get("encoding", "")).lower() in {"base64", "b64"}:
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            return None
    return text.encode("utf-8")
