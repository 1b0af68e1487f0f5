#!/usr/bin/env bash
# Start dockerd in the background unless a Docker engine already answers (no systemd here), and
# register gVisor as the extra runtime "runsc" (the default runtime stays runc).
#
# The runtime is declared in the daemon config file (ISOBOX_DOCKER_CONFIG, default
# /etc/docker/daemon.json; only its "runtimes.runsc" key is written, other keys are kept) as
#   {"path": "<runsc>", "runtimeArgs": ["--network=none", "--oci-seccomp"]}
# --network=none: a `--network none` container under plain runsc fails with "cannot run with
# network enabled in root network namespace" (Docker 20.10); sandboxes have no network anyway.
# --oci-seccomp: runsc ignores the container's seccomp profile unless told (Seccomp 0 inside);
# with it Docker's default profile also filters inside the sandbox (Seccomp 2, as under runc). An engine that already runs without the runtime is told to reload its config
# (SIGHUP; "runtimes" is a live-reloadable option, running containers are not touched).
# No runsc on the host (apt-get install runsc): the engine is left as it is.
set -euo pipefail
log=/var/log/isobox-dockerd.log
config=${ISOBOX_DOCKER_CONFIG:-/etc/docker/daemon.json}
# Which runsc: ISOBOX_RUNSC, else the pinned build of the test cluster's cache (hack/cluster/build.sh
# gvisor; hack/test.sh builds it first), else Debian's package (20221219: `ls` fails on bookworm
# images and many processes crash it under a pids limit, see docs/test-cluster.md §13).
runsc=${ISOBOX_RUNSC:-}
pinned=${ISOBOX_K8S_CACHE:-/var/cache/isobox-k8s}/bin/runsc
[ -n "$runsc" ] || { [ -x "$pinned" ] && runsc=$pinned; } || runsc=$(command -v runsc || true)

has_runsc() {  # [path]: the engine knows runtime runsc (at that path)
  docker info --format '{{json .Runtimes.runsc}}' 2>/dev/null | grep -q "\"path\":\"${1:-}"
}

write_config() {  # merge runtimes.runsc into $config; exit status 0 = file changed
  mkdir -p "$(dirname "$config")"
  python3 - "$config" "$runsc" <<'PY'
import json, os, sys
path, runsc = sys.argv[1], sys.argv[2]
try:
    with open(path) as f:
        config = json.load(f)
except FileNotFoundError:
    config = {}
want = {"path": runsc, "runtimeArgs": ["--network=none", "--oci-seccomp"]}
if config.get("runtimes", {}).get("runsc") == want:
    sys.exit(1)
config.setdefault("runtimes", {})["runsc"] = want
tmp = path + ".isobox.tmp"
with open(tmp, "w") as f:
    json.dump(config, f, indent=2)
    f.write("\n")
os.replace(tmp, path)
PY
}

changed=0
if [ -n "$runsc" ]; then
  if write_config; then changed=1; echo "registered runtime runsc ($runsc --network=none --oci-seccomp) in $config"; fi
else
  echo "runsc not installed: docker engine without the gVisor runtime (apt-get install runsc)"
fi

if docker info >/dev/null 2>&1; then
  if [ -n "$runsc" ] && { [ $changed = 1 ] || ! has_runsc "$runsc"; }; then
    pid=$(cat /var/run/docker.pid 2>/dev/null || true)
    if [ -n "$pid" ] && [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$(command -v dockerd)" ]; then
      echo "docker engine (pid $pid): reloading its config for runtime runsc"
      kill -HUP "$pid"
      for _ in $(seq 1 50); do has_runsc "$runsc" && break; sleep 0.1; done
    fi
    has_runsc "$runsc" || echo "warning: the running docker engine has no runtime runsc at $runsc (does it read $config?)" >&2
  fi
  exit 0
fi

args=()
[ "$config" = /etc/docker/daemon.json ] || args+=(--config-file "$config")
echo "starting dockerd (log: $log)"
setsid dockerd "${args[@]}" >"$log" 2>&1 < /dev/null &
for _ in $(seq 1 60); do
  docker info >/dev/null 2>&1 && exit 0
  sleep 1
done
echo "dockerd did not answer within 60 s; last lines of $log:" >&2
tail -20 "$log" >&2
exit 1
