#!/usr/bin/env bash
# Load image archives (docker-archive from `docker save`, or OCI layout tars) into the test
# cluster's containerd, namespace k8s.io, pinned so the kubelet's image GC never removes them.
# Usage: hack/cluster/load-images.sh IMAGE.tar...
# Image names inside the archives must be fully qualified (localhost/isobox/x:tag); pods must use
# imagePullPolicy IfNotPresent or Never (no registry is reachable).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
[ $# -gt 0 ] || die "usage: $0 IMAGE.tar..."
sock=$RUN/containerd.sock
[ -S "$sock" ] || die "cluster containerd socket $sock not found: run make cluster-up first"
for t in "$@"; do
  [ -f "$t" ] || die "no such file: $t"
  "$BIN/ctr" --address "$sock" -n k8s.io images import --label io.cri-containerd.pinned=pinned "$t" >/dev/null \
    || die "import of $t failed"
  log "loaded $t"
done
