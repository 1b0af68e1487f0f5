"""Compile-and-run latency of the compiled languages beside a bare baseline, in one run.

For each language and backend, alternate a bare compile-and-run of the same hello world with
a `POST /execute`, so that machine noise hits both sides alike, and print medians and ratios:

- docker: `docker run --rm --network none` of the same runtime image, running the registry's
  compile command then the program in a shell (no launcher, no limits, no framing);
- local: the registry's compile command then the program, straight on the host in a temporary
  directory (no sandbox at all).

Both baselines run without isobox's limits, notably its one CPU per run (`ISOBOX_CPUS`), which
multi-threaded compilers (javac) feel.

    python bench/compiled.py [--backends local,docker] [--languages c,cpp,go,java,rust] [--runs 9]
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from latency import compare, isobox_server

from isobox.languages import Language, LanguageRegistry

HELLO = {
    "c": '#include <stdio.h>\nint main(void) { puts("Hello from isobox!"); return 0; }\n',
    "cpp": '#include <iostream>\nint main() { std::cout << "Hello from isobox!" << std::endl; }\n',
    "go": 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("Hello from isobox!") }\n',
    "java": (
        "public class Main {\n"
        '  public static void main(String[] args) { System.out.println("Hello from isobox!"); }\n'
        "}\n"
    ),
    "rust": 'fn main() { println!("Hello from isobox!"); }\n',
}
EXPECTED = b"Hello from isobox!\n"


def shell_script(language: Language, command: list[str]) -> str:
    """Write the source from $SOURCE, compile it, run it: what a bare container does."""
    compile_command = language.compile_command() or []
    return (
        f'printf %s "$SOURCE" > {shlex.quote(language.file)} && '
        f"{shlex.join(compile_command)} && {shlex.join(command)}"
    )


def bare_docker(language: Language) -> Callable[[], None]:
    env = [arg for key, value in language.env.items() for arg in ("--env", f"{key}={value}")]

    def run() -> None:
        done = subprocess.run(
            [
                *("docker", "run", "--rm", "--network", "none", "--user", "10001:10001"),
                *("--workdir", "/workspace", "--tmpfs", "/workspace:exec", "--tmpfs", "/tmp"),
                *("--env", f"SOURCE={HELLO[language.name]}", *env),
                *("--entrypoint", "sh", language.image, "-c"),
                shell_script(language, language.run_command([])),
            ],
            check=True,
            capture_output=True,
        )
        assert done.stdout == EXPECTED, done

    return run


def bare_host(language: Language) -> Callable[[], None]:
    command = language.local_command([]) or language.run_command([])
    # The local backend's search path: the host's Debian toolchains, as isobox runs them.
    env = {**os.environ, "PATH": "/usr/local/bin:/usr/bin:/bin", **language.env}
    env["SOURCE"] = HELLO[language.name]

    def run() -> None:
        with tempfile.TemporaryDirectory(prefix="isobox-bench-") as directory:
            if "GOCACHE" in language.env:
                env["GOCACHE"] = str(Path(directory) / "go-build")
            done = subprocess.run(
                ["sh", "-c", shell_script(language, command)],
                cwd=directory,
                env=env,
                check=True,
                capture_output=True,
            )
        assert done.stdout == EXPECTED, done

    return run


def measure(url: str, language: Language, bare: Callable[[], None], runs: int) -> str:
    with httpx.Client(timeout=120) as client:

        def via_isobox() -> None:
            body = {"language": language.name, "code": HELLO[language.name], "timeout": 30}
            response = client.post(f"{url}/execute", json=body)
            assert response.json()["stdout"] == EXPECTED.decode(), response.text

        return f"{language.name:<5} " + compare(bare, via_isobox, runs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backends", default="local,docker")
    parser.add_argument("--languages", default=",".join(HELLO))
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    registry = LanguageRegistry.load()
    languages = [registry.get(name) for name in args.languages.split(",")]
    print(
        f"compile and run a hello world, {args.runs} alternating runs each, {time.strftime('%Y-%m-%d %H:%M')}"
    )
    baselines = {"local": bare_host, "docker": bare_docker}
    for backend in args.backends.split(","):
        print(f"{backend}:")
        with isobox_server(backend, "unused") as url:
            for language in languages:
                assert language is not None
                print("  " + measure(url, language, baselines[backend](language), args.runs))


if __name__ == "__main__":
    main()
