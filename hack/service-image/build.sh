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

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
readonly REPO_ROOT
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
# Our own lock, so this build can run next to hack/images/build.sh; the shared .deb
# cache is guarded by that build's lock ($CACHE/.lock), which build_rootfs takes
# around debootstrap.
readonly LOCK_FILE=$WORK/.lock LOCK_WHAT="service-image build"
readonly LOG_PREFIX=service-image
# The classic builder ships with dockerd 20.10, needs no buildx plugin and never
# fetches a Dockerfile frontend image.
export DOCKER_BUILDKIT=0

# shellcheck source-path=SCRIPTDIR source=../lib/debian-image.sh
source "$REPO_ROOT/hack/lib/debian-image.sh"

# check_python makes sure the host Python can build wheels for the image.
check_python() {
  "$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' ||
    die "$PYTHON is not Python 3.11: the wheels must match the image's Python (set PYTHON)"
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

main() {
  # shellcheck disable=SC2119 # no tools beyond the common ones
  ensure_tools
  check_python
  prepare
  local key
  key=$(rootfs_key "$BASE_PACKAGES")
  build_rootfs service-python "$key" "$BASE_PACKAGES"
  import_base "$BASE_IMAGE" service-python "$key" '["/usr/bin/python3"]'
  build_image
  smoke
  save_image "$IMAGE" "$ARCHIVE"
  rm -rf "${TMP_ROOT:?}"/*
  log "$(docker image inspect -f '{{index .RepoTags 0}} {{.Size}}' "$IMAGE" |
    awk '{printf "%s %.0f MB", $1, $2/1e6}') -> $ARCHIVE"
  log "done in ${SECONDS}s"
}

main "$@"
