#!/usr/bin/env bash
# Tear the test cluster down and remove whatever a previous (possibly killed) run left.
# Idempotent. Touches only what up.sh created:
#  - processes whose pid is recorded in $RUN/*.pid AND whose executable is in $BIN,
#  - containers under our own runc root ($RUN/runc) and the shims serving our containerd socket,
#  - mounts under $STATE and $RUN, the bridge $BRIDGE, cgroups named kubepods*,
#  - iptables rules tagged with the comment "$TAG", and the KUBE-* chains/ipsets of our
#    kube-proxy/kube-router (removed by their own --cleanup modes, only if we ran them).
# Docker, its containerd and its rules are never touched. Keeps $CACHE; wipes $STATE except logs.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || die "must run as root"
quiet=${1:-}

exe_of() { readlink "/proc/$1/exe" 2>/dev/null | sed 's/ (deleted)$//'; }

stop_pid() {  # name signal-wait-seconds
  local f="$RUN/$1.pid" pid exe
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  exe=$(exe_of "$pid")
  if [ -n "$pid" ] && [ -n "$exe" ] && [ "${exe#"$BIN"/}" != "$exe" ]; then
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 $(( ${2:-10} * 10 ))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null && sleep 0.2
    [ -z "$quiet" ] && log "stopped $1 (pid $pid)"
  fi
  rm -f "$f"
}

# 1. control loops first, so nothing restarts pods while we tear down
for c in traefik kube-router kube-proxy kubelet kube-scheduler kube-controller-manager; do stop_pid "$c" 5; done

# 2. containers of our runc root, then our shims, then containerd
if [ -d "$RUN/runc" ]; then
  for root in "$RUN"/runc/*/; do
    [ -d "$root" ] || continue
    for id in $(runc --root "$root" list -q 2>/dev/null); do
      runc --root "$root" kill "$id" KILL >/dev/null 2>&1
      runc --root "$root" delete --force "$id" >/dev/null 2>&1
    done
  done
fi
for p in /proc/[0-9]*; do
  pid=${p#/proc/}
  [ "$(exe_of "$pid")" = "$BIN/containerd-shim-runc-v2" ] || continue
  tr '\0' ' ' < "$p/cmdline" 2>/dev/null | grep -q -- "-address $RUN/containerd.sock" || continue
  kill -KILL "$pid" 2>/dev/null
done
stop_pid containerd 10
stop_pid kube-apiserver 10
stop_pid etcd 10

# 3. mounts under $STATE and $RUN (kubelet tmpfs volumes, overlay rootfs, shm, netns), deepest first
for base in "$STATE" "$RUN"; do
  findmnt -rn -o TARGET | awk -v b="$base/" 'index($0, b) == 1' | sort -r | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
  done
done

# 4. network: our bridge (veths die with their netns), tagged rules, kube-proxy/kube-router state
ip link show "$BRIDGE" >/dev/null 2>&1 && ip link del "$BRIDGE"
for t in filter nat mangle raw; do
  iptables -t "$t" -S 2>/dev/null | grep -- "--comment \"\?$TAG\"\?" | sed 's/^-A /-D /' | while read -r rule; do
    eval "iptables -t $t $rule" 2>/dev/null
  done
done
if [ -f "$STATE/.ran-kube-proxy" ] && [ -x "$BIN/kube-proxy" ]; then
  "$BIN/kube-proxy" --cleanup >/dev/null 2>&1
fi
if [ -f "$STATE/.ran-kube-router" ] && [ -x "$BIN/kube-router" ]; then
  timeout 60 "$BIN/kube-router" --cleanup-config >/dev/null 2>&1
fi

# 5. pod cgroups left by our kubelet (cgroupfs driver, names kubepods*)
for ctl in /sys/fs/cgroup/*/; do
  for top in "$ctl"kubepods*; do
    [ -d "$top" ] && find "$top" -depth -type d -exec rmdir {} \; 2>/dev/null
  done
done

# 6. state (keep logs of the last run for debugging; keep the cache)
if [ -d "$STATE" ]; then
  find "$STATE" -mindepth 1 -maxdepth 1 ! -name logs -exec rm -rf {} + 2>/dev/null
fi
rm -rf "$RUN"
[ -z "$quiet" ] && log "cluster down (cache kept in $CACHE)"
exit 0
