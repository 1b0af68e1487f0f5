#!/usr/bin/env bash
# The whole test run, on a fresh Debian 12 machine or a warm one: what `make test` and CI do.
#
# Uses the cluster KUBECONFIG names if it is set (kind or any other, with the runtime images
# loaded); otherwise brings this repo's test cluster up and, unless ISOBOX_KEEP_CLUSTER=1,
# tears it down again at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
step() { echo "== $* ($(( $(date +%s) - started )) s)"; }

step "packages"
hack/apt-install.sh docker.io bubblewrap debootstrap iproute2 procps python3-venv runsc
# The local backend runs every language with the host's own tools.
hack/apt-install.sh nodejs ruby gcc g++ libc6-dev golang-go default-jdk-headless rustc
# The playground's browser test drives Debian's chromium (playwright cannot download one here).
hack/apt-install.sh chromium

step "python environment"
make -s venv
export PATH="$PWD/.venv/bin:$PATH"

step "gVisor (runsc, pinned in hack/cluster/versions.env; cached)"
# Docker's runtime runsc uses this build too: Debian 12's runsc (20221219) fails `ls` on every
# directory of the bookworm images and crashes under a pids limit of 64 (docs/test-cluster.md §13).
hack/cluster/build.sh gvisor

step "docker engine"
hack/dockerd.sh

own_cluster=0
building=""
if [ -z "${KUBECONFIG:-}" ]; then
  # Cold, the cluster's Go builds (about 30 min, CPU) and the images' debootstraps (about
  # 13 min, mostly network and disk) overlap; warm, both are cache hits.
  step "test cluster binaries, built beside the images"
  make -s cluster-deps
  build_log=$(mktemp)
  make -s cluster-build >"$build_log" 2>&1 &
  building=$!
fi

step "runtime images and the service image"
make -s images
make -s service-image

if [ -n "$building" ]; then
  build_status=0
  wait "$building" || build_status=$?
  cat "$build_log"
  rm -f "$build_log"
  step "test cluster binaries built (exit $build_status)"
  [ "$build_status" -eq 0 ] || exit "$build_status"
fi

if [ -z "${KUBECONFIG:-}" ]; then
  step "test cluster"
  make -s cluster-up
  export KUBECONFIG="${ISOBOX_K8S_STATE:-/var/lib/isobox-k8s}/admin.kubeconfig"
  own_cluster=1
  if [ "${ISOBOX_KEEP_CLUSTER:-0}" != 1 ]; then
    trap 'step "test cluster down"; make -s cluster-down || true' EXIT
  fi
  # cluster-up imports every image tar under $ISOBOX_CACHE/images (runtime and service).
fi
export PATH="${ISOBOX_K8S_CACHE:-/var/cache/isobox-k8s}/bin:$PATH"

step "lint"
make -s lint

step "tests"
status=0
# The slowest tests are printed: the suite has to stay inside the CI budget.
python -m pytest -p no:cacheprovider -ra --durations=20 "$@" tests || status=$?
step "done (own cluster: $own_cluster, pytest exit $status)"
exit "$status"
