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
# "python node bash ruby gcc go java rust"), ISOBOX_DEBIAN_MIRROR (default http://deb.debian.org/debian).
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
readonly REPO_ROOT
readonly CACHE=${ISOBOX_CACHE:-/var/cache/isobox}
readonly MIRROR=${ISOBOX_DEBIAN_MIRROR:-http://deb.debian.org/debian}
readonly LANGS=${ISOBOX_LANGS:-python node bash ruby gcc go java rust}
readonly SUITE=bookworm
readonly TAG=0.1.0
readonly TMP_ROOT=$CACHE/tmp
# This build holds the cache lock (which also guards the shared .deb cache) for
# its whole run.
readonly LOCK_FILE=$CACHE/.lock LOCK_WHAT=build
readonly LOG_PREFIX=images
# The classic builder ships with dockerd 20.10 and needs no buildx plugin.
export DOCKER_BUILDKIT=0

# shellcheck source-path=SCRIPTDIR source=../lib/debian-image.sh
source "$REPO_ROOT/hack/lib/debian-image.sh"

LAUNCHER_BIN=  # built lazily, only when an image has to be (re)built

# packages_for prints the extra Debian packages of an image's rootfs. An image
# may serve several registry languages: gcc serves c and cpp.
packages_for() {
  case $1 in
    python) echo python3 ;;
    node) echo nodejs ;;
    bash) echo "" ;;  # bash is part of minbase
    ruby) echo ruby ;;
    gcc) echo "gcc g++ libc6-dev" ;;
    go) echo golang-go ;;
    java) echo openjdk-17-jdk-headless ;;
    # rustc links through cc.
    rust) echo "rustc gcc libc6-dev" ;;
    *) die "unknown language '$1'" ;;
  esac
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

main() {
  # Debian 12's golang-go (1.19) is new enough for the launcher.
  ensure_tools go:golang-go
  prepare
  local lang pkgs key
  for lang in $LANGS; do
    pkgs=$(packages_for "$lang")
    key=$(rootfs_key "$pkgs")
    build_rootfs "$lang" "$key" "$pkgs" "$lang"
    import_base "localhost/isobox/base-$lang:$SUITE" "$lang" "$key" '["/bin/bash"]' "$lang"
    build_runtime "$lang" "$key"
    save_image "localhost/isobox/runtime-$lang:$TAG" "$CACHE/images/runtime-$lang.tar" "$lang"
  done
  rm -rf "${TMP_ROOT:?}"/*
  for lang in $LANGS; do
    log "$(docker image inspect -f '{{index .RepoTags 0}} {{.Size}}' "localhost/isobox/runtime-$lang:$TAG" |
      awk '{printf "%s %.0f MB", $1, $2/1e6}') -> $CACHE/images/runtime-$lang.tar"
  done
  log "done in ${SECONDS}s"
}

main "$@"
