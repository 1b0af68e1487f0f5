"""Files in and out on every real backend: binary inputs arrive byte-exact, matching outputs
come back byte-exact, symlinks are refused, oversize outputs are cut and flagged."""

from __future__ import annotations

import base64
import hashlib
import struct
import zlib

# A program that builds a 2x2 PNG by hand (no imaging library) and a CSV.
PNG_AND_CSV = r"""
import os, struct, zlib

def chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

rows = b"".join(b"\x00" + bytes([255, 0, 0, 0, 255, 0]) for _ in range(2))
png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0))
       + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
os.makedirs("out", exist_ok=True)
open("out/plot.png", "wb").write(png)
open("result.csv", "w").write("x,y\n1,2\n3,4\n")
open("out/notes.txt", "w").write("not asked for\n")
print("written")
"""


def expected_png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + bytes([255, 0, 0, 0, 255, 0]) for _ in range(2))
    header = struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


async def execute(client, **fields) -> dict:
    response = await client.post("/execute", json=fields)
    assert response.status_code == 200, response.text
    return response.json()


def files_of(result: dict) -> dict[str, bytes]:
    return {item["name"]: base64.b64decode(item["content_b64"]) for item in result["files"]}


async def test_a_png_and_a_csv_come_back_byte_exact(client):
    result = await execute(
        client, language="python", code=PNG_AND_CSV, outputs=["out/*.png", "result.csv"]
    )
    assert result["stdout"] == "written\n", result["stderr"]
    assert files_of(result) == {"out/plot.png": expected_png(), "result.csv": b"x,y\n1,2\n3,4\n"}
    assert [(item["size"], item["truncated"]) for item in result["files"]] == [
        (len(expected_png()), False),
        (12, False),
    ]
    assert result["files_skipped"] == []


async def test_a_symlink_named_like_an_output_is_refused(client):
    code = (
        "import os\n"
        "os.symlink('/etc/passwd', 'result.csv')\n"
        "open('inside.txt', 'w').write('inside')\n"
        "os.symlink('inside.txt', 'alias.csv')\n"
        "os.symlink('/etc', 'etc')\n"
    )
    result = await execute(
        client, language="python", code=code, outputs=["*.csv", "etc/passwd", "inside.txt"]
    )
    assert result["exit_code"] == 0, result["stderr"]
    assert files_of(result) == {"inside.txt": b"inside"}
    skipped = {item["name"]: item["reason"] for item in result["files_skipped"]}
    assert skipped == {"alias.csv": "a symlink", "etc": "a symlink", "result.csv": "a symlink"}


async def test_an_oversize_output_is_cut_and_flagged(client):
    size = 5 * 1024 * 1024  # past ISOBOX_MAX_OUTPUT_BYTES (4 MiB)
    code = f"open('big.bin', 'wb').write(bytes(range(256)) * {size // 256})\n"
    result = await execute(client, language="python", code=code, outputs=["big.bin"])
    (item,) = result["files"]
    assert (item["name"], item["size"], item["truncated"]) == ("big.bin", size, True)
    content = base64.b64decode(item["content_b64"])
    if client.backend_name == "coderun":
        assert 0 < len(content) < 1024 * 1024  # the CodeRun record's budget
    else:
        assert len(content) == 4 * 1024 * 1024
    assert content == (bytes(range(256)) * (len(content) // 256 + 1))[: len(content)]


async def test_a_binary_input_file_arrives_byte_exact(client):
    data = bytes(range(256)) * 4 + b"\xff\xfe\x00"
    code = (
        "import hashlib\n"
        "data = open('blob.bin', 'rb').read()\n"
        "print(len(data), hashlib.sha256(data).hexdigest())\n"
    )
    files = [{"name": "blob.bin", "content_b64": base64.b64encode(data).decode()}]
    result = await execute(client, language="python", code=code, files=files)
    assert result["stdout"] == f"{len(data)} {hashlib.sha256(data).hexdigest()}\n", result


async def test_an_escaping_glob_is_a_422(client):
    for glob in ["../*", "/etc/passwd", "out/../../x"]:
        response = await client.post(
            "/execute", json={"language": "python", "code": "pass", "outputs": [glob]}
        )
        assert response.status_code == 422, response.text
        assert response.json()["field"] == "outputs[0]"
