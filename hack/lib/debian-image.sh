# shellcheck shell=bash
# Helpers shared by hack/images/build.sh and hack/service-image/build.sh (sourced,
# not executed): build a Debian rootfs with debootstrap, import it as a local base
# image, save images to archives, all without any container registry.
#
# Each step is skipped when its output already matches a hash of its inputs, and
# outputs are written under temporary names and renamed, so a run that is killed
# can simply be started again.
#
# The caller sets, before sourcing:
#   LOG_PREFIX  first word of every log line, e.g. "images"
#   CACHE       cache root; .debs are shared in $CACHE/debs, rootfs tarballs live
#               in $CACHE/rootfs, image archives in $CACHE/images
#   TMP_ROOT    this build's own temp dir, emptied by prepare
#   LOCK_FILE   held for the whole run, see prepare
#   LOCK_WHAT   what waits on LOCK_FILE, for the log: "another $LOCK_WHAT"
#   SUITE       Debian suite, e.g. bookworm
#   MIRROR      Debian mirror for debootstrap

# The .deb cache ($CACHE/debs) is shared by every build that uses this file: a
# build that does not hold this lock for the whole run takes it around debootstrap.
DEBS_LOCK=$CACHE/.lock

# shellcheck source=hack/lib/log.sh
. "$(dirname "${BASH_SOURCE[0]}")/log.sh"

hash_text() { sha256sum | cut -c1-16; }

# ensure_tools [COMMAND:PACKAGE...] installs what a fresh Debian 12 with docker.io
# may lack: debootstrap, flock and the caller's extra tools.
ensure_tools() {
  [[ $EUID -eq 0 ]] || die "must run as root (debootstrap, docker)"
  command -v docker >/dev/null || die "docker is not installed"
  docker info >/dev/null 2>&1 || die "dockerd is not reachable"
  local tool missing=()
  for tool in debootstrap:debootstrap "$@" flock:util-linux; do
    command -v "${tool%%:*}" >/dev/null || missing+=("${tool#*:}")
  done
  if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" ca-certificates >/dev/null
  fi
}

# prepare takes the build lock ($LOCK_FILE, for the whole run) and removes what a
# killed run left behind in $TMP_ROOT.
prepare() {
  mkdir -p "$CACHE"/{debs,rootfs,images} "$TMP_ROOT"
  exec {LOCK_FD}>"$LOCK_FILE"
  flock -n "$LOCK_FD" || { log "waiting for another $LOCK_WHAT to finish"; flock "$LOCK_FD"; }
  # debootstrap mounts /proc and /sys in its target; never rm -rf through them.
  local mnt
  findmnt -rn -o TARGET | { grep "^$TMP_ROOT/" || true; } | sort -r | while read -r mnt; do
    umount -l "$mnt" || true
  done
  rm -rf "${TMP_ROOT:?}"/*
}

# strip_rootfs drops what a sandbox never needs, to keep images small.
# `declare -f strip_rootfs` is part of rootfs_key: changing its code (not its
# comments) rebuilds every rootfs.
strip_rootfs() {
  local root=$1
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* \
    "$root"/var/cache/debconf/*-old "$root"/var/lib/dpkg/*-old \
    "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* \
    "$root"/usr/share/locale/* "$root"/usr/share/lintian "$root"/var/log/* \
    "$root"/tmp/* "$root"/var/tmp/*
  # Docker bind-mounts these; the host's copies must not leak into the image.
  : >"$root/etc/resolv.conf"
  : >"$root/etc/hostname"
}

# rootfs_key PACKAGES hashes everything that determines a rootfs: the package
# list and the code that strips it.
rootfs_key() {
  { echo "$SUITE minbase $1"; declare -f strip_rootfs; } | hash_text
}

# build_rootfs NAME KEY PACKAGES [WHAT] makes (or reuses) the rootfs tarball
# $CACHE/rootfs/NAME-KEY.tar: debootstrap minbase plus PACKAGES (space-separated).
# WHAT names it in the log ("rootfs WHAT: ...").
build_rootfs() {
  local name=$1 key=$2 pkgs=$3 what=${4:-} out=$CACHE/rootfs/$1-$2.tar tmp
  if [[ -s $out ]]; then
    log "rootfs${what:+ $what}: cached ($out)"
    return
  fi
  tmp=$(mktemp -d "$TMP_ROOT/rootfs${what:+-$what}.XXXXXX")
  log "rootfs${what:+ $what}: debootstrap $SUITE minbase ${pkgs:++ $pkgs}"
  if ! (
    if [[ $LOCK_FILE != "$DEBS_LOCK" ]]; then
      exec 9>"$DEBS_LOCK"
      flock 9
    fi
    debootstrap --variant=minbase ${pkgs:+--include="${pkgs// /,}"} \
      --cache-dir="$CACHE/debs" "$SUITE" "$tmp/root" "$MIRROR"
  ) >"$tmp/debootstrap.log" 2>&1; then
    tail -n 30 "$tmp/debootstrap.log" >&2
    die "debootstrap failed${what:+ for $what} (log: $tmp/debootstrap.log)"
  fi
  strip_rootfs "$tmp/root"
  tar --numeric-owner -C "$tmp/root" -cf "$tmp/rootfs.tar" .
  mv "$tmp/rootfs.tar" "$out"
  rm -rf "$tmp"
  find "$CACHE/rootfs" -name "$name-*.tar" ! -name "$name-$key.tar" -delete  # stale keys
  log "rootfs${what:+ $what}: $(du -h "$out" | cut -f1)"
}

# image_label IMAGE LABEL prints the label's value, or nothing.
image_label() {
  docker image inspect -f "{{ index .Config.Labels \"$2\" }}" "$1" 2>/dev/null || true
}

# import_base IMAGE NAME KEY CMD [WHAT] turns the rootfs tarball of build_rootfs
# into the local base image IMAGE (CMD in JSON form), unless IMAGE already records KEY.
import_base() {
  local image=$1 name=$2 key=$3 cmd=$4 what=${5:-}
  if [[ $(image_label "$image" isobox.dev/rootfs-key) == "$key" ]]; then
    log "base${what:+ $what}: up to date ($image)"
    return
  fi
  log "base${what:+ $what}: docker import $image"
  docker import \
    --change "LABEL isobox.dev/rootfs-key=$key" \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change "CMD $cmd" \
    "$CACHE/rootfs/$name-$key.tar" "$image" >/dev/null
}

# save_image IMAGE OUT [WHAT] writes the image archive OUT unless it already holds
# this image ID (recorded in OUT.id).
save_image() {
  local image=$1 out=$2 what=${3:-} id
  id=$(docker image inspect -f '{{.Id}}' "$image")
  if [[ -s $out && $(cat "$out.id" 2>/dev/null) == "$id" ]]; then
    log "save${what:+ $what}: up to date ($out)"
    return
  fi
  log "save${what:+ $what}: docker save -> $out"
  docker save -o "$out.tmp" "$image"
  chmod 0644 "$out.tmp"
  mv "$out.tmp" "$out"
  echo "$id" >"$out.id.tmp"
  mv "$out.id.tmp" "$out.id"
}
