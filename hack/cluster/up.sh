#!/usr/bin/env bash
# Bring up the single-node isobox test cluster on this machine (host processes, no images
# pulled). Idempotent: first removes whatever a previous run left (down.sh).
# Prints the admin kubeconfig path at the end; writes it to $STATE/admin.kubeconfig.
set -euo pipefail
T0=$(date +%s.%N)
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || die "must run as root"

elapsed() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$T0" "$(date +%s.%N)"; }

# ---- preflight ---------------------------------------------------------------------------
for c in iptables iptables-save ipset conntrack runc openssl gcc python3 curl findmnt; do
  command -v "$c" >/dev/null || die "missing host command $c (apt-get install iptables ipset conntrack runc openssl gcc curl util-linux)"
done
for p in bridge host-local loopback; do [ -x "$CNI_BIN_DIR/$p" ] || die "missing CNI plugin $CNI_BIN_DIR/$p (apt-get install containernetworking-plugins)"; done
for pv in "runc $RUNC_DEB_VERSION" "containernetworking-plugins $CNI_DEB_VERSION" "busybox-static $BUSYBOX_DEB_VERSION"; do
  set -- $pv
  have=$(dpkg-query -W -f '${Version}' "$1" 2>/dev/null || true)
  [ -n "$have" ] || die "Debian package $1 is not installed (apt-get install $1)"
  [ "$have" = "$2" ] || log "warning: $1 is $have, versions.env pins $2"
done
free_gb=$(df -P -BG "$(dirname "$STATE")" | awk 'NR==2{gsub("G","",$4); print $4}')
[ "$free_gb" -ge 5 ] || die "less than 5 GB free under $(dirname "$STATE")"

# ---- binaries and images (cached; a warm run does nothing here) -----------------------------
[ -n "${ISOBOX_K8S_NO_BUILD:-}" ] || "$HACK_CLUSTER_DIR/build.sh"   # NO_BUILD: developer shortcut, binaries must already be cached
"$HACK_CLUSTER_DIR/images.sh"
for b in runsc containerd-shim-runsc-v1; do [ -x "$BIN/$b" ] || die "missing $BIN/$b (hack/cluster/build.sh gvisor)"; done
log "binaries ready after $(elapsed)s"

# ---- clean leftovers, fresh state ----------------------------------------------------------
"$HACK_CLUSTER_DIR/down.sh" quiet
for port in 2379 2380 6443 10250 10256 10257 10259 ${INGRESS_ADDR##*:}; do
  if ss -Hltn "sport = :$port" | grep -q .; then die "port $port is in use by another process: $(ss -Hltnp "sport = :$port")"; fi
done
mkdir -p "$STATE" "$RUN" "$LOGS" "$STATE/cni/net.d" "$STATE/cni/ipam"
: > "$STATE/resolv.conf"          # pods get NO resolver (the host's is outside this machine)
NODE_IP=$(node_ip); UPLINK=$(uplink_dev)
"$HACK_CLUSTER_DIR/pki.sh" "$NODE_IP"
export PATH="$BIN:$PATH"
export KUBECONFIG=$KUBECONFIG_ADMIN

start() {  # name args...   (setsid, log file, pid file)
  local name=$1; shift
  : > "$LOGS/$name.log"
  # Only stdio is passed on: an inherited descriptor (e.g. the lock of
  # `flock /tmp/isobox-cluster.lock make cluster-up`) would be held by the daemons for the
  # cluster's whole life.
  ( for fd in $(ls "/proc/$BASHPID/fd"); do [ "$fd" -gt 2 ] && eval "exec $fd>&-"; done
    exec setsid "$BIN/$name" "$@" ) >>"$LOGS/$name.log" 2>&1 < /dev/null &
  echo $! > "$RUN/$name.pid"
}
wait_for() {  # name timeout-seconds command...
  local name=$1 to=$2; shift 2
  local end=$(( $(date +%s) + to ))
  until "$@" >/dev/null 2>&1; do
    if ! kill -0 "$(cat "$RUN/$name.pid")" 2>/dev/null || [ "$(date +%s)" -ge "$end" ]; then
      kill -KILL "$(cat "$RUN/$name.pid")" 2>/dev/null   # never leave a half-started process behind
      log "$name did not become ready; last log lines:"; tail -n 30 "$LOGS/$name.log" >&2
      die "$name failed (log: $LOGS/$name.log)"
    fi
    sleep 0.3
  done
  log "$name ready ($(elapsed)s)"
}

# ---- host firewall (every rule tagged "$TAG" so down.sh finds exactly ours) -------------------
# Docker's FORWARD policy is DROP and bridge-nf-call-iptables=1: allow pod<->pod on our bridge
# (appended, i.e. after kube-router's jump which it keeps at position 1).
iptables -A FORWARD -i "$BRIDGE" -o "$BRIDGE" -m comment --comment "$TAG" -j ACCEPT
# Safety net: no pod-sourced packet may leave through any interface but our bridge (i.e. it can
# only reach other pods or, by local delivery, this host), and no service-addressed packet may
# leave through the uplink. mangle POSTROUTING sees the pod address before any SNAT.
# Host-local traffic from the bridge address (the host talking to itself over lo) is not a leak.
iptables -t mangle -A POSTROUTING -o lo -s "$POD_CIDR" -m comment --comment "$TAG" -j RETURN
iptables -t mangle -A POSTROUTING -s "$POD_CIDR" ! -o "$BRIDGE" -m comment --comment "$TAG" -j DROP
iptables -t mangle -A POSTROUTING -o "$UPLINK" -d "$SERVICE_CIDR" -m comment --comment "$TAG" -j DROP

# ---- etcd ----------------------------------------------------------------------------------
start etcd --name default --data-dir "$STATE/etcd" \
  --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
  --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
  --initial-cluster default=http://127.0.0.1:2380 --unsafe-no-fsync --log-level warn
wait_for etcd 30 curl -fsS http://127.0.0.1:2379/health

# ---- kube-apiserver ------------------------------------------------------------------------
start kube-apiserver --etcd-servers=http://127.0.0.1:2379 --advertise-address="$NODE_IP" \
  --secure-port=6443 --service-cluster-ip-range="$SERVICE_CIDR" --allow-privileged=true \
  --client-ca-file="$PKI/ca.crt" --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
  --kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt" --kubelet-client-key="$PKI/apiserver-kubelet-client.key" \
  --kubelet-certificate-authority="$PKI/ca.crt" --kubelet-preferred-address-types=InternalIP,Hostname \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
  --requestheader-client-ca-file="$PKI/front-proxy-ca.crt" --requestheader-allowed-names=front-proxy-client \
  --requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
  --requestheader-extra-headers-prefix=X-Remote-Extra- \
  --proxy-client-cert-file="$PKI/front-proxy-client.crt" --proxy-client-key-file="$PKI/front-proxy-client.key" \
  --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction --profiling=false
wait_for kube-apiserver 90 "$BIN/kubectl" get --raw /readyz

# ---- controller-manager, scheduler ---------------------------------------------------------
start kube-controller-manager --kubeconfig="$PKI/kube-controller-manager.kubeconfig" \
  --authentication-kubeconfig="$PKI/kube-controller-manager.kubeconfig" \
  --authorization-kubeconfig="$PKI/kube-controller-manager.kubeconfig" \
  --bind-address=127.0.0.1 --root-ca-file="$PKI/ca.crt" --service-account-private-key-file="$PKI/sa.key" \
  --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
  --use-service-account-credentials --allocate-node-cidrs --cluster-cidr="$POD_CIDR" --node-cidr-mask-size=24 \
  --service-cluster-ip-range="$SERVICE_CIDR" --leader-elect=false --profiling=false
start kube-scheduler --kubeconfig="$PKI/kube-scheduler.kubeconfig" \
  --authentication-kubeconfig="$PKI/kube-scheduler.kubeconfig" --authorization-kubeconfig="$PKI/kube-scheduler.kubeconfig" \
  --bind-address=127.0.0.1 --leader-elect=false --profiling=false

# ---- containerd (our own instance; docker's containerd is never touched) --------------------
cat > "$STATE/containerd.toml" <<TOML
version = 4
root = "$STATE/containerd"
state = "$RUN/containerd"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.blockfile",
  "io.containerd.snapshotter.v1.erofs", "io.containerd.nri.v1.nri"]
# version 4 (containerd >= 2.3): the sockets are server plugins, not [grpc]/[ttrpc] sections
[plugins.'io.containerd.server.v1.grpc']
  address = "$RUN/containerd.sock"
[plugins.'io.containerd.server.v1.ttrpc']
  address = "$RUN/containerd.sock.ttrpc"
[plugins.'io.containerd.server.v1.debug']
  address = ""
[plugins.'io.containerd.server.v1.metrics']
  address = ""
[plugins.'io.containerd.internal.v1.opt']
  path = "$STATE/containerd-opt"
[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = "$PAUSE_IMAGE"
[plugins.'io.containerd.cri.v1.runtime']
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ["$CNI_BIN_DIR"]
    conf_dir = "$STATE/cni/net.d"
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = "runc"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = "$(command -v runc)"
        Root = "$RUN/runc"
        SystemdCgroup = false
    # gVisor (RuntimeClass "gvisor"): gVisor's own shim, which runs runsc per pod (see
    # docs/test-cluster.md §13); its options file says which runsc and which flags.
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runsc]
      runtime_type = "io.containerd.runsc.v1"
      runtime_path = "$BIN/containerd-shim-runsc-v1"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runsc.options]
        TypeUrl = "io.containerd.runsc.v1.options"
        ConfigPath = "$STATE/runsc.toml"
[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = "127.0.0.1"
TOML
# gVisor shim options; [runsc_config] entries become runsc flags (--key=value). runsc's defaults
# are kept: platform systrap, network "sandbox" (gVisor's netstack drives the pod's veth, so pod
# traffic still crosses the CNI bridge and kube-router's NetworkPolicy chains); added:
# oci-seccomp (without it runsc ignores the pod's seccomp profile: Seccomp 0 inside).
# ISOBOX_RUNSC_DEBUG=1: runsc debug logs (every runsc command, one file each) under $LOGS/runsc/.
{
  echo "binary_name = \"$BIN/runsc\""
  echo "root = \"$RUN/runsc\""
  echo "[runsc_config]"
  echo "  oci-seccomp = \"true\""   # apply the pod's seccomp profile (RuntimeDefault) inside the sandbox too
  if [ "${ISOBOX_RUNSC_DEBUG:-0}" = 1 ]; then
    mkdir -p "$LOGS/runsc"
    echo "  debug = \"true\""
    echo "  debug-log = \"$LOGS/runsc/\""
  fi
} > "$STATE/runsc.toml"
cat > "$STATE/cni/net.d/10-isobox.conflist" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "isobox",
  "plugins": [{
    "type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
    "ipam": {"type": "host-local", "ranges": [[{"subnet": "$POD_SUBNET", "gateway": "$POD_GW"}]],
             "routes": [{"dst": "0.0.0.0/0"}], "dataDir": "$STATE/cni/ipam"}
  }]
}
JSON
start containerd --config "$STATE/containerd.toml"
wait_for containerd 30 "$BIN/ctr" --address "$RUN/containerd.sock" version
"$HACK_CLUSTER_DIR/load-images.sh" "$CACHE/images/pause.tar" "$CACHE/images/busybox.tar" 2>/dev/null

# ---- kubelet -------------------------------------------------------------------------------
cat > "$STATE/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false              # Kubernetes >= 1.35 refuses cgroup v1 hosts by default
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://$RUN/containerd.sock
address: $NODE_IP
healthzBindAddress: 127.0.0.1
readOnlyPort: 0
tlsCertFile: $PKI/kubelet-serving.crt
tlsPrivateKeyFile: $PKI/kubelet-serving.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: Webhook}
clusterDomain: cluster.local
clusterDNS: []
resolvConf: $STATE/resolv.conf   # empty: pods get no outside resolver
oomScoreAdj: 0                   # no CAP_SYS_RESOURCE on these VMs
maxOpenFiles: 20000
failSwapOn: false
imageGCHighThresholdPercent: 100 # never garbage-collect imported images
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, nodefs.inodesFree: 1%, imagefs.available: 1%}
serializeImagePulls: false
podPidsLimit: 1024
podLogsDir: $STATE/pod-logs
YAML
touch "$STATE/.ran-kubelet"
start kubelet --config="$STATE/kubelet.yaml" --kubeconfig="$PKI/kubelet.kubeconfig" \
  --root-dir="$STATE/kubelet" --hostname-override="$NODE_NAME" --node-ip="$NODE_IP"
wait_for kubelet 90 "$BIN/kubectl" wait --for=condition=Ready "node/$NODE_NAME" --timeout=2s

# ---- kube-proxy (iptables mode; this kernel has no IPVS) -----------------------------------
cat > "$STATE/kube-proxy.yaml" <<YAML
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection: {kubeconfig: $PKI/kube-proxy.kubeconfig}
hostnameOverride: $NODE_NAME
clusterCIDR: $POD_CIDR
oomScoreAdj: 0
conntrack: {maxPerCore: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
nodePortAddresses: [primary]
iptables: {localhostNodePorts: false}
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 127.0.0.1:10256
YAML
touch "$STATE/.ran-kube-proxy"
start kube-proxy --config="$STATE/kube-proxy.yaml"
wait_for kube-proxy 30 curl -fsS http://127.0.0.1:10256/healthz

# ---- add-ons: RBAC for kube-router/traefik, IngressClass, RuntimeClass gvisor ----------------
"$BIN/kubectl" apply -f "$HACK_CLUSTER_DIR/manifests/addons.yaml" -f "$HACK_CLUSTER_DIR/manifests/gvisor.yaml" >/dev/null

# ---- kube-router: NetworkPolicy enforcement only --------------------------------------------
touch "$STATE/.ran-kube-router"
start kube-router --kubeconfig="$PKI/kube-router.kubeconfig" --hostname-override="$NODE_NAME" \
  --run-firewall=true --run-router=false --run-service-proxy=false --run-loadbalancer=false \
  --enable-cni=false --service-cluster-ip-range="$SERVICE_CIDR" --health-port=20244 --metrics-port=0
wait_for kube-router 60 curl -fsS http://127.0.0.1:20244/healthz

# ---- Traefik: Ingress controller, host process on $INGRESS_ADDR -------------------------------
"$BIN/kubectl" -n kube-system create token traefik --duration=87600h > "$STATE/traefik.token"
start traefik --global.checknewversion=false --global.sendanonymoususage=false \
  --entrypoints.web.address="$INGRESS_ADDR" --ping=true --ping.entrypoint=web \
  --providers.kubernetesingress=true --providers.kubernetesingress.endpoint=https://127.0.0.1:6443 \
  --providers.kubernetesingress.token="$(cat "$STATE/traefik.token")" \
  --providers.kubernetesingress.certauthfilepath="$PKI/ca.crt" \
  --providers.kubernetesingress.ingressendpoint.ip=127.0.0.1 --log.level=INFO
wait_for traefik 30 curl -fsS "http://$INGRESS_ADDR/ping"

# ---- smoke: default service account exists, a pod runs and logs -----------------------------
wait_for kube-controller-manager 60 "$BIN/kubectl" -n default get serviceaccount default
"$BIN/kubectl" -n default delete pod isobox-smoke --ignore-not-found --wait=false >/dev/null
"$BIN/kubectl" -n default run isobox-smoke --image="$BUSYBOX_IMAGE" --image-pull-policy=Never --restart=Never \
  --overrides='{"spec":{"automountServiceAccountToken":false}}' -- sh -c 'echo isobox-smoke-ok' >/dev/null
end=$(( $(date +%s) + 60 ))
until [ "$("$BIN/kubectl" -n default get pod isobox-smoke -o jsonpath='{.status.phase}')" = Succeeded ]; do
  [ "$(date +%s)" -lt "$end" ] || { "$BIN/kubectl" -n default describe pod isobox-smoke >&2; die "smoke pod did not succeed"; }
  sleep 0.5
done
[ "$("$BIN/kubectl" -n default logs isobox-smoke)" = isobox-smoke-ok ] || die "smoke pod log mismatch"
"$BIN/kubectl" -n default delete pod isobox-smoke --wait=false >/dev/null
log "smoke pod ok ($(elapsed)s)"

# ---- the project's runtime images (`make images` output), if built ----------------------------
IMAGES_DIR=${ISOBOX_IMAGES_DIR:-${ISOBOX_CACHE:-/var/cache/isobox}/images}
if [ "${ISOBOX_K8S_LOAD_IMAGES:-1}" = 1 ] && compgen -G "$IMAGES_DIR/*.tar" >/dev/null; then
  "$HACK_CLUSTER_DIR/load-images.sh" "$IMAGES_DIR"/*.tar 2>&1 | grep -E '^\[' >&2
  log "loaded $IMAGES_DIR/*.tar ($(elapsed)s)"
fi

cat <<MSG
isobox test cluster is up in $(elapsed)s  (Kubernetes $K8S_VERSION, node $NODE_NAME, node IP $NODE_IP)
  export KUBECONFIG=$KUBECONFIG_ADMIN
  export PATH=$BIN:\$PATH        # kubectl/helm $K8S_VERSION/$HELM_VERSION (the system kubectl is older)
  ingress: http://$INGRESS_ADDR   images: hack/cluster/load-images.sh IMAGE.tar...   logs: $LOGS
$KUBECONFIG_ADMIN
MSG
