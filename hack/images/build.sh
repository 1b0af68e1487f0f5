#!/usr/bin/env bash
# Builds the isobox runtime images without any container registry
# (docs/design.md, "Runtime images"). Per language:
#
#   debootstrap rootfs tarball  (cached: ${ISOBOX_CACHE}/rootfs/<lang>-<key>.tar)
#   -> docker import            localhost/isobox/base-<lang>:bookworm
#   -> docker build --network=none images/runtime
#                               localhost/isobox/runtime-<lang>:0.1.0
#   -> docker save              ${ISOBOX_CACHE}/images/runtime-<lang>.tar
#
# Each step is skipped when its output already matches a hash of its inputs,
# so a warm run takes seconds. Outputs are written under temporary names and
# renamed, so a run that is killed can simply be started again.
#
# Environment: ISOBOX_CACHE (default /var/cache/isobox), ISOBOX_LANGS (default
# "python node bash"), ISOBOX_DEBIAN_MIRROR (default http://deb.debian.org/debian).
set -euo pipefail

readonly REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
readonly CACHE=${ISOBOX_CACHE:-/var/cache/isobox}
readonly MIRROR=${ISOBOX_DEBIAN_MIRROR:-http://deb.debian.org/debian}
readonly LANGS=${ISOBOX_LANGS:-python node bash}
readonly SUITE=bookworm
readonly TAG=0.1.0
readonly TMP_ROOT=$CACHE/tmp
# The classic builder ships with dockerd 20.10 and needs no buildx plugin.
export DOCKER_BUILDKIT=0

LAUNCHER_BIN=  # built lazily, only when an image has to be (re)built

log() { printf '[images %4ss] %s\n' "$SECONDS" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# packages_for prints the extra Debian packages of a language's rootfs.
packages_for() {
  case $1 in
    python) echo python3 ;;
    node) echo nodejs ;;
    bash) echo "" ;;  # bash is part of minbase
    *) die "unknown language '$1'" ;;
  esac
}

hash_text() { sha256sum | cut -c1-16; }

# ensure_tools installs what a fresh Debian 12 with docker.io may lack.
# Debian 12's golang-go (1.19) is new enough for the launcher.
ensure_tools() {
  [[ $EUID -eq 0 ]] || die "must run as root (debootstrap, docker)"
  command -v docker >/dev/null || die "docker is not installed"
  docker info >/dev/null 2>&1 || die "dockerd is not reachable"
  local missing=()
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  command -v go >/dev/null || missing+=(golang-go)
  command -v flock >/dev/null || missing+=(util-linux)
  if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" ca-certificates >/dev/null
  fi
}

# prepare_cache takes the build lock and removes what a killed run left behind.
prepare_cache() {
  mkdir -p "$CACHE"/{debs,rootfs,images} "$TMP_ROOT"
  exec 9>"$CACHE/.lock"
  flock -n 9 || { log "waiting for another build to finish"; flock 9; }
  # debootstrap mounts /proc and /sys in its target; never rm -rf through them.
  local mnt
  findmnt -rn -o TARGET | { grep "^$TMP_ROOT/" || true; } | sort -r | while read -r mnt; do
    umount -l "$mnt" || true
  done
  rm -rf "${TMP_ROOT:?}"/*
}

# strip_rootfs drops what a sandbox never needs, to keep images small.
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

# rootfs_key hashes everything that determines a language's rootfs: the
# package list and the code that strips it.
rootfs_key() {
  { echo "$SUITE minbase $(packages_for "$1")"; declare -f strip_rootfs; } | hash_text
}

# build_rootfs makes (or reuses) the rootfs tarball of a language.
build_rootfs() {
  local lang=$1 key=$2 out=$CACHE/rootfs/$1-$2.tar
  if [[ -s $out ]]; then
    log "rootfs $lang: cached ($out)"
    return
  fi
  local pkgs tmp
  pkgs=$(packages_for "$lang")
  tmp=$(mktemp -d "$TMP_ROOT/rootfs-$lang.XXXXXX")
  log "rootfs $lang: debootstrap $SUITE minbase ${pkgs:++ $pkgs}"
  if ! debootstrap --variant=minbase ${pkgs:+--include="${pkgs// /,}"} \
      --cache-dir="$CACHE/debs" "$SUITE" "$tmp/root" "$MIRROR" >"$tmp/debootstrap.log" 2>&1; then
    tail -n 30 "$tmp/debootstrap.log" >&2
    die "debootstrap failed for $lang (log: $tmp/debootstrap.log)"
  fi
  strip_rootfs "$tmp/root"
  tar --numeric-owner -C "$tmp/root" -cf "$tmp/rootfs.tar" .
  mv "$tmp/rootfs.tar" "$out"
  rm -rf "$tmp"
  find "$CACHE/rootfs" -name "$lang-*.tar" ! -name "$lang-$key.tar" -delete  # stale keys
  log "rootfs $lang: $(du -h "$out" | cut -f1)"
}

image_label() {
  docker image inspect -f "{{ index .Config.Labels \"$2\" }}" "$1" 2>/dev/null || true
}

# import_base turns the rootfs tarball into a local base image.
import_base() {
  local lang=$1 key=$2 image=localhost/isobox/base-$1:$SUITE
  if [[ $(image_label "$image" isobox.dev/rootfs-key) == "$key" ]]; then
    log "base $lang: up to date ($image)"
    return
  fi
  log "base $lang: docker import $image"
  docker import \
    --change "LABEL isobox.dev/rootfs-key=$key" \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["/bin/bash"]' \
    "$CACHE/rootfs/$lang-$key.tar" "$image" >/dev/null
}

# launcher_hash covers the launcher's sources (tests excluded).
launcher_hash() {
  (cd "$REPO_ROOT/launcher" && find . -name '*.go' ! -name '*_test.go' -o -name go.mod |
    LC_ALL=C sort | xargs sha256sum) | hash_text
}

build_launcher() {
  [[ -n $LAUNCHER_BIN ]] && return
  LAUNCHER_BIN=$(mktemp -d "$TMP_ROOT/launcher.XXXXXX")/isobox-launch
  log "launcher: go build"
  (cd "$REPO_ROOT/launcher" &&
    CGO_ENABLED=0 GOTOOLCHAIN=local go build -trimpath -ldflags "-s -w" -o "$LAUNCHER_BIN" .)
}

# build_runtime builds the runtime image unless its build-hash label matches.
build_runtime() {
  local lang=$1 key=$2 image=localhost/isobox/runtime-$1:$TAG hash ctx
  hash=$({ echo "$key"; launcher_hash; cat "$REPO_ROOT/images/runtime/Dockerfile"; } | hash_text)
  if [[ $(image_label "$image" isobox.dev/build-hash) == "$hash" ]]; then
    log "runtime $lang: up to date ($image)"
    return
  fi
  build_launcher
  ctx=$(mktemp -d "$TMP_ROOT/context-$lang.XXXXXX")
  cp "$REPO_ROOT/images/runtime/Dockerfile" "$ctx/"
  install -m 0755 "$LAUNCHER_BIN" "$ctx/isobox-launch"
  log "runtime $lang: docker build $image"
  if ! docker build --network=none --label "isobox.dev/build-hash=$hash" \
      --build-arg "BASE=localhost/isobox/base-$lang:$SUITE" -t "$image" "$ctx" \
      >"$ctx.log" 2>&1; then
    cat "$ctx.log" >&2
    die "docker build failed for $lang"
  fi
  rm -rf "$ctx" "$ctx.log"
}

# save_image writes the image archive unless it already holds this image ID.
save_image() {
  local lang=$1 image=localhost/isobox/runtime-$1:$TAG out=$CACHE/images/runtime-$1.tar id
  id=$(docker image inspect -f '{{.Id}}' "$image")
  if [[ -s $out && $(cat "$out.id" 2>/dev/null) == "$id" ]]; then
    log "save $lang: up to date ($out)"
    return
  fi
  log "save $lang: docker save -> $out"
  docker save -o "$out.tmp" "$image"
  chmod 0644 "$out.tmp"
  mv "$out.tmp" "$out"
  echo "$id" >"$out.id.tmp"
  mv "$out.id.tmp" "$out.id"
}

main() {
  ensure_tools
  prepare_cache
  local lang key
  for lang in $LANGS; do
    key=$(rootfs_key "$lang")
    build_rootfs "$lang" "$key"
    import_base "$lang" "$key"
    build_runtime "$lang" "$key"
    save_image "$lang"
  done
  rm -rf "${TMP_ROOT:?}"/*
  for lang in $LANGS; do
    log "$(docker image inspect -f '{{index .RepoTags 0}} {{.Size}}' "localhost/isobox/runtime-$lang:$TAG" |
      awk '{printf "%s %.0f MB", $1, $2/1e6}') -> $CACHE/images/runtime-$lang.tar"
  done
  log "done in ${SECONDS}s"
}

main "$@"
