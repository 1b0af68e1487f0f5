# shellcheck shell=bash disable=SC2034
# Common settings for hack/cluster/*.sh (sourced, not executed).
HACK_CLUSTER_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$HACK_CLUSTER_DIR/../.." && pwd)
# shellcheck source=versions.env
. "$HACK_CLUSTER_DIR/versions.env"

CACHE=${ISOBOX_K8S_CACHE:-/var/cache/isobox-k8s}
STATE=${ISOBOX_K8S_STATE:-/var/lib/isobox-k8s}
RUN=${ISOBOX_K8S_RUN:-/run/isobox-k8s}
LOGS=${ISOBOX_K8S_LOGS:-$STATE/logs}
BIN=$CACHE/bin
PKI=$STATE/pki
KUBECONFIG_ADMIN=$STATE/admin.kubeconfig

NODE_NAME=isobox-node
POD_CIDR=10.244.0.0/16
POD_SUBNET=10.244.0.0/24
POD_GW=10.244.0.1
SERVICE_CIDR=10.96.0.0/16
SERVICE_IP=10.96.0.1
BRIDGE=isobox0
TAG=isobox-k8s                 # iptables comment on every rule we add
INGRESS_ADDR=${ISOBOX_INGRESS_ADDR:-127.0.0.1:8081}

export GOMODCACHE=$CACHE/gomod GOCACHE=$CACHE/gocache GOFLAGS="-buildvcs=false -trimpath" CGO_ENABLED=0
export GOTOOLCHAIN=${GOTOOLCHAIN:-local}

# shellcheck source=hack/lib/log.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/log.sh"

uplink_dev() { ip -4 route show default | awk '{for(i=1;i<=NF;i++) if($i=="dev"){print $(i+1); exit}}'; }
node_ip() {
  local dev; dev=$(uplink_dev)
  [ -n "$dev" ] || die "no default route: cannot pick a node IP"
  ip -4 -o addr show dev "$dev" | awk '{split($4,a,"/"); print a[1]; exit}'
}
