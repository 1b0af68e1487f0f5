#!/usr/bin/env bash
# Tear the test cluster down and remove whatever a previous (possibly killed) run left.
# Idempotent. Touches only what up.sh created:
#  - processes whose pid is recorded in $RUN/*.pid AND whose executable is in $BIN,
#  - containers under our own runc and runsc roots ($RUN/runc, $RUN/runsc), the shims serving our
#    containerd socket, runsc sandbox/gofer processes of our runsc root,
#  - mounts under $STATE and $RUN, the bridge $BRIDGE, cgroups named kubepods*,
#  - iptables rules tagged with the comment "$TAG", and the KUBE-* chains/ipsets of our
#    kube-proxy/kube-router (removed by their own --cleanup modes, only if we ran them).
# Docker, its containerd and its rules are never touched. Keeps $CACHE; wipes $STATE except logs.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || die "must run as root"
quiet=${1:-}

exe_of() { readlink "/proc/$1/exe" 2>/dev/null | sed 's/ (deleted)$//'; }

# stop_pids SECONDS NAME...: SIGTERM every recorded pid (only if its executable is in $BIN),
# wait up to SECONDS for all of them, then SIGKILL what is left.
stop_pids() {
  local secs=$1; shift
  local name f pid exe pids=()
  for name in "$@"; do
    f="$RUN/$name.pid"
    [ -f "$f" ] || continue
    pid=$(cat "$f"); exe=$(exe_of "$pid")
    if [ -n "$pid" ] && [ -n "$exe" ] && [ "${exe#"$BIN"/}" != "$exe" ]; then
      kill -TERM "$pid" 2>/dev/null && pids+=("$pid")
      [ -z "$quiet" ] && log "stopping $name (pid $pid)"
    fi
    rm -f "$f"
  done
  [ ${#pids[@]} -gt 0 ] || return 0
  for _ in $(seq 1 $(( secs * 10 ))); do
    local alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && return 0
    sleep 0.1
  done
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null; done
  sleep 0.2
}

# 1. control loops first, so nothing restarts pods while we tear down
stop_pids 5 traefik kube-router kube-proxy kubelet kube-scheduler kube-controller-manager

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
# gVisor (RuntimeClass gvisor): containers of our runsc root ($RUN/runsc/<namespace>)
if [ -d "$RUN/runsc" ] && [ -x "$BIN/runsc" ]; then
  for root in "$RUN"/runsc/*/; do
    [ -d "$root" ] || continue
    for id in $("$BIN/runsc" --root "$root" list -q 2>/dev/null); do
      "$BIN/runsc" --root "$root" kill "$id" KILL >/dev/null 2>&1
      "$BIN/runsc" --root "$root" delete --force "$id" >/dev/null 2>&1
    done
  done
fi
for p in /proc/[0-9]*; do
  pid=${p#/proc/}
  case "$(exe_of "$pid")" in "$BIN/containerd-shim-runc-v2"|"$BIN/containerd-shim-runsc-v1") ;; *) continue ;; esac
  args=$(tr '\0' '\n' < "$p/cmdline" 2>/dev/null)
  [ "$(grep -A1 -x -- -address <<<"$args" | tail -1)" = "$RUN/containerd.sock" ] || continue
  ns=$(grep -A1 -x -- -namespace <<<"$args" | tail -1); id=$(grep -A1 -x -- -id <<<"$args" | tail -1)
  kill -KILL "$pid" 2>/dev/null
  # a killed shim leaves its socket in /run/containerd/s/ (shared with other containerds):
  # remove exactly ours, named sha256("<containerd address>/<namespace>/<id>")
  sock=/run/containerd/s/$(printf '%s' "$RUN/containerd.sock/$ns/$id" | sha256sum | cut -c1-64)
  [ -n "$id" ] && rm -f "$sock"
done
# runsc sandbox/gofer processes of our root that outlived their container (a failed start, a
# killed shim): argv[0] runsc-sandbox|runsc-gofer, exe $BIN/runsc, --root=$RUN/runsc/...
for pid in $(pgrep -f '^runsc-(sandbox|gofer) '); do
  [ "$(exe_of "$pid")" = "$BIN/runsc" ] || continue
  tr '\0' '\n' < "/proc/$pid/cmdline" 2>/dev/null | grep -q -x -- "--root=$RUN/runsc/.*" || continue
  kill -KILL "$pid" 2>/dev/null
done
stop_pids 10 containerd
stop_pids 10 kube-apiserver
stop_pids 10 etcd

[ -z "$quiet" ] && log "unmounting"
# 3. mounts under $STATE and $RUN (kubelet tmpfs volumes, overlay rootfs, shm, netns), deepest first
for base in "$STATE" "$RUN"; do
  findmnt -rn -o TARGET | awk -v b="$base/" 'index($0, b) == 1' | sort -r | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
  done
done

[ -z "$quiet" ] && log "removing bridge and iptables rules"
# 4. network: our bridge (veths die with their netns), tagged rules, kube-proxy/kube-router state
ip link show "$BRIDGE" >/dev/null 2>&1 && ip link del "$BRIDGE"
for t in filter nat mangle raw; do
  iptables -t "$t" -S 2>/dev/null | grep -- "--comment \"\?$TAG\"\?" | sed 's/^-A /-D /' | while read -r rule; do
    eval "iptables -t $t $rule" 2>/dev/null
  done
done
# KUBE-* chains (IPv4 and IPv6) belong to our kubelet, kube-proxy and kube-router; nothing else on
# these machines creates them. Only removed when a marker says we ran those components.
# (kube-router --cleanup-config panics without a cluster; kube-proxy --cleanup misses the kubelet's
# chains, so the cleanup is done here.)
if compgen -G "$STATE/.ran-*" >/dev/null; then
  for ipt in iptables ip6tables; do
    for t in filter nat mangle raw; do
      "$ipt" -t "$t" -S 2>/dev/null | grep -E '^-A (INPUT|OUTPUT|FORWARD|PREROUTING|POSTROUTING) .*-j KUBE-' \
        | sed 's/^-A /-D /' | while read -r rule; do eval "$ipt -t $t $rule" 2>/dev/null; done
      chains=$("$ipt" -t "$t" -S 2>/dev/null | awk '$1=="-N" && $2 ~ /^KUBE-/ {print $2}')
      for c in $chains; do "$ipt" -t "$t" -F "$c" 2>/dev/null; done
      for c in $chains; do "$ipt" -t "$t" -X "$c" 2>/dev/null; done
    done
  done
  for set in $(ipset list -n 2>/dev/null | grep -E '^(KUBE-|kube-router-)'); do ipset destroy "$set" 2>/dev/null; done
fi

[ -z "$quiet" ] && log "removing pod cgroups"
# 5. pod cgroups left by our kubelet (cgroupfs driver, names kubepods*)
for ctl in /sys/fs/cgroup/*/; do
  for top in "$ctl"kubepods*; do
    [ -d "$top" ] && find "$top" -depth -type d -exec rmdir {} \; 2>/dev/null
  done
done

[ -z "$quiet" ] && log "removing state"
# 6. the few fixed host paths our kubelet/containerd use whatever their config says:
#    /var/log/containers (symlinks into our pod logs), /var/lib/cni/results (libcni cache, entries
#    "isobox-<id>-eth0" and their "cni-loopback-<id>-lo"), /var/lib/kubelet/device-plugins.
#    Only our entries are removed; the directories only if that leaves them empty.
if [ -d /var/log/containers ]; then
  find /var/log/containers -maxdepth 1 -type l -lname "$STATE/*" -delete 2>/dev/null
  rmdir /var/log/containers 2>/dev/null
fi
if [ -d /var/lib/cni/results ]; then
  for f in /var/lib/cni/results/isobox-*-eth0; do
    [ -e "$f" ] || continue
    id=${f#/var/lib/cni/results/isobox-}; id=${id%-eth0}
    rm -f "$f" "/var/lib/cni/results/cni-loopback-$id-lo"
  done
  rmdir /var/lib/cni/results /var/lib/cni 2>/dev/null
fi
[ -f "$STATE/.ran-kubelet" ] && rm -f /var/lib/kubelet/device-plugins/kubelet.sock
rmdir /var/lib/kubelet/device-plugins /var/lib/kubelet 2>/dev/null

# 7. state (keep logs of the last run for debugging; keep the cache)
if [ -d "$STATE" ]; then
  find "$STATE" -mindepth 1 -maxdepth 1 ! -name logs -exec rm -rf {} + 2>/dev/null
fi
rm -rf "$RUN"
[ -z "$quiet" ] && log "cluster down (cache kept in $CACHE)"
exit 0
