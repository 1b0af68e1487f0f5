"""Run behaviour cases through isobox's own sandbox shape under runc and runsc (gVisor).

Docker: the docker backend's exact container config (`DockerBackend._container_config`) plus
`runtime=<name>`; the result is what the backend itself reports (`DockerBackend.run`), next to
the raw container state (ExitCode, OOMKilled).
Kubernetes: `manifests.sandbox_pod` (+ deny-all NetworkPolicy in a restricted namespace) with
`runtimeClassName`; reports the launcher's result and the container's terminated state.

  .venv/bin/python hack/gvisor/probe.py docker [runc|runsc] [case...]
  .venv/bin/python hack/gvisor/probe.py k8s    [runc|gvisor] [case...]
  .venv/bin/python hack/gvisor/probe.py startup N [runtime...]   # docker start-up medians (default runc runsc)
Measurement helper only; isobox's tests do not use it.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import time
from typing import Any

from isobox.languages import LanguageRegistry
from isobox.models import ExecutionRequest
from isobox.policy import build_run_spec
from isobox.settings import Settings

CASES: dict[str, dict[str, Any]] = {
    "exit0": {"language": "python", "code": "print('ok')"},
    "exit1": {"language": "python", "code": "import sys; print('bye'); sys.exit(1)"},
    "exit137": {"language": "python", "code": "import sys; sys.exit(137)"},
    "exit255": {"language": "bash", "code": "exit 255"},
    "selfkill": {"language": "python", "code": "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"},
    "segv": {"language": "c", "code": "int main(void){ volatile int *p = 0; return *p; }"},
    "timeout": {"language": "python", "code": "import time\nwhile True: time.sleep(0.1)", "timeout": 2},
    "busy_timeout": {"language": "python", "code": "while True: pass", "timeout": 2},
    "oom": {"language": "python", "code": "b = []\nwhile True: b.append(bytearray(8 << 20))", "memory": 64},
    "oom_out": {"language": "python", "code": "print('before', flush=True)\nb = []\nwhile True: b.append(bytearray(8 << 20))", "memory": 64},
    "threads": {"language": "python", "code": (
        "import threading, time\nts = []\ntry:\n    for _ in range(300):\n        t = threading.Thread(target=time.sleep, args=(2,)); t.start(); ts.append(t)\n"
        "except RuntimeError as e:\n    print('thread failed after', len(ts), e)\nprint('threads', len(ts))"), "timeout": 8},
    "sigterm": {"language": "bash", "code": "kill -TERM $$; echo not-reached"},
    "forkbomb": {"language": "bash", "code": "f(){ f | f & }; f; sleep 3; echo survived", "timeout": 8},
    "pids": {"language": "python", "code": (
        "import os, time\nn = 0\ntry:\n    while True:\n        if os.fork() == 0:\n"
        "            time.sleep(5); os._exit(0)\n        n += 1\nexcept OSError as e:\n"
        "    print('fork failed after', n, e)"), "timeout": 8},
    "bigout": {"language": "python", "code": "import sys\nsys.stdout.write('x' * (3 << 20))"},
    "gcc": {"language": "c", "code": "#include <stdio.h>\nint main(void){ printf(\"c ok\\n\"); return 0; }"},
    "cpp": {"language": "cpp", "code": "#include <iostream>\nint main(){ std::cout << \"cpp ok\\n\"; }"},
    "go": {"language": "go", "code": "package main\nimport \"fmt\"\nfunc main(){ fmt.Println(\"go ok\") }"},
    "java": {"language": "java", "code": "public class Main { public static void main(String[] a){ System.out.println(\"java ok\"); } }"},
    "rust": {"language": "rust", "code": "fn main(){ println!(\"rust ok\"); }"},
    "node": {"language": "node", "code": "console.log('node ok')"},
    "ruby": {"language": "ruby", "code": "puts 'ruby ok'"},
    "kernel": {"language": "bash", "code": "cat /proc/version; id; cat /proc/self/status | grep -E 'Cap(Eff|Bnd)|NoNewPrivs|Seccomp'; touch /x 2>&1; df -h /workspace /tmp | tail -2"},
}

settings = Settings()
registry = LanguageRegistry.load()


def spec_for(case: str):
    return build_run_spec(ExecutionRequest(**CASES[case]), registry, settings)


def brief(result: Any) -> dict[str, Any]:
    d = result.model_dump()
    out: dict[str, Any] = {k: d[k] for k in ("exit_code", "signal", "timed_out", "oom_killed",
                                             "stdout_truncated", "duration_ms")}
    out["stdout"] = d["stdout"][:120] + (f"...[{len(d['stdout'])} chars]" if len(d["stdout"]) > 120 else "")
    out["stderr"] = d["stderr"][-200:]
    if d.get("compile"):
        c = d["compile"]
        out["compile"] = {k: c[k] for k in ("exit_code", "signal", "timed_out", "oom_killed", "duration_ms")}
        out["compile"]["stderr"] = c["stderr"][-200:]
    return out


# ---------------------------------------------------------------- docker
def docker_cases(runtime: str, cases: list[str]) -> None:
    import isobox.backends.docker as dmod
    import isobox.launcher as launcher

    states: list[dict[str, Any]] = []
    if hasattr(dmod, "container_config"):  # backend with the docker_runtime setting
        backend_settings = settings.model_copy(update={"docker_runtime": runtime})
        real = dmod.sandbox_result

        def capture(decoder, end):
            states.append({"ExitCode": end.exit_code, "OOMKilled": end.oom_killed,
                           "deadline_hit": end.deadline_hit, "report": decoder.has_report()})
            return real(decoder, end)

        dmod.sandbox_result = capture
        launcher.sandbox_result = capture
        Backend = dmod.DockerBackend
    else:  # older backend: add the runtime to its container config
        backend_settings = settings
        real_merge = dmod._merge_container_state

        def merge(decoder, state, backstop):
            states.append({k: state.get(k) for k in ("ExitCode", "OOMKilled", "Error")}
                          | {"report": decoder.has_report()})
            return real_merge(decoder, state, backstop)

        dmod._merge_container_state = merge

        class Backend(dmod.DockerBackend):  # type: ignore[no-redef]
            def _container_config(self, spec):
                config = super()._container_config(spec)
                config["runtime"] = runtime
                return config

    async def main() -> None:
        backend = Backend(backend_settings)
        await backend.start()
        for case in cases:
            states.clear()
            t0 = time.monotonic()
            try:
                result = await backend.run(spec_for(case))
                row: dict[str, Any] = brief(result)
            except Exception as error:  # noqa: BLE001
                row = {"error": f"{type(error).__name__}: {error}"}
            row["state"] = states[0] if states else None
            row["wall_s"] = round(time.monotonic() - t0, 2)
            print(json.dumps({"backend": "docker", "runtime": runtime, "case": case, **row}), flush=True)
        await backend.close()

    asyncio.run(main())


def startup(n: int, runtimes: list[str]) -> None:
    image = "localhost/isobox/runtime-python:0.1.0"
    shape = ["--network", "none", "--read-only", "--tmpfs", "/workspace:size=64m,uid=10001,gid=10001",
             "--tmpfs", "/tmp:size=16m,mode=1777", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
             "--memory", "256m", "--memory-swap", "256m", "--pids-limit", "64", "--cpus", "1",
             "--user", "10001:10001", "--log-driver", "json-file", "--entrypoint", "/bin/true"]
    times: dict[str, list[float]] = {runtime: [] for runtime in runtimes}
    for _ in range(n):
        for runtime in runtimes:  # interleaved, same run
            t0 = time.monotonic()
            subprocess.run(["docker", "run", "--rm", "--runtime", runtime, *shape, image], check=True)
            times[runtime].append(time.monotonic() - t0)
    for runtime, values in times.items():
        print(json.dumps({"runtime": runtime, "n": n, "median_s": round(statistics.median(values), 3),
                          "min_s": round(min(values), 3), "max_s": round(max(values), 3)}))


# ---------------------------------------------------------------- kubernetes
def k8s_cases(runtime_class: str, cases: list[str]) -> None:
    import secrets

    from kubernetes import client, config

    from isobox.kubernetes import manifests

    config.load_kube_config()
    core = client.CoreV1Api()
    net = client.NetworkingV1Api()
    ns = f"isobox-gv-{secrets.token_hex(3)}"
    core.create_namespace(manifests.sandbox_namespace(ns))
    net.create_namespaced_network_policy(ns, manifests.deny_all_network_policy(ns))
    import isobox.launcher as launcher

    try:
        for case in cases:
            spec = spec_for(case)
            pod = manifests.sandbox_pod(spec, ns, image_pull_policy="Never")
            if runtime_class != "runc":
                pod["spec"]["runtimeClassName"] = runtime_class
            t0 = time.monotonic()
            core.create_namespaced_pod(ns, pod)
            name = pod["metadata"]["name"]
            limit = manifests.wait_limit_seconds(spec, 60, 30)
            phase, term, reason = None, None, None
            while time.monotonic() - t0 < limit:
                p = core.read_namespaced_pod(name, ns)
                phase, reason = p.status.phase, p.status.reason
                st = (p.status.container_statuses or [None])[0]
                if st is not None and st.state.terminated is not None:
                    t = st.state.terminated
                    term = {"exit_code": t.exit_code, "reason": t.reason, "signal": t.signal}
                if phase in ("Succeeded", "Failed") and (term or reason):
                    break
                time.sleep(0.5)
            wall = round(time.monotonic() - t0, 2)
            try:
                text = core.read_namespaced_pod_log(name, ns, container=manifests.CONTAINER_NAME)
                decoder = launcher.FrameDecoder(spec.limits.output_bytes)
                decoder.feed(text.encode() + b"\n")
                row = brief(decoder.result()) if decoder.has_report() else {"no_report": text[-300:]}
            except Exception as error:  # noqa: BLE001
                row = {"log_error": str(error)[:300]}
            row.update({"phase": phase, "pod_reason": reason, "terminated": term, "wall_s": wall})
            print(json.dumps({"backend": "k8s", "runtime": runtime_class, "case": case, **row}), flush=True)
            core.delete_namespaced_pod(name, ns, grace_period_seconds=0)
    finally:
        core.delete_namespace(ns)


if __name__ == "__main__":
    kind = sys.argv[1]
    if kind == "startup":
        startup(int(sys.argv[2]) if len(sys.argv) > 2 else 10, sys.argv[3:] or ["runc", "runsc"])
    else:
        runtime = sys.argv[2]
        cases = sys.argv[3:] or list(CASES)
        (docker_cases if kind == "docker" else k8s_cases)(runtime, cases)
