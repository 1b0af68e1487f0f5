#!/usr/bin/env bash
# Smoke test of the runtime images built by hack/images/build.sh: for each
# language, run hello world, a stderr write + exit code, stdin echo and a
# timeout through `docker run` with the sandbox hardening flags, and check the
# frames (docs/design.md, "The launcher protocol"). Python also checks OOM.
#
# Note: docker 20.10's `--mount type=tmpfs` has no uid/gid options, so the
# workspace uses `--tmpfs PATH:OPTS`, whose OPTS go straight to mount(2).
# Docker adds noexec,nosuid,nodev to --tmpfs mounts by default.
#
# Usage: hack/images/smoke.sh [lang...]   (default: python node bash)
set -euo pipefail
exec python3 - "$@" <<'PY'
import base64, json, subprocess, sys, time

TAG = "0.1.0"
DOCKER_RUN = [
    "docker", "run", "--rm", "--network=none", "--read-only",
    "--tmpfs", "/workspace:uid=10001,gid=10001,mode=0755",
    "--tmpfs", "/tmp", "--cap-drop", "ALL",
    "--security-opt", "no-new-privileges", "--pids-limit", "128",
]
ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/workspace", "LANG": "C.UTF-8"}

# language -> (file name, interpreter, programs by case)
PROGRAMS = {
    "python": ("main.py", "python3", {
        "hello": 'print("hello from python")',
        "stderr": 'import sys\nsys.stderr.write("oops\\n")\nsys.exit(3)',
        "stdin": 'import sys\nsys.stdout.write(sys.stdin.read().upper())',
        "timeout": 'import time\nprint("sleeping", flush=True)\ntime.sleep(30)',
        "oom": 'b = bytearray(512 * 1024 * 1024)\nprint("survived")',
    }),
    "node": ("main.js", "node", {
        "hello": 'console.log("hello from node")',
        "stderr": 'process.stderr.write("oops\\n"); process.exitCode = 3',
        "stdin": 'let s = ""; process.stdin.on("data", d => s += d);\n'
                 'process.stdin.on("end", () => process.stdout.write(s.toUpperCase()))',
        "timeout": 'console.log("sleeping"); setTimeout(() => {}, 30000)',
    }),
    "bash": ("main.sh", "bash", {
        "hello": 'echo "hello from bash"',
        "stderr": 'echo oops >&2; exit 3',
        "stdin": 'tr a-z A-Z',
        "timeout": 'echo sleeping; sleep 30',
    }),
}

# case -> (expected stdout, expected stderr, expected result fields, extra docker args)
EXPECT = {
    "hello": (None, "", {"exit_code": 0, "signal": None, "timed_out": False}, []),
    "stderr": ("", "oops\n", {"exit_code": 3, "signal": None}, []),
    "stdin": ("HELLO STDIN\n", "", {"exit_code": 0}, []),
    "timeout": ("sleeping\n", "", {"exit_code": None, "signal": "SIGKILL", "timed_out": True,
                                   "oom_killed": False}, []),
    "oom": ("", None, {"signal": "SIGKILL", "oom_killed": True, "timed_out": False},
            ["--memory=64m", "--memory-swap=64m"]),
}


def bundle(lang, case):
    name, interpreter, programs = PROGRAMS[lang]
    spec = {
        "workdir": "/workspace",
        "files": [{"path": name, "content_b64": b64(programs[case])}],
        "compile": None,
        "command": [interpreter, name],
        "stdin_b64": b64("hello stdin\n" if case == "stdin" else ""),
        "timeout_ms": 1500 if case == "timeout" else 10000,
        "output_limit": 1 << 20,
        "env": ENV,
    }
    return b64(json.dumps(spec))


def b64(text):
    return base64.b64encode(text.encode()).decode()


def parse(stdout):
    streams, result = {"o": b"", "e": b""}, None
    for line in stdout.decode().splitlines():
        tag, _, payload = line.partition(" ")
        if tag == "r":
            result = json.loads(payload)
        else:
            streams[tag] += base64.b64decode(payload)
    return streams["o"].decode(), streams["e"].decode(), result


def run_case(lang, case):
    want_out, want_err, want_result, extra = EXPECT[case]
    image = f"localhost/isobox/runtime-{lang}:{TAG}"
    cmd = DOCKER_RUN + extra + ["-e", "ISOBOX_BUNDLE_0=" + bundle(lang, case), image]
    start = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, timeout=60)
    elapsed = time.monotonic() - start
    out, err, result = parse(proc.stdout)
    problems = []
    if want_out is None:
        want_out = f"hello from {lang}\n"
    if out != want_out:
        problems.append(f"stdout {out!r} != {want_out!r}")
    if want_err is not None and err != want_err:
        problems.append(f"stderr {err!r} != {want_err!r}")
    for key, value in want_result.items():
        if result is None or result.get(key) != value:
            problems.append(f"result {key}={None if result is None else result.get(key)!r}, want {value!r}")
    status = "ok  " if not problems else "FAIL"
    print(f"{status} {lang:6} {case:8} {elapsed:5.2f}s exit={proc.returncode} r={json.dumps(result)}")
    for p in problems + ([f"launcher stderr: {proc.stderr.decode()!r}"] if problems else []):
        print(f"       {p}")
    return not problems


def main(langs):
    ok = True
    for lang in langs or ["python", "node", "bash"]:
        for case in PROGRAMS[lang][2]:
            ok &= run_case(lang, case)
    print("smoke: all passed" if ok else "smoke: FAILED")
    return 0 if ok else 1


sys.exit(main(sys.argv[1:]))
PY
