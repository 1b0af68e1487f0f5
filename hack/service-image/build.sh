#!/usr/bin/env bash
# Builds the isobox service image (API + operator, see /Dockerfile) without any
# container registry:
#
#   debootstrap bookworm minbase + python3 python3-venv
#                     (cached: ${ISOBOX_CACHE}/rootfs/service-python-<key>.tar)
#   -> docker import  localhost/isobox/python-base:bookworm
#   -> pip wheel '.[all]' on the host (dependency wheels cached per pyproject.toml)
#   -> docker build --network=none --build-arg BASE=localhost/isobox/python-base:bookworm
#                     localhost/isobox/isobox:0.1.0
#   -> smoke test     `isobox --version`; `isobox serve` answers /health and /healthz
#   -> docker save    ${ISOBOX_CACHE}/images/isobox.tar
#
# Steps whose inputs did not change are skipped. Nothing in a container ever
# reaches the network: the build runs with --network=none and installs only the
# host-built wheels (pip install --no-index).
#
# Environment: ISOBOX_CACHE (default /var/cache/isobox), ISOBOX_DEBIAN_MIRROR
# (default http://deb.debian.org/debian), ISOBOX_SERVICE_IMAGE (default
# localhost/isobox/isobox:0.1.0), PYTHON (host interpreter for `pip wheel`; must be
# 3.11 like the image's, default python3).
set -euo pipefail

readonly REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
readonly CACHE=${ISOBOX_CACHE:-/var/cache/isobox}
readonly MIRROR=${ISOBOX_DEBIAN_MIRROR:-http://deb.debian.org/debian}
readonly IMAGE=${ISOBOX_SERVICE_IMAGE:-localhost/isobox/isobox:0.1.0}
readonly PYTHON=${PYTHON:-python3}
readonly SUITE=bookworm
readonly BASE_IMAGE=localhost/isobox/python-base:$SUITE
readonly BASE_PACKAGES="python3 python3-venv"
readonly WORK=$CACHE/service-image
# Our own temp dir: hack/images/build.sh empties $CACHE/tmp when it starts.
readonly TMP_ROOT=$WORK/tmp
readonly ARCHIVE=$CACHE/images/isobox.tar
# The classic builder ships with dockerd 20.10, needs no buildx plugin and never
# fetches a Dockerfile frontend image.
export DOCKER_BUILDKIT=0

log() { printf '[service-image %4ss] %s\n' "$SECONDS" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
hash_text() { sha256sum | cut -c1-16; }

ensure_tools() {
  [[ $EUID -eq 0 ]] || die "must run as root (debootstrap, docker)"
  command -v docker >/dev/null || die "docker is not installed"
  docker info >/dev/null 2>&1 || die "dockerd is not reachable"
  local missing=()
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  command -v flock >/dev/null || missing+=(util-linux)
  if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" ca-certificates >/dev/null
  fi
  "$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' ||
    die "$PYTHON is not Python 3.11: the wheels must match the image's Python (set PYTHON)"
}

# prepare takes our build lock and removes what a killed run left behind.
prepare() {
  mkdir -p "$CACHE"/{debs,rootfs,images} "$WORK" "$TMP_ROOT"
  exec 8>"$WORK/.lock"
  flock -n 8 || { log "waiting for another service-image build to finish"; flock 8; }
  # debootstrap mounts /proc and /sys in its target; never rm -rf through them.
  local mnt
  findmnt -rn -o TARGET | { grep "^$TMP_ROOT/" || true; } | sort -r | while read -r mnt; do
    umount -l "$mnt" || true
  done
  rm -rf "${TMP_ROOT:?}"/*
}

# strip_rootfs drops what the service never needs (same list as hack/images/build.sh).
strip_rootfs() {
  local root=$1
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* \
    "$root"/var/cache/debconf/*-old "$root"/var/lib/dpkg/*-old \
    "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* \
    "$root"/usr/share/locale/* "$root"/usr/share/lintian "$root"/var/log/* \
    "$root"/tmp/* "$root"/var/tmp/*
  : >"$root/etc/resolv.conf"
  : >"$root/etc/hostname"
}

rootfs_key() {
  { echo "$SUITE minbase $BASE_PACKAGES"; declare -f strip_rootfs; } | hash_text
}

build_rootfs() {
  local key=$1 out=$CACHE/rootfs/service-python-$1.tar tmp
  if [[ -s $out ]]; then
    log "rootfs: cached ($out)"
    return
  fi
  tmp=$(mktemp -d "$TMP_ROOT/rootfs.XXXXXX")
  log "rootfs: debootstrap $SUITE minbase + $BASE_PACKAGES"
  # The .deb cache is shared with hack/images/build.sh: hold its lock while using it.
  if ! (
    exec 9>"$CACHE/.lock"
    flock 9
    debootstrap --variant=minbase --include="${BASE_PACKAGES// /,}" \
      --cache-dir="$CACHE/debs" "$SUITE" "$tmp/root" "$MIRROR"
  ) >"$tmp/debootstrap.log" 2>&1; then
    tail -n 30 "$tmp/debootstrap.log" >&2
    die "debootstrap failed (log: $tmp/debootstrap.log)"
  fi
  strip_rootfs "$tmp/root"
  tar --numeric-owner -C "$tmp/root" -cf "$tmp/rootfs.tar" .
  mv "$tmp/rootfs.tar" "$out"
  rm -rf "$tmp"
  find "$CACHE/rootfs" -name 'service-python-*.tar' ! -name "service-python-$key.tar" -delete
  log "rootfs: $(du -h "$out" | cut -f1)"
}

image_label() {
  docker image inspect -f "{{ index .Config.Labels \"$2\" }}" "$1" 2>/dev/null || true
}

import_base() {
  local key=$1
  if [[ $(image_label "$BASE_IMAGE" isobox.dev/rootfs-key) == "$key" ]]; then
    log "base: up to date ($BASE_IMAGE)"
    return
  fi
  log "base: docker import $BASE_IMAGE"
  docker import \
    --change "LABEL isobox.dev/rootfs-key=$key" \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["/usr/bin/python3"]' \
    "$CACHE/rootfs/service-python-$key.tar" "$BASE_IMAGE" >/dev/null
}

# build_wheels fills $1 with the wheels of '.[all]': the dependencies come from a
# cache keyed by pyproject.toml (and the host Python), isobox itself is always rebuilt.
build_wheels() {
  local out=$1 key deps
  key=$({ cat "$REPO_ROOT/pyproject.toml"; "$PYTHON" -VV; } | hash_text)
  deps=$WORK/wheels-$key
  if [[ ! -d $deps ]]; then
    log "wheels: pip wheel '.[all]' (dependencies)"
    local tmp
    tmp=$(mktemp -d "$TMP_ROOT/wheels.XXXXXX")
    (cd "$REPO_ROOT" && "$PYTHON" -m pip wheel -q --disable-pip-version-check \
      --wheel-dir "$tmp" '.[all]') || die "pip wheel failed"
    rm -f "$tmp"/isobox-*.whl
    mv "$tmp" "$deps"
    find "$WORK" -maxdepth 1 -name 'wheels-*' ! -name "wheels-$key" -exec rm -rf {} +
  else
    log "wheels: dependencies cached ($deps)"
  fi
  mkdir -p "$out"
  cp "$deps"/*.whl "$out/"
  log "wheels: pip wheel isobox"
  # Build from a copy so the build leaves nothing (build/, *.egg-info) in the work tree.
  local src
  src=$(mktemp -d "$TMP_ROOT/src.XXXXXX")
  cp -r "$REPO_ROOT/pyproject.toml" "$REPO_ROOT/README.md" "$REPO_ROOT/isobox" "$src/"
  find "$src" -name __pycache__ -type d -prune -exec rm -rf {} +
  # A fixed timestamp makes the wheel reproducible, so an unchanged tree reuses the image.
  SOURCE_DATE_EPOCH=315532800 "$PYTHON" -m pip wheel -q --disable-pip-version-check --no-deps \
    --wheel-dir "$out" "$src" ||
    die "pip wheel of isobox failed"
  rm -rf "$src"
}

build_image() {
  local ctx hash
  ctx=$(mktemp -d "$TMP_ROOT/context.XXXXXX")
  cp "$REPO_ROOT/Dockerfile" "$REPO_ROOT/.dockerignore" "$ctx/"
  build_wheels "$ctx/wheels"
  hash=$({
    docker image inspect -f '{{.Id}}' "$BASE_IMAGE"
    cat "$ctx/Dockerfile"
    (cd "$ctx/wheels" && sha256sum -- *.whl)
  } | hash_text)
  if [[ $(image_label "$IMAGE" isobox.dev/build-hash) == "$hash" ]]; then
    log "image: up to date ($IMAGE)"
    rm -rf "$ctx"
    return
  fi
  local old
  old=$(docker image inspect -f '{{.Id}}' "$IMAGE" 2>/dev/null || true)
  log "image: docker build --network=none $IMAGE"
  if ! docker build --network=none --label "isobox.dev/build-hash=$hash" \
      --build-arg "BASE=$BASE_IMAGE" -t "$IMAGE" "$ctx" >"$ctx.log" 2>&1; then
    cat "$ctx.log" >&2
    die "docker build failed"
  fi
  rm -rf "$ctx" "$ctx.log"
  # The classic builder keeps the build stage as an untagged image: drop it, and the image
  # this build replaced if nothing else uses it (untagged, no containers).
  docker image prune -f --filter label=isobox.dev/stage=build >/dev/null || true
  if [[ -n $old && $(docker image inspect -f '{{len .RepoTags}}' "$old" 2>/dev/null) == 0 ]]; then
    docker rmi "$old" >/dev/null 2>&1 || true
  fi
}

# smoke runs the image without network: the CLI answers, and `isobox serve` answers
# /health and /healthz (the local backend lacks bwrap in the image; that is fine here).
smoke() {
  local version name code
  version=$(docker run --rm --network=none "$IMAGE" isobox --version)
  log "smoke: $version"
  name=isobox-service-smoke-$$
  docker run -d --rm --network=none --name "$name" -e ISOBOX_BACKEND=local "$IMAGE" >/dev/null
  trap 'docker rm -f "$name" >/dev/null 2>&1 || true' EXIT
  code='
import json, sys, time, urllib.request
for attempt in range(100):
    try:
        for path in ("/health", "/healthz"):
            with urllib.request.urlopen("http://127.0.0.1:8000" + path, timeout=2) as r:
                print(path, r.status, json.load(r))
        sys.exit(0)
    except OSError:
        time.sleep(0.2)
sys.exit("isobox serve did not answer")
'
  if ! docker exec "$name" python3 -c "$code" >&2; then
    docker logs "$name" >&2 || true
    die "smoke: the API did not answer inside the container"
  fi
  docker rm -f "$name" >/dev/null
  trap - EXIT
}

save_image() {
  local id
  id=$(docker image inspect -f '{{.Id}}' "$IMAGE")
  if [[ -s $ARCHIVE && $(cat "$ARCHIVE.id" 2>/dev/null) == "$id" ]]; then
    log "save: up to date ($ARCHIVE)"
    return
  fi
  log "save: docker save -> $ARCHIVE"
  docker save -o "$ARCHIVE.tmp" "$IMAGE"
  chmod 0644 "$ARCHIVE.tmp"
  mv "$ARCHIVE.tmp" "$ARCHIVE"
  echo "$id" >"$ARCHIVE.id.tmp"
  mv "$ARCHIVE.id.tmp" "$ARCHIVE.id"
}

main() {
  ensure_tools
  prepare
  local key
  key=$(rootfs_key)
  build_rootfs "$key"
  import_base "$key"
  build_image
  smoke
  save_image
  rm -rf "${TMP_ROOT:?}"/*
  log "$(docker image inspect -f '{{index .RepoTags 0}} {{.Size}}' "$IMAGE" |
    awk '{printf "%s %.0f MB", $1, $2/1e6}') -> $ARCHIVE"
  log "done in ${SECONDS}s"
}

main "$@"
