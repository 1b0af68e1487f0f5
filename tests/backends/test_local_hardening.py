"""The local sandbox's own hardening, checked on the real bubblewrap backend: it refuses to run
without resource limits unless told to, keeps every run's bundle off the host's command lines,
and exposes only the directories a tool outside /usr needs."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
import yaml

from isobox.languages import LanguageRegistry
from isobox.settings import Settings
from tests.helpers.app import api_client
from tests.helpers.environment import clean_environment
from tests.helpers.server import free_port
from tests.helpers.wait import wait_until

pytestmark = pytest.mark.local


def serve_as_nobody(tmp_path: Path, **env: str) -> subprocess.Popen[bytes]:
    """`isobox serve` as uid 65534, which has no writable cgroups."""
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        [
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--",
            sys.executable,
            "-m",
            "isobox",
            "serve",
        ],
        env=clean_environment(ISOBOX_BACKEND="local", PORT=str(port), ISOBOX_POOL_SIZE="", **env),
        stdout=log,
        stderr=log,
        cwd="/",
    )
    process.url = f"http://127.0.0.1:{port}"  # type: ignore[attr-defined]
    return process


def readyz(url: str) -> httpx.Response | None:
    try:
        return httpx.get(f"{url}/readyz", timeout=2)
    except httpx.HTTPError:
        return None


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to become an unprivileged user")
def test_without_writable_cgroups_the_local_backend_refuses_unless_told(tmp_path):
    refusing = serve_as_nobody(tmp_path)
    try:
        answer = wait_until(lambda: readyz(refusing.url), 60, "isobox serve as nobody")
        assert answer.status_code == 503
        execute = httpx.post(
            f"{refusing.url}/execute", json={"language": "bash", "code": "echo hi"}, timeout=30
        )
        assert execute.status_code == 503
        assert "cgroups" in execute.json()["message"]
    finally:
        refusing.terminate()
        refusing.wait(10)
    allowed = serve_as_nobody(tmp_path, ISOBOX_LOCAL_ALLOW_UNLIMITED="true")
    try:
        answer = wait_until(lambda: readyz(allowed.url), 60, "isobox serve as nobody, allowed")
        assert answer.status_code == 200
        assert answer.json()["resource_limits"] == "partial"
        execute = httpx.post(
            f"{allowed.url}/execute", json={"language": "bash", "code": "echo hi"}, timeout=30
        )
        assert execute.json()["stdout"] == "hi\n"
    finally:
        allowed.terminate()
        allowed.wait(10)


def host_command_lines() -> list[bytes]:
    lines = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                lines.append((entry / "cmdline").read_bytes())
    return lines


async def test_no_run_puts_its_code_on_a_host_command_line():
    marker = f"secret-{uuid.uuid4().hex}"
    code = f"import time\n# {marker}\ntime.sleep(2)\n"
    settings = Settings(backend="local", pool_size="")
    async with api_client(settings) as client:
        running = asyncio.create_task(
            client.post("/execute", json={"language": "python", "code": code, "stdin": marker})
        )
        await asyncio.sleep(1)
        seen = host_command_lines()
        result = (await running).json()
    assert result["exit_code"] == 0, result
    assert not [cmdline for cmdline in seen if marker.encode() in cmdline]


async def test_a_tool_outside_usr_exposes_its_bin_and_lib_but_nothing_beside_them(tmp_path):
    prefix = Path(f"/opt/isobox-test-{uuid.uuid4().hex[:8]}")
    link = Path("/usr/local/bin") / f"isobox-test-sh-{prefix.name[-8:]}"
    try:
        (prefix / "bin").mkdir(parents=True)
        (prefix / "lib").mkdir()
        (prefix / "credentials").write_text("do not show")
        (prefix / "lib" / "needed").write_text("shown")
        tool = prefix / "bin" / "tool-sh"
        tool.write_text('#!/bin/sh\nexec /bin/sh "$@"\n')
        tool.chmod(0o755)
        link.symlink_to(tool)
        registry = [
            language.model_dump(mode="json", exclude_none=True)
            for language in LanguageRegistry.load()
        ] + [
            {
                "name": "toolsh",
                "version": "1",
                "file": "main.sh",
                "image": "none",
                "run": [link.name, "{file}"],
                "local": [link.name, "{file}"],
            }
        ]
        languages = tmp_path / "languages.yaml"
        languages.write_text(yaml.safe_dump({"languages": registry}))
        code = (
            f"cat {prefix}/lib/needed; echo; ls {prefix}; cat {prefix}/credentials || echo absent"
        )
        settings = Settings(backend="local", pool_size="", languages_file=languages)
        async with api_client(settings) as client:
            response = await client.post("/execute", json={"language": "toolsh", "code": code})
        result = response.json()
        assert response.status_code == 200, result
        assert result["stdout"] == "shown\nbin\nlib\nabsent\n", result
    finally:
        link.unlink(missing_ok=True)
        shutil.rmtree(prefix, ignore_errors=True)
