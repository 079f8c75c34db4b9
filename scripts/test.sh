#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what the build and the tests need,
# builds every target, runs every CTest tier, then the benchmarks' smoke mode.
#   tiers (CTest labels): unit (pure logic), bpf (real programs via BPF_PROG_TEST_RUN),
#   integration (netns pods, real CNI plugins through cnitool, real traffic)
# The bpf tier loads programs into the kernel, so this runs as root.
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
ctest --test-dir build --output-on-failure --parallel "$(nproc)"
echo "== benchmark smoke (figures are not assertions; see bench/)"
build/bench/bpf_packet_bench --smoke
build/bench/cni_bench --smoke
build/bench/aggregate_bench --smoke
