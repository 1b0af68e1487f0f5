#!/usr/bin/env bash
# List leftover gVisor processes: runsc-sandbox / runsc-gofer processes whose container is gone.
#
#   hack/gvisor/leaks.sh [GRACE_SECONDS]    (default 10)
#
# Prints one line per leftover ("<pid> <sandbox|gofer> <engine> <container id> <age>s") and
# exits 1 if there is any, 0 otherwise. Processes younger than GRACE_SECONDS are ignored: after a
# failed start (docker run/start error) the sandbox and gofer linger ~2 s after the engine has
# already forgotten the container (measured), then exit by themselves.
#
# How they are found: runsc re-executes itself through /proc/self/exe with argv[0] set to
# "runsc-sandbox" or "runsc-gofer" (so comm is "exe", not "runsc"); the pattern is
#   pgrep -f '^runsc-(sandbox|gofer) '
# and the container id is the last path element of --bundle. The engine is told by --root:
#   docker:       --root=/var/run/docker/runtime-runc/moby  (container = a running docker container)
#   test cluster: --root=$ISOBOX_K8S_RUN/runsc/k8s.io       (container = one our runsc root lists)
# isobox-only: isobox's docker sandboxes carry the label isobox.dev/run-id, the cluster's are pods;
# a leftover's container no longer exists, so the label cannot be checked: every leftover counts.
set -uo pipefail
grace=${1:-10}
k8s_run=${ISOBOX_K8S_RUN:-/run/isobox-k8s}
k8s_runsc=${ISOBOX_K8S_CACHE:-/var/cache/isobox-k8s}/bin/runsc

docker_live=$(docker ps -q --no-trunc 2>/dev/null || true)
k8s_live=""
if [ -x "$k8s_runsc" ] && [ -d "$k8s_run/runsc" ]; then
  for root in "$k8s_run"/runsc/*/; do
    [ -d "$root" ] && k8s_live+=" $("$k8s_runsc" --root "$root" list -q 2>/dev/null | tr '\n' ' ')"
  done
fi

found=0
for pid in $(pgrep -f '^runsc-(sandbox|gofer) '); do
  args=$(tr '\0' '\n' < "/proc/$pid/cmdline" 2>/dev/null) || continue
  kind=$(head -1 <<<"$args"); kind=${kind#runsc-}
  root=$(sed -n 's/^--root=//p' <<<"$args" | head -1)
  bundle=$(sed -n 's/^--bundle=//p; /^--bundle$/{n;p}' <<<"$args" | head -1)
  id=${bundle##*/}
  age=$(ps -o etimes= -p "$pid" 2>/dev/null | tr -d ' ')
  [ -n "$age" ] && [ "$age" -ge "$grace" ] || continue
  case $root in
    /var/run/docker/*|/run/docker/*) engine=docker; live=$docker_live ;;
    "$k8s_run"/*) engine=k8s; live=$k8s_live ;;
    *) engine="other(${root:-no --root})"; live="" ;;
  esac
  grep -qw -- "$id" <<<"$live" && continue
  echo "$pid $kind $engine ${id:-?} ${age}s"
  found=1
done
exit $found
