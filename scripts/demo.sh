#!/usr/bin/env bash
# The main job. Its embedded default, a local node of network-namespace pods wired by the
# real CNI chain with the controller in standalone mode, arrives with the local-node issue
# (see docs/roadmap.md). Until then it builds podlens and shows the kernel data plane
# parsing HTTP/1.x from crafted TCP segments, with its per-packet cost.
set -euo pipefail
cd "$(dirname "$0")/.."

cat <<'MSG'
podlens demo: the local-node demo (netns pods, real CNI plugins, controller in standalone
mode, real traffic, live metrics) is not built yet; it is the local-node issue on the
tracker, after podlens-cni and podlens-controller. What runs now: the TC data plane, loaded
into this kernel and driven through BPF_PROG_TEST_RUN with crafted HTTP/1.x traffic.
MSG

if [ "$(id -u)" -ne 0 ]; then
  echo "scripts/demo.sh: loading BPF programs needs root; run: sudo scripts/demo.sh" >&2
  exit 1
fi
scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo > /dev/null
cmake --build build --parallel "$(nproc)" --target bpf_packet_bench
build/bench/bpf_packet_bench --smoke
