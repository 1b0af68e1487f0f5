#!/usr/bin/env bash
# Build (or reuse from the cache) every binary the test cluster needs, into $CACHE/bin.
# Each component has a stamp file $CACHE/stamps/<name> holding its cache key (pinned
# version + go version); a matching stamp means "already built", so warm runs do nothing.
# Usage: build.sh [component...]   (default: all; components: k8s containerd helm kube-router traefik etcd pause gvisor)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
mkdir -p "$BIN" "$CACHE/stamps" "$CACHE/src" "$CACHE/logs"
GOV=$(go env GOVERSION)

stamp_ok() { [ -f "$CACHE/stamps/$1" ] && [ "$(cat "$CACHE/stamps/$1")" = "$2" ]; }
stamp_set() { printf '%s' "$2" > "$CACHE/stamps/$1"; }

# Download module M@V and build packages inside a writable copy of it, so its own
# replace/exclude directives apply (go install M@V refuses modules that have them).
build_in_module() {  # module version outdir ldflags tags pkgs...
  local m=$1 v=$2 out=$3 ldflags=$4 tags=$5; shift 5
  local dir
  dir=$(go mod download -json "$m@$v" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("Dir") or sys.exit(d.get("Error")))')
  local work; work="$CACHE/src/$(echo "$m" | tr / _)@$v"
  if [ ! -f "$work/.copied" ]; then
    rm -rf "$work"; cp -r "$dir" "$work"; chmod -R u+w "$work"; touch "$work/.copied"
  fi
  ( cd "$work" && GOWORK=off GOFLAGS="$GOFLAGS -mod=mod" go build -tags "$tags" -ldflags "-s -w $ldflags" -o "$out/" "$@" )
}

build_k8s() {
  local key; key="$K8S_VERSION $GOV $(sha256sum "$REPO_ROOT/hack/k8s/build/go.sum" | cut -c1-16)"
  stamp_ok k8s "$key" && return 0
  log "building Kubernetes $K8S_VERSION: $K8S_CMDS"
  local major minor commit date ld="" p
  major=${K8S_VERSION#v}; major=${major%%.*}
  minor=${K8S_VERSION#v*.}; minor=${minor%%.*}
  commit=$(curl -fsS "$(go env GOPROXY | cut -d, -f1)/k8s.io/kubernetes/@v/$K8S_VERSION.info" 2>/dev/null \
           | python3 -c 'import json,sys; print(json.load(sys.stdin).get("Origin",{}).get("Hash",""))' 2>/dev/null || true)
  date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=$major -X $p.gitMinor=$minor"
    ld+=" -X $p.gitTreeState=clean -X $p.buildDate=$date"
    [ -n "$commit" ] && ld+=" -X $p.gitCommit=$commit"
  done
  local pkgs=() c
  for c in $K8S_CMDS; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
  ( cd "$REPO_ROOT/hack/k8s/build" && go build -ldflags "-s -w $ld" -o "$BIN/" "${pkgs[@]}" )
  "$BIN/kube-apiserver" --version
  stamp_set k8s "$key"
}

build_containerd() {
  local key="$CONTAINERD_VERSION $GOV"
  stamp_ok containerd "$key" && return 0
  log "building containerd $CONTAINERD_VERSION"
  local p=$CONTAINERD_MODULE/version
  build_in_module "$CONTAINERD_MODULE" "$CONTAINERD_VERSION" "$BIN" \
    "-X $p.Version=$CONTAINERD_VERSION -X $p.Package=$CONTAINERD_MODULE" \
    "no_btrfs no_devmapper no_zfs no_aufs" ./cmd/containerd ./cmd/containerd-shim-runc-v2 ./cmd/ctr
  "$BIN/containerd" --version
  stamp_set containerd "$key"
}

build_helm() {
  local key="$HELM_VERSION $GOV"
  stamp_ok helm "$key" && return 0
  log "building helm $HELM_VERSION"
  local p=helm.sh/helm/v3/internal/version
  GOBIN="$BIN" go install -ldflags "-s -w -X $p.version=$HELM_VERSION -X $p.gitTreeState=clean" "$HELM_MODULE/cmd/helm@$HELM_VERSION"
  "$BIN/helm" version --short
  stamp_set helm "$key"
}

build_kube_router() {
  local key="$KUBE_ROUTER_VERSION $GOV"
  stamp_ok kube-router "$key" && return 0
  log "building kube-router $KUBE_ROUTER_VERSION"
  local p=github.com/cloudnativelabs/kube-router/v2/pkg/version
  build_in_module "$KUBE_ROUTER_MODULE" "$KUBE_ROUTER_VERSION" "$BIN" \
    "-X $p.Version=$KUBE_ROUTER_VERSION -X $p.BuildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)" "" ./cmd/kube-router
  "$BIN/kube-router" --version || true
  stamp_set kube-router "$key"
}

build_traefik() {
  local key="$TRAEFIK_VERSION $GOV"
  stamp_ok traefik "$key" && return 0
  log "building traefik $TRAEFIK_VERSION"
  local p=github.com/traefik/traefik/v3/pkg/version
  build_in_module "$TRAEFIK_MODULE" "$TRAEFIK_VERSION" "$BIN" \
    "-X $p.Version=$TRAEFIK_VERSION -X $p.Codename=isobox -X $p.BuildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)" "" ./cmd/traefik
  "$BIN/traefik" version
  stamp_set traefik "$key"
}

# etcd >= 3.5 from Debian trixie, unpacked into the cache (never installed).
build_etcd() {
  local key="$ETCD_DEB_SUITE $ETCD_DEB_VERSION"
  stamp_ok etcd "$key" && return 0
  log "fetching etcd-server $ETCD_DEB_VERSION from Debian $ETCD_DEB_SUITE (unpacked, not installed)"
  local apt=$CACHE/apt
  mkdir -p "$apt/sources.d" "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/debs"
  local uri
  uri=$(grep -rhoE '(https?://[^ ]+/debian)/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null | head -1 | tr -d ' ' || true)
  uri=${uri%/}; [ -n "$uri" ] || uri=http://deb.debian.org/debian
  cat > "$apt/sources.d/$ETCD_DEB_SUITE.sources" <<SRC
Types: deb
URIs: $uri
Suites: $ETCD_DEB_SUITE
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  local o=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$apt/sources.d"
           -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache" -o Dir::Etc::Preferences=/dev/null
           -o Dir::Etc::PreferencesParts=/dev/null -o APT::Get::List-Cleanup=0 -o APT::Sandbox::User=root)
  apt-get "${o[@]}" -qq update
  ( cd "$apt/debs" && apt-get "${o[@]}" -qq download "etcd-server=$ETCD_DEB_VERSION" "etcd-client=$ETCD_DEB_VERSION" )
  rm -rf "$apt/unpacked"; mkdir -p "$apt/unpacked"
  local d; for d in "$apt"/debs/etcd-server_"${ETCD_DEB_VERSION#*:}"_*.deb "$apt"/debs/etcd-client_"${ETCD_DEB_VERSION#*:}"_*.deb; do
    dpkg-deb -x "$d" "$apt/unpacked"
  done
  install -m 0755 "$apt/unpacked/usr/bin/etcd" "$BIN/etcd"
  [ -f "$apt/unpacked/usr/bin/etcdctl" ] && install -m 0755 "$apt/unpacked/usr/bin/etcdctl" "$BIN/etcdctl"
  "$BIN/etcd" --version | sed -n 1p   # not head: etcd gets SIGPIPE and pipefail fails the build (rc 141)
  stamp_set etcd "$key"
}

# gVisor: runsc from the module proxy, and its containerd shim built from hack/gvisor/shim (own
# Start around gVisor's shim package, same pinned module version).
build_gvisor() {
  local shimdir=$REPO_ROOT/hack/gvisor/shim key
  key="$GVISOR_VERSION $GOV $(cat "$shimdir/go.sum" "$shimdir/main.go" | sha256sum | cut -c1-16)"
  stamp_ok gvisor "$key" && return 0
  grep -qx "[[:space:]]*$GVISOR_MODULE $GVISOR_VERSION" "$shimdir/go.mod" \
    || die "$shimdir/go.mod does not require $GVISOR_MODULE $GVISOR_VERSION (versions.env); bump it and run go mod tidy"
  log "building gVisor $GVISOR_VERSION: runsc, containerd-shim-runsc-v1"
  GOBIN="$BIN" go install -ldflags "-s -w -X gvisor.dev/gvisor/runsc/version.version=$GVISOR_VERSION" \
    "$GVISOR_MODULE/runsc@$GVISOR_VERSION"
  ( cd "$shimdir" && GOWORK=off go build -ldflags "-s -w" -o "$BIN/containerd-shim-runsc-v1" . )
  "$BIN/runsc" --version | sed -n 1p
  stamp_set gvisor "$key"
}

# Own pause binary (static C), packed as an image by images.sh.
build_pause() {
  local key; key="$(sha256sum "$HACK_CLUSTER_DIR/pause.c" | cut -c1-16)"
  stamp_ok pause "$key" && return 0
  log "building pause"
  gcc -static -Os -s -o "$BIN/pause" "$HACK_CLUSTER_DIR/pause.c"
  stamp_set pause "$key"
}

all="etcd pause k8s containerd helm kube-router traefik gvisor"
set -- "${@:-}"; [ -n "${1:-}" ] || set -- $all
for c in "$@"; do
  t0=$(date +%s)
  case $c in
    k8s) build_k8s ;; containerd) build_containerd ;; helm) build_helm ;;
    kube-router) build_kube_router ;; traefik) build_traefik ;; etcd) build_etcd ;; pause) build_pause ;;
    gvisor) build_gvisor ;;
    *) die "unknown component $c" ;;
  esac
  log "$c ok ($(( $(date +%s) - t0 ))s)"
done
