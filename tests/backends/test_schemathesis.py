"""schemathesis against the live OpenAPI schema of a real `isobox serve` (local backend):
generated requests, valid and not, never get a 5xx, every answer has a status, content type
and body the schema documents, and the service is healthy afterwards. Bounded in time."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.helpers.server import isobox_server

pytestmark = pytest.mark.local

# Small limits, so that a generated program that does run ends quickly.
SERVER = {
    "ISOBOX_BACKEND": "local",
    "ISOBOX_DEFAULT_TIMEOUT_S": "1",
    "ISOBOX_MAX_TIMEOUT_S": "2",
    "ISOBOX_COMPILE_TIMEOUT_S": "2",
    "ISOBOX_MAX_COMPILE_TIMEOUT_S": "3",
    "ISOBOX_DEFAULT_MEMORY_MIB": "64",
    "ISOBOX_COMPILE_MEMORY_MIB": "128",
    "ISOBOX_MAX_MEMORY_MIB": "128",
}
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
    ]
)


def test_generated_requests_get_documented_answers_and_no_5xx(tmp_path: Path):
    with isobox_server(tmp_path / "serve.log", **SERVER) as (url, process):
        run = subprocess.run(
            [
                str(Path(sys.executable).with_name("schemathesis")),
                "run",
                f"{url}/openapi.json",
                "--checks",
                CHECKS,
                "--max-examples",
                "15",
                "--max-time",
                "40",
                "--phases",
                "examples,coverage,fuzzing",
                "--request-timeout",
                "15",
                # One worker: hypothesis' lambda descriptions call ast.parse, which CPython 3.11
                # can fail from several threads at once ("AST constructor recursion depth").
                "--workers",
                "1",
                "--seed",
                "15",
                "--suppress-health-check",
                "all",
                "--no-color",
            ],
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )
        report = run.stdout[-6000:] + run.stderr[-2000:]
        assert run.returncode == 0, report
        assert process.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
        assert httpx.get(f"{url}/readyz", timeout=10).status_code == 200
        answer = httpx.post(
            f"{url}/execute", json={"language": "bash", "code": "echo still"}, timeout=30
        )
        assert answer.json()["stdout"] == "still\n"
