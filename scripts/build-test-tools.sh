#!/usr/bin/env bash
# Builds the upstream tools the integration tests drive, from their official Go modules at
# pinned versions, cached under build/ (Go is used for nothing else):
#   build/tools/cnitool   the CNI runtime client (github.com/containernetworking/cni)
# Skips what is already built. Usage: scripts/build-test-tools.sh [OUTPUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."

CNI_VERSION=v1.2.3
out="${1:-build/tools}"
cache="build/.go"

if [ -x "$out/cnitool" ] && [ "$(cat "$out/cnitool.version" 2>/dev/null)" = "$CNI_VERSION" ]; then
  echo "build-test-tools: cnitool $CNI_VERSION present"
  exit 0
fi

go_bin="$(command -v go || true)"
if [ -z "$go_bin" ] && [ -x /usr/local/go/bin/go ]; then
  go_bin=/usr/local/go/bin/go
fi
if [ -z "$go_bin" ]; then
  echo "build-test-tools: no Go toolchain; installing Debian's golang-go"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends golang-go
  go_bin="$(command -v go)"
fi

mkdir -p "$out" "$cache"
abs_out="$(cd "$out" && pwd)"
abs_cache="$(cd "$cache" && pwd)"
echo "build-test-tools: building cnitool $CNI_VERSION with $("$go_bin" version)"
GOPATH="$abs_cache/path" GOCACHE="$abs_cache/cache" GOFLAGS=-mod=mod GOBIN="$abs_out" \
  GOTOOLCHAIN=local "$go_bin" install "github.com/containernetworking/cni/cnitool@$CNI_VERSION"
echo "$CNI_VERSION" > "$out/cnitool.version"
