#!/usr/bin/env bash
# A data-plane change against the build before it, in the replay, to about 10 ns: two builds of
# bpf_packet_bench (each embeds its own podlens_tc) take turns, in an order alternated from
# round to round, each timing N transactions of every kind a keep-alive connection sees
# (--ab-sample: a curl-like request and a 6-line response; a minimal request and an nginx page
# with its 1 KB body). Raw ns per run, trimmed means (the lowest 99% of the runs). Prints each
# round, then per kind the median of B - A over the rounds, and in how many rounds B was
# lower. The machine drifts by 15-20 ns between rounds, which pairing cancels in part: an A/A
# of 16 rounds (one binary against its copy) put the paired medians within 8 ns of 0, so a
# change smaller than about 10 ns is beyond this machine even so.
#   bench/replay_ab.sh BENCH_A BENCH_B [--rounds N] [--runs N] [--cold]     (root)
# --cold: each packet after a sweep of the core's caches and branch history (bpf_packet_bench's
# CacheSweep), 20,000 runs a kind unless --runs says otherwise: about 3 minutes for 16 rounds.
# What a change does to a packet whose code and data are not in L1, as on a node.
# BENCH_B against BENCH_A; a build of the change before it, say:
#   git worktree add /tmp/base HEAD~1 && cmake -S /tmp/base -B /tmp/base/build -G Ninja
#   cmake --build /tmp/base/build --target bpf_packet_bench
#   bench/replay_ab.sh /tmp/base/build/bench/bpf_packet_bench build/bench/bpf_packet_bench
# --smoke: 2 rounds of 2,000 runs. Figures, never assertions.
set -euo pipefail
usage() { echo "usage: $0 BENCH_A BENCH_B [--rounds N] [--runs N] [--cold] [--smoke]" >&2; exit 2; }
[ $# -ge 2 ] || usage
A=$1 B=$2
shift 2
ROUNDS=16 RUNS="" COLD=""
while [ $# -gt 0 ]; do
  case $1 in
    --rounds) ROUNDS=$2; shift ;;
    --runs) RUNS=$2; shift ;;
    --cold) COLD=cold ;;
    --smoke) ROUNDS=2 RUNS=2000 ;;
    *) usage ;;
  esac
  shift
done
[ -n "$RUNS" ] || RUNS=$([ -n "$COLD" ] && echo 20000 || echo 100000)

# sample NAME BENCH ROUND: one --ab-sample line, tagged
sample() {
  local line
  line=$("$2" --ab-sample "$RUNS" ${COLD:+"$COLD"} | grep '^AB ') \
    || { echo "$2 --ab-sample failed" >&2; exit 1; }
  echo "$1 round=$3 ${line#AB }"
}

lines=$(mktemp)
trap 'rm -f "$lines"' EXIT
for round in $(seq "$ROUNDS"); do
  if [ $((round % 2)) -eq 1 ]; then
    sample A "$A" "$round"; sample B "$B" "$round"
  else
    sample B "$B" "$round"; sample A "$A" "$round"
  fi
done | tee "$lines"

awk '{ for (i = 3; i <= NF; i++) { split($i, kv, "="); if (kv[1] != "events") {
         v[$1, $2, kv[1]] = kv[2]; kinds[kv[1]] = 1; rounds[$2] = 1 } } }
  END {
    for (k in kinds) {
      n = 0; lower = 0
      for (r in rounds) { d[++n] = v["B", r, k] - v["A", r, k]; lower += d[n] < 0 }
      for (i = 2; i <= n; i++) for (j = i; j > 1 && d[j - 1] > d[j]; j--) {
        t = d[j]; d[j] = d[j - 1]; d[j - 1] = t }
      printf "%-9s B - A: median %+.1f ns (%+.1f to %+.1f), B lower in %d of %d rounds\n", k,
        (n % 2) ? d[(n + 1) / 2] : (d[n / 2] + d[n / 2 + 1]) / 2, d[1], d[n], lower, n
    }
  }' "$lines" | sort
