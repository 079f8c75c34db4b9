#!/usr/bin/env bash
# The main job, on its embedded default: a local "node" on this machine. Network-namespace
# pods are wired by the real CNI chain (Debian's bridge + host-local, then podlens-cni, run
# through cnitool), the controller runs in standalone mode with sample policies, nginx serves
# and wrk, curl and ab call it. A live per-pod, per-route summary (requests/s, 5xx ratio,
# p50, p99) prints while it runs; it ends by itself and removes everything it made, also on
# failure and on Ctrl-C. PL_DEMO_SECONDS sets the length (default 40).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "scripts/demo.sh: pods are network namespaces and the programs load into the kernel;" >&2
  echo "run it as root: sudo scripts/demo.sh" >&2
  exit 1
fi
scripts/install-deps.sh
scripts/build-test-tools.sh  # cnitool, the CNI runtime client
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build --parallel "$(nproc)" --target podlens-controller podlens-cni podlens-top
exec e2e/local/demo.sh
