#!/usr/bin/env bash
# Build the two images the cluster itself needs, as OCI archives in $CACHE/images, without
# any registry or daemon: the pause (sandbox) image from our own pause.c, and a tiny test
# image from Debian's busybox-static (used by tests/cluster).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
mkdir -p "$CACHE/images"
busybox=/bin/busybox
[ -x "$busybox" ] && "$busybox" --list | grep -qx nc || die "need Debian busybox-static (/bin/busybox): apt-get install busybox-static"
key="$(sha256sum "$BIN/pause" "$busybox" "$HACK_CLUSTER_DIR/mkoci.py" | sha256sum | cut -c1-16) $PAUSE_IMAGE $BUSYBOX_IMAGE"
if [ -f "$CACHE/images/.key" ] && [ "$(cat "$CACHE/images/.key")" = "$key" ]; then exit 0; fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

mkdir -p "$tmp/pause"; install -m 0755 "$BIN/pause" "$tmp/pause/pause"
python3 "$HACK_CLUSTER_DIR/mkoci.py" --name "$PAUSE_IMAGE" --rootfs "$tmp/pause" --out "$CACHE/images/pause.tar" \
  --entrypoint '["/pause"]' --user 65535:65535

r=$tmp/busybox; mkdir -p "$r/bin" "$r/etc" "$r/tmp" "$r/www"
install -m 0755 "$busybox" "$r/bin/busybox"
for a in $("$busybox" --list); do [ "$a" = busybox ] || ln -s busybox "$r/bin/$a"; done
printf 'root:x:0:0:root:/root:/bin/sh\nsandbox:x:10001:10001:sandbox:/tmp:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > "$r/etc/passwd"
printf 'root:x:0:\nsandbox:x:10001:\nnogroup:x:65534:\n' > "$r/etc/group"
chmod 1777 "$r/tmp"
python3 "$HACK_CLUSTER_DIR/mkoci.py" --name "$BUSYBOX_IMAGE" --rootfs "$r" --out "$CACHE/images/busybox.tar" \
  --cmd '["/bin/sh"]' --env PATH=/bin
printf '%s' "$key" > "$CACHE/images/.key"
log "images: $CACHE/images/pause.tar ($PAUSE_IMAGE), $CACHE/images/busybox.tar ($BUSYBOX_IMAGE)"
