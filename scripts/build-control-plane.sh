#!/usr/bin/env bash
# Builds the real Kubernetes control plane the control-plane e2e runs against, from the official
# Go modules at a pinned release, the way controller-runtime's envtest gets its binaries:
#   kube-apiserver, kubectl  from k8s.io/kubernetes (cmd/...)
#   etcd                     from go.etcd.io/etcd/server/v3 (etcdmain), the version that release
#                            pins in build/dependencies.yaml
# k8s.io/kubernetes is not meant to be imported: its go.mod points its staging modules
# (k8s.io/api, k8s.io/apiserver, ...) at v0.0.0 with local replaces. A tools module requires it
# and replaces each staging module with its published v0.<minor>.<patch> of the same release.
#
# Output: build/control-plane/<k8s version>/bin/{kube-apiserver,kubectl,etcd}; prints that dir.
# Idempotent: a complete bin dir (stamp file written last) is reused without touching Go.
# Env: PODLENS_K8S_VERSION (default below), PODLENS_CONTROL_PLANE_DIR (default build/control-plane)
set -euo pipefail
cd "$(dirname "$0")/.."

K8S_VERSION="${PODLENS_K8S_VERSION:-v1.36.3}"
ETCD_VERSION="${PODLENS_ETCD_VERSION:-v3.6.8}"   # build/dependencies.yaml of v1.36.3
ROOT="${PODLENS_CONTROL_PLANE_DIR:-$PWD/build/control-plane}"
OUT="$ROOT/$K8S_VERSION"
BIN="$OUT/bin"
STAMP="$BIN/.complete-$K8S_VERSION-etcd-$ETCD_VERSION"

if [ -f "$STAMP" ]; then
  echo "$BIN"
  exit 0
fi

GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
if ! [ -x "$GO" ]; then
  echo "build-control-plane: no Go toolchain (looked for go on PATH and /usr/local/go/bin/go)" >&2
  exit 1
fi

staging_minor="v0.${K8S_VERSION#v1.}"   # v1.36.3 -> v0.36.3
mod="$OUT/tools"
mkdir -p "$mod" "$BIN"
log() { echo "build-control-plane: $*" >&2; }
start=$(date +%s)

# The staging modules of this release, read from its own go.mod.
"$GO" mod download -json "k8s.io/kubernetes@$K8S_VERSION" >"$mod/kubernetes.json"
k8s_gomod=$(sed -n 's/.*"GoMod": "\(.*\)".*/\1/p' "$mod/kubernetes.json")
mapfile -t staging < <(sed -n 's#^\t\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$k8s_gomod")
if [ "${#staging[@]}" -eq 0 ]; then
  log "found no staging replaces in $k8s_gomod"
  exit 1
fi

{
  echo "module podlens.local/control-plane-tools"
  echo
  echo "go 1.26"
  echo
  echo "require ("
  echo "	k8s.io/kubernetes $K8S_VERSION"
  echo "	go.etcd.io/etcd/server/v3 $ETCD_VERSION"
  echo ")"
  echo
  echo "replace ("
  for m in "${staging[@]}"; do
    echo "	$m => $m $staging_minor"
  done
  echo ")"
} >"$mod/go.mod"

mkdir -p "$mod/etcd"
cat >"$mod/etcd/main.go" <<'EOF'
// etcd's own main, verbatim in effect: the server binary is etcdmain.Main.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
EOF
cat >"$mod/tools.go" <<'EOF'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
EOF

cd "$mod"
export GOFLAGS="-mod=mod -buildvcs=false"
export CGO_ENABLED=0
log "resolving modules for kubernetes $K8S_VERSION (${#staging[@]} staging modules at $staging_minor)"
"$GO" mod tidy >&2

ver="k8s.io/component-base/version"
ldflags="-s -w -X $ver.gitVersion=$K8S_VERSION -X $ver.gitMajor=1"
ldflags+=" -X $ver.gitMinor=$(echo "$K8S_VERSION" | cut -d. -f2) -X $ver.gitTreeState=clean"
ldflags+=" -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION"
for cmd in kube-apiserver kubectl; do
  log "building $cmd"
  "$GO" build -trimpath -ldflags "$ldflags" -o "$BIN/$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd"
  mv "$BIN/$cmd.tmp" "$BIN/$cmd"
done
log "building etcd $ETCD_VERSION"
"$GO" build -trimpath -ldflags "-s -w" -o "$BIN/etcd.tmp" ./etcd
mv "$BIN/etcd.tmp" "$BIN/etcd"

echo "built in $(( $(date +%s) - start ))s" >"$STAMP"
log "done in $(( $(date +%s) - start ))s: $BIN"
echo "$BIN"
