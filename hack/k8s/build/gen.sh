#!/usr/bin/env bash
# Regenerate go.mod/go.sum of the Kubernetes wrapper module for K8S_VERSION
# (from hack/cluster/versions.env). Run only when bumping Kubernetes; commit the result.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../cluster/versions.env
. "$here/../../cluster/versions.env"
cd "$here"
staging_ver="v0.${K8S_VERSION#v1.}"          # v1.35.4 -> v0.35.4
rm -f go.mod go.sum
go mod init isobox.dev/hack/k8s/build >/dev/null 2>&1
gomod=$(go mod download -json "k8s.io/kubernetes@${K8S_VERSION}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
gover=$(awk '$1=="go"{print $2; exit}' "$gomod")
go mod edit -go="$gover"
awk '$2=="=>" && $3 ~ /^\.\/staging\// {print $1}' "$gomod" | while read -r m; do
  go mod edit -replace="$m=$m@$staging_ver"
done
go mod edit -require="k8s.io/kubernetes@${K8S_VERSION}"
for c in $K8S_CMDS; do go mod edit -tool="k8s.io/kubernetes/cmd/$c"; done
go mod tidy
echo "wrapper module regenerated for $K8S_VERSION (staging $staging_ver, go $gover)"
