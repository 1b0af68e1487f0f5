#!/usr/bin/env bash
# Create the test cluster's PKI (openssl, EC P-256; service-account key RSA 2048) and the
# kubeconfigs of the host components. Usage: pki.sh <node-ip>. Writes into $PKI and $STATE.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
NODE_IP=${1:?node ip}
mkdir -p "$PKI"; cd "$PKI"
umask 077

newkey() { openssl ecparam -name prime256v1 -genkey -noout -out "$1.key" 2>/dev/null; }

openssl ecparam -name prime256v1 -genkey -noout -out ca.key
openssl req -x509 -new -key ca.key -sha256 -days 3650 -subj "/CN=isobox-test-cluster-ca" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
  -out ca.crt 2>/dev/null

sign() {  # name subject extendedKeyUsage [subjectAltName]
  local n=$1 subj=$2 eku=$3 san=${4:-}
  newkey "$n"
  openssl req -new -key "$n.key" -subj "$subj" -out "$n.csr" 2>/dev/null
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$eku"
    [ -n "$san" ] && echo "subjectAltName=$san"
  } > "$n.ext"
  openssl x509 -req -in "$n.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -sha256 \
    -extfile "$n.ext" -out "$n.crt" 2>/dev/null
  rm -f "$n.csr" "$n.ext"
}

sign apiserver "/CN=kube-apiserver" serverAuth \
  "DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost,IP:127.0.0.1,IP:$SERVICE_IP,IP:$NODE_IP"
sign apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" clientAuth
sign admin "/O=system:masters/CN=isobox-admin" clientAuth
sign kubelet "/O=system:nodes/CN=system:node:$NODE_NAME" clientAuth
sign kubelet-serving "/CN=$NODE_NAME" serverAuth "DNS:$NODE_NAME,DNS:localhost,IP:127.0.0.1,IP:$NODE_IP"
sign kube-controller-manager "/CN=system:kube-controller-manager" clientAuth
sign kube-scheduler "/CN=system:kube-scheduler" clientAuth
sign kube-proxy "/CN=system:kube-proxy" clientAuth
sign kube-router "/CN=isobox:kube-router" clientAuth
# front-proxy (aggregation layer) CA + client, so requestheader authentication is configured
openssl ecparam -name prime256v1 -genkey -noout -out front-proxy-ca.key
openssl req -x509 -new -key front-proxy-ca.key -sha256 -days 3650 -subj "/CN=isobox-front-proxy-ca" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
  -out front-proxy-ca.crt 2>/dev/null
newkey front-proxy-client
openssl req -new -key front-proxy-client.key -subj "/CN=front-proxy-client" -out front-proxy-client.csr 2>/dev/null
printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n' > fp.ext
openssl x509 -req -in front-proxy-client.csr -CA front-proxy-ca.crt -CAkey front-proxy-ca.key -CAcreateserial \
  -days 3650 -sha256 -extfile fp.ext -out front-proxy-client.crt 2>/dev/null
rm -f front-proxy-client.csr fp.ext
openssl genrsa -out sa.key 2048 2>/dev/null
openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
openssl verify -CAfile ca.crt apiserver.crt admin.crt kubelet.crt >/dev/null

b64() { base64 -w0 < "$1"; }
kubeconfig() {  # out user
  local out=$1 u=$2
  cat > "$out" <<KC
apiVersion: v1
kind: Config
clusters:
- name: isobox
  cluster:
    server: https://127.0.0.1:6443
    certificate-authority-data: $(b64 ca.crt)
users:
- name: $u
  user:
    client-certificate-data: $(b64 "$u.crt")
    client-key-data: $(b64 "$u.key")
contexts:
- name: isobox
  context: {cluster: isobox, user: $u}
current-context: isobox
KC
}
for u in kubelet kube-controller-manager kube-scheduler kube-proxy kube-router; do kubeconfig "$PKI/$u.kubeconfig" "$u"; done
kubeconfig "$KUBECONFIG_ADMIN" admin
chmod 600 "$KUBECONFIG_ADMIN"
