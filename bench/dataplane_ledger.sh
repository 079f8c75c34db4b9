#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# What each part of the data plane costs a selected pod's maximum throughput, on real traffic.
# One local node (e2e/local/lib.sh) from PL_BUILD, one nginx server pod that listens on 8080,
# which a policy selects, and on 8081, which none does. rate_client alternates phases between
# the two ports (--phase-ms 200, keep-alive, 16 connections): one pod, one veth, one nginx,
# with and without the parse, a fraction of a second apart. Between runs, builds of the
# programs that leave one part out (the PODLENS_LEDGER_* macros, built by the
# ledger_objects target) take the tail-call slot that the attached entry programs jump
# through, on the node's own maps, in an order rotated from round to round:
#   this       the node's own podlens_parse
#   again      the same object loaded a second time, beside it (loading's own effect: none)
#   no_clock   a constant instead of bpf_ktime_get_ns
#   no_event   the response matched, no event reserved (nothing for the controller either)
#   no_parse   the packet decoded and filtered, its state looked up, its stream taken and
#              released, nothing parsed
#   spin       no_parse, and about 300 ns per packet of clock reads in the parse's place (its
#              run time at this maximum): the cost of run time alone, without the parse's
#              code and data in the caches
# and, only when named in --builds (or with --smoke, which loads and runs every build once):
#   no_memo    no response header memo (every response block parsed line by line)
#   spin_request, spin_response
#              no_parse, and about 600 ns of clock reads on one side's packets only: which
#              CPU's time the maximum pays for (requests run on the client's sends, responses
#              on the server's)
#   NAME       with --object NAME=PATH: another build's podlens_tc.bpf.o (a change against
#              this build, say: git worktree add /tmp/base HEAD~1, build it, then
#              --object base=/tmp/base/build/bpf/podlens_tc.bpf.o); it runs on the node's
#              maps, but for those it lays out otherwise or the node lacks, which are its own
# --one-cpu: the server pod's processes and the client on the last CPU (default: free), so a
# request and its response run on one CPU and no cache line moves between CPUs.
# --builds A,B,...: only these builds (this,base with --object base=PATH: a change against
# the build before it, three times the rounds in the same time).
# Prints one line per run (selected ÷ unselected requests/s over the run's cycles) and, per
# build, the median over rounds with the lowest and highest. Figures, never assertions.
#   bench/dataplane_ledger.sh [--rounds N] [--cycles N] [--object NAME=PATH]... [--one-cpu]
#                             [--builds A,B,...] [--smoke]                          (root)
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
ROUNDS=3 CYCLES=60 PHASE_MS=200 WARMUP=0.5
BUILDS=(this again no_clock no_event no_parse spin)
EXTRA_BUILDS=(no_memo spin_request spin_response)  # only when named in --builds
declare -A OBJECTS=()  # --object NAME=PATH
ON_CPU=()  # --one-cpu: taskset for the client
ONLY=""    # --builds: a comma-separated subset of BUILDS
while [ $# -gt 0 ]; do
  case $1 in
    --rounds) ROUNDS=$2; shift ;;
    --cycles) CYCLES=$2; shift ;;
    --object) [[ $2 == [a-z]*=?* && " ${BUILDS[*]} " != *" ${2%%=*} "* ]] \
        || { echo "--object takes NAME=PATH, NAME not a build already" >&2; exit 2; }
      OBJECTS[${2%%=*}]=$(realpath "${2#*=}"); BUILDS+=("${2%%=*}"); shift ;;
    --one-cpu) ON_CPU=(taskset -c "$(($(nproc) - 1))") ;;
    --builds) ONLY=$2; shift ;;
    --smoke) ROUNDS=1 CYCLES=2 PHASE_MS=50 WARMUP=0.1 BUILDS+=("${EXTRA_BUILDS[@]}") ;;
    *) echo "usage: $0 [--rounds N] [--cycles N] [--object NAME=PATH]... [--one-cpu]" \
         "[--builds A,B,...] [--smoke]" >&2
       exit 2 ;;
  esac
  shift
done
if [ -n "$ONLY" ]; then
  IFS=, read -r -a wanted <<<"$ONLY"
  for build in "${wanted[@]}"; do
    [[ " ${BUILDS[*]} ${EXTRA_BUILDS[*]} " == *" $build "* ]] \
      || { echo "--builds: no build $build" >&2; exit 2; }
  done
  BUILDS=("${wanted[@]}")
fi

# shellcheck source=../e2e/local/lib.sh
source "$BENCH_DIR/../e2e/local/lib.sh"
trap pl_node_down EXIT
trap 'exit 130' INT TERM

# object BUILD: the BPF object of a build loaded beside the node's own
object() {
  case $1 in
    again) echo "$PL_BUILD/bpf/podlens_tc.bpf.o" ;;
    no_clock | no_event | no_parse | no_memo | spin | spin_request | spin_response)
      echo "$PL_BUILD/bench/ledger_$1.bpf.o" ;;
    *) echo "${OBJECTS[$1]}" ;;
  esac
}

# load_builds: pins the node's podlens_parse as builds/this, loads every other build on the
# node's maps of the same shape under builds/NAME (its own maps pinned too: a map that no
# user space holds refuses timers)
load_builds() {
  local build args
  mkdir -p "$PL_BPFFS/builds" "$PL_BPFFS/objects"
  bpftool prog pin id "$(pl_tail_slot_id)" "$PL_BPFFS/builds/this" \
    || pl_die "could not pin the node's podlens_parse"
  for build in "${BUILDS[@]}"; do
    [ "$build" != this ] || continue
    mapfile -t args < <(pl_shared_map_args "$(object "$build")")
    bpftool prog loadall "$(object "$build")" "$PL_BPFFS/objects/$build" type tc "${args[@]}" \
      pinmaps "$PL_BPFFS/objects/${build}_maps" >/dev/null \
      || pl_die "could not load $(object "$build") on the node's maps"
    ln -s "$PL_BPFFS/objects/$build/podlens_parse" "$PL_BPFFS/builds/$build"
  done
}

# measure BUILD ROUND: BUILD's parse in the slot, one alternating run; prints its line
measure() {
  local build=$1 round=$2 parse ip output
  parse=$(readlink -f "$PL_BPFFS/builds/$build")
  bpftool map update pinned "$PL_BPFFS/dataplane/pl_tail" key 0 0 0 0 value pinned "$parse" \
    || pl_die "could not put $build's podlens_parse in pl_tail"
  ip=$(pl_pod_ip srv)
  output=$(pl_exec client "${ON_CPU[@]}" "$(pl_bin rate_client)" --url "http://$ip:8080/" \
    --url "http://$ip:8081/" --phase-ms "$PHASE_MS" --warmup "$WARMUP" --connections 16 \
    --duration "$(awk -v c="$CYCLES" -v ms="$PHASE_MS" 'BEGIN { print c * 2 * ms / 1000 }')" \
    2>/dev/null) || pl_die "rate_client failed ($build)"
  awk -v build="$build" -v round="$round" '
    /^RESULT url=/ { split($2, u, "="); for (i = 3; i <= NF; i++) {
      split($i, kv, "="); if (kv[1] == "achieved_rps") rps[u[2]] = kv[2] } }
    END { printf "%-9s round=%s selected_rps=%.0f unselected_rps=%.0f ratio=%.4f\n", build,
      round, rps[1], rps[2], rps[2] ? rps[1] / rps[2] : 0 }' <<<"$output"
}

# summary FILE: per build, the median of its rounds' ratios, the lowest and the highest
summary() {
  local build
  for build in "${BUILDS[@]}"; do
    awk -v b="$build" '$1 == b { split($NF, kv, "="); v[++n] = kv[2] }
      END { if (!n) exit
        for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j - 1] > v[j]; j--) {
          t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
        printf "%-9s selected / unselected: median %.3f (%.3f-%.3f, %d rounds)\n", b,
          (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2, v[1], v[n], n }' "$1"
  done
}

main() {
  pl_node_up
  pl_server_policy bench ledger config podlens 8080 >"$PL_DIR/policies/ledger.yaml"
  pl_pod_add srv bench config=podlens
  pl_nginx --port 8081 srv
  pl_pod_add client bench config=client
  pl_podlens_detach client
  pl_wait_stable pl_metric_value podlens_selected_pods >/dev/null
  [ "$(pl_metric_value podlens_selected_pods)" = 1 ] || pl_die "the policy selects no pod"
  pl_wait_stable pl_metric_value podlens_attachment_moves_pending >/dev/null
  local pid
  for pid in $([ "${#ON_CPU[@]}" -eq 0 ] || ip netns pids "$PL_RUN-srv"); do
    taskset -a -pc "$(($(nproc) - 1))" "$pid" >/dev/null || pl_die "could not pin $pid"
  done
  load_builds
  local round i n=${#BUILDS[@]} lines=$PL_DIR/ledger.txt
  pl_log "$ROUNDS rounds x ${BUILDS[*]}: $CYCLES cycles of 8080 (selected) and 8081 (not)," \
    "$PHASE_MS ms each"
  for round in $(seq "$ROUNDS"); do
    for i in $(seq 0 $((n - 1))); do
      measure "${BUILDS[$(((i + round) % n))]}" "$round" | tee -a "$lines"
    done
  done
  summary "$lines"
}

main
