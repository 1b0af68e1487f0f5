"""The `isobox` command: `serve` the API (and, with the Kubernetes extra, run the `operator`);
`run` a file on a server; `mcp`, the MCP server on stdio for an agent, running code on a server."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from pydantic import ValidationError

from isobox import __version__, run_command
from isobox.errors import ConfigError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="isobox", description="Run untrusted code safely.")
    parser.add_argument("--version", action="version", version=f"isobox {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the HTTP API")
    serve.add_argument("--host", help="listen address (ISOBOX_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (PORT, default 8000)")
    serve.add_argument(
        "--backend",
        choices=["auto", "local", "docker", "kubernetes", "coderun"],
        help="execution backend (ISOBOX_BACKEND, default auto)",
    )
    commands.add_parser("operator", help="run the CodeRun operator (kopf)")
    commands.add_parser("crd", help="print the CodeRun CustomResourceDefinition as YAML")
    hash_key = commands.add_parser("hash-key", help="print the SHA-256 digest of an API key")
    hash_key.add_argument("key", help="the API key (give the digest to ISOBOX_API_KEY_HASHES)")
    run_command.add_arguments(commands.add_parser("run", help="run a file on an isobox server"))
    mcp = commands.add_parser(
        "mcp", help="serve MCP on stdio for an agent, running code on a server"
    )
    mcp.add_argument(
        "--url", help=f"the isobox server (ISOBOX_URL, default {run_command.DEFAULT_URL})"
    )
    mcp.add_argument("--api-key", help="API key (ISOBOX_API_KEY, which keeps it out of ps)")
    return parser


def _settings(overrides: dict[str, Any]) -> Any:
    from isobox.settings import Settings

    try:
        return Settings(**{key: value for key, value in overrides.items() if value is not None})
    except ValidationError as error:
        sys.exit(f"isobox: invalid configuration:\n{error}")


def serve(host: str | None, port: int | None, backend: str | None) -> None:
    import uvicorn

    from isobox.api.app import create_app
    from isobox.logs import configure_logging

    settings = _settings({"host": host, "port": port, "backend": backend})
    configure_logging(settings.log_level)
    try:
        app = create_app(settings)
        # The asyncio loop, not uvloop: uvloop's subprocess spawning was ~9 ms slower per run.
        # h11, not httptools: only h11 bounds the request line and headers it buffers.
        uvicorn.run(
            app,
            host=settings.host,
            port=settings.port,
            log_config=None,
            loop="asyncio",
            http="h11",
            limit_concurrency=settings.max_connections,
            h11_max_incomplete_event_size=settings.max_header_bytes,
            timeout_graceful_shutdown=settings.shutdown_grace_s,
        )
    except ConfigError as error:
        sys.exit(f"isobox: {error}")


def operator() -> None:
    from isobox.logs import configure_logging
    from isobox.operator import run_operator

    settings = _settings({})
    configure_logging(settings.log_level)
    run_operator(settings)


def print_crd() -> None:
    import yaml

    from isobox.kubernetes.manifests import coderun_crd

    sys.stdout.write(yaml.safe_dump(coderun_crd(), sort_keys=False))


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    program_args: list[str] = []
    if argv[:1] == ["run"]:  # argparse loses options after FILE when it parses `-- ARGS` too
        argv, program_args = run_command.split_program_args(argv)
    arguments = _parser().parse_args(argv)
    if arguments.command == "run":
        sys.exit(run_command.run(arguments, program_args))
    elif arguments.command == "mcp":
        from isobox.mcp.stdio import run as serve_mcp

        sys.exit(serve_mcp(arguments))
    elif arguments.command == "serve":
        serve(arguments.host, arguments.port, arguments.backend)
    elif arguments.command == "operator":
        operator()
    elif arguments.command == "crd":
        print_crd()
    elif arguments.command == "hash-key":
        from isobox.api.auth import key_digest

        print(key_digest(arguments.key))
