#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what the build and the tests need,
# builds every target, runs every CTest tier, then the benchmarks' smoke mode.
#   tiers (CTest labels): unit (pure logic), bpf (real programs via BPF_PROG_TEST_RUN),
#   integration (netns pods through the real CNI chain via cnitool, a real etcd +
#   kube-apiserver, nginx, curl, wrk, ab, Prometheus; the end-to-end scripts also carry e2e)
# The bpf and integration tiers load programs and make netns, so this runs as root. The
# integration tier runs one test at a time: its tests drive real traffic and time real
# reactions, which two at once on a small machine would only make noisy.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "scripts/test.sh: the bpf tier loads BPF programs into the kernel; run it as root:" >&2
  echo "  sudo scripts/test.sh" >&2
  exit 1
fi

scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build --parallel "$(nproc)"
scripts/build-test-tools.sh build/tools   # cnitool for the CNI integration tier
scripts/build-control-plane.sh >/dev/null  # etcd, kube-apiserver, kubectl (cached in build/)
ctest --test-dir build --output-on-failure --parallel "$(nproc)" -L 'unit|bpf'
ctest --test-dir build --output-on-failure -L integration
echo "== benchmark smoke (figures are not assertions; see bench/)"
build/bench/bpf_packet_bench --smoke
build/bench/bpf_line_profile --smoke
build/bench/cni_bench --smoke
build/bench/aggregate_bench --smoke
bench/controller_bench.sh --smoke
bench/sidecar_bench.sh --smoke
bench/dataplane_ab.sh build build --smoke  # A/A: the same build both ways
bench/dataplane_ab.sh build build --in-node --smoke
bench/dataplane_ledger.sh --smoke
bench/replay_ab.sh build/bench/bpf_packet_bench build/bench/bpf_packet_bench --smoke  # A/A
bench/replay_ab.sh build/bench/bpf_packet_bench build/bench/bpf_packet_bench --smoke --cold
