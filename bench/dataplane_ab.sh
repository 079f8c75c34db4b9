#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Two data-plane builds on real traffic, alternated run by run: the kernel's BPF run time per
# packet (bpf_stats) of one nginx server pod selected by a policy, at a fixed rate and at the
# maximum, on one CPU. BPF_PROG_TEST_RUN replays one packet with hot caches; this shows what
# a change costs where the network stack runs between packets (instruction and data caches),
# and pairs the builds so that drift on the machine hits both alike.
#   bench/dataplane_ab.sh BUILD_A BUILD_B [--in-node] [--split-cpus] [--new-connection]
#                         [--rounds N] [--runs N] [--seconds S] [--rate R] [--smoke]  (root)
# Each round brings up a local node (e2e/local/lib.sh) from BUILD_A, measures, tears it down,
# then the same from BUILD_B. A build directory needs podlens-controller and podlens-cni;
# rate_client, bpf_stats_hold and cnitool are the same for both (from BUILD_B, else BUILD_A),
# so only the data plane and its loader differ. Prints one line per run and, last, each
# build's median, lowest and highest ns per packet and requests/s per rate. Figures, never
# assertions.
# --in-node: one node from BUILD_A for the whole run. BUILD_B's BPF object
# (bpf/podlens_tc.bpf.o) is loaded beside it on the node's own pinned maps, and the two
# builds' podlens_parse take turns in the tail-call slot (pl_tail) that the attached entry
# programs jump through, round by round (A B, then B A). Same pods, seconds apart: on the
# development VM two nodes of one build can differ by 20% in requests/s, which a node per
# build and round cannot tell from a change. A map that build B lays out otherwise (the
# connection state, say) is B's own; its turns then start without the connections' state
# (each run opens new connections anyway). Adds, per rate, the median over rounds of B / A
# with its 95% interval.
# --new-connection: a connection per request (rate_client --new-connection; default keep-alive).
# --split-cpus: the client on CPU 0, the server on the last one (default: both on the last).
# A request and its response then run on two CPUs, and the connection state's cache lines
# move between them, as on a node where a client and a server pod talk.
# To compare the working tree with a commit: git worktree add /tmp/base COMMIT, build it
# (cmake -S /tmp/base -B /tmp/base/build -G Ninja; cmake --build /tmp/base/build --target
# podlens-controller podlens-cni), then bench/dataplane_ab.sh /tmp/base/build build.
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)

usage() {
  echo "usage: $0 BUILD_A BUILD_B [--in-node] [--split-cpus] [--new-connection]" \
    "[--rounds N] [--runs N] [--seconds S] [--rate R] [--smoke]" >&2
  exit 2
}

# node_up: a node from PL_BUILD, an nginx server pod selected by a policy and a client pod
# without podlens, the server pinned to the last CPU, statistics on. Sets AB_CPU.
node_up() {
  # shellcheck source=../e2e/local/lib.sh
  source "$BENCH_DIR/../e2e/local/lib.sh"
  trap pl_node_down EXIT
  pl_node_up
  pl_server_policy bench ab config podlens 8080 >"$PL_DIR/policies/ab.yaml"
  pl_pod_add srv bench config=podlens
  pl_nginx srv
  pl_pod_add client bench config=client
  pl_podlens_detach client
  local pid
  AB_CPU=$(($(nproc) - 1))
  for pid in $(ip netns pids "$PL_RUN-srv"); do taskset -a -pc "$AB_CPU" "$pid" >/dev/null; done
  pl_wait_stable pl_metric_value podlens_selected_pods >/dev/null
  pl_wait_stable pl_metric_value podlens_attachment_moves_pending >/dev/null
  pl_bpf_stats_on "$AB_STATS_HOLD"
}

# measure_rates: AB_RUNS runs at each rate of AB_RATES
measure_rates() {
  local rate run
  for rate in $AB_RATES; do
    for run in $(seq "$AB_RUNS"); do
      measure_run "${AB_CLIENT_CPU:-$AB_CPU}" "$rate"
    done
  done
}

# measure_node: one node from PL_BUILD; prints "rate=R rps=X ns_per_packet=Y ..." per run.
measure_node() {
  node_up
  measure_rates
}

# measure_in_node: one node from PL_BUILD (build A); AB_OBJECT_B loaded beside it on the
# node's maps (those of the same layout); per round the builds take turns in pl_tail. Prints
# "BUILD rate=R rps=X ns_per_packet=Y ... round=K" per run.
measure_in_node() {
  node_up
  local pins=$PL_BPFFS/dataplane round build args=()
  bpftool prog pin id "$(pl_tail_slot_id)" "$PL_BPFFS/ab_a_parse" \
    || pl_die "could not pin build A's podlens_parse"
  local kept
  kept=$(mktemp)
  mapfile -t args < <(pl_shared_map_args "$AB_OBJECT_B" 2>"$kept")
  sed 's/^\[[0-9:]*\] /# build B: /' "$kept"  # the maps B keeps to itself, into the results
  rm -f "$kept"
  # B's own maps pinned too: a map nothing in user space holds refuses timers (bpf_timer_init
  # fails with EPERM), which builds with event batches (before ABI 14) need
  bpftool prog loadall "$AB_OBJECT_B" "$PL_BPFFS/ab_b" type tc "${args[@]}" \
    pinmaps "$PL_BPFFS/ab_b_maps" >/dev/null \
    || pl_die "could not load $AB_OBJECT_B on the node's maps"
  for round in $(seq "$AB_ROUNDS"); do
    local order="A B"
    [ $((round % 2)) -eq 1 ] || order="B A"
    for build in $order; do
      local parse=$PL_BPFFS/ab_a_parse
      [ "$build" = A ] || parse=$PL_BPFFS/ab_b/podlens_parse
      bpftool map update pinned "$pins/pl_tail" key 0 0 0 0 value pinned "$parse" \
        || pl_die "could not put build $build's podlens_parse in pl_tail"
      [ "$(pl_tail_slot_id)" = "$(bpftool -j prog show pinned "$parse" \
        | grep -o '"id":[0-9]*' | head -1 | cut -d: -f2)" ] \
        || pl_die "pl_tail does not hold build $build's podlens_parse"
      measure_rates | sed "s/^/$build /; s/\$/ round=$round/"
    done
  done
}

# measure_run CLIENT_CPU RATE (0: closed loop, the maximum): one run's requests/s and BPF ns
# per packet, of all the server's packets and of each side's: from_pod, what the server sends
# (its responses, on its own CPU), to_pod, what it receives (the requests)
measure_run() {
  local side ns0 runs0 ns1 runs1 result rps
  local -A before=() name=([ingress]=from_pod [egress]=to_pod)
  for side in ingress egress; do before[$side]=$(pl_bpf_run_totals "prog_$side"); done
  result=$(pl_exec client taskset -c "$1" "$AB_RATE_CLIENT" \
    --url "http://$(pl_pod_ip srv):8080/" --rate "$2" --duration "$AB_SECONDS" \
    --warmup "$AB_WARMUP" --connections 16 ${AB_NEW_CONNECTION:+--new-connection} 2>/dev/null \
    | grep '^RESULT ') \
    || pl_die "rate_client failed"
  local line="" ns=0 runs=0
  for side in ingress egress; do
    read -r ns0 runs0 <<<"${before[$side]}"
    read -r ns1 runs1 <<<"$(pl_bpf_run_totals "prog_$side")"
    [ "$runs1" -gt "$runs0" ] || pl_die "no program ran on $side: is the pod attached?"
    ns=$((ns + ns1 - ns0)) runs=$((runs + runs1 - runs0))
    line+=" ns_${name[$side]}=$(((ns1 - ns0) / (runs1 - runs0)))"
  done
  rps=$(tr ' ' '\n' <<<"$result" | awk -F= '$1 == "achieved_rps" { print $2 }')
  echo "rate=$2 rps=$rps ns_per_packet=$((ns / runs))$line"
}

# summary FILE: per build and rate, the median, lowest and highest of the runs
summary() {
  local build rate key
  for build in A B; do
    for rate in $AB_RATES; do
      for key in ns_per_packet ns_from_pod ns_to_pod rps; do
        awk -v b="$build" -v r="rate=$rate" -v k="$key" '
          $1 == b && $2 == r { for (i = 3; i <= NF; i++) if (index($i, k "=") == 1)
                                 v[++n] = substr($i, length(k) + 2) + 0 }
          END { if (!n) exit
                asort_n(v, n)
                printf "%s %-12s %-14s median %9.1f  (%.1f-%.1f, %d runs)\n", b, r, k,
                  (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2, v[1], v[n], n }
          function asort_n(a, n,   i, j, t) {  # insertion sort: mawk has no asort
            for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) {
              t = a[j]; a[j] = a[j - 1]; a[j - 1] = t } }' "$1"
      done
    done
  done
}

# paired_summary FILE: per rate and figure, the median over rounds of B's mean / A's mean and
# its distribution-free 95% interval (the k-th lowest and highest ratio, k from the binomial
# distribution, as bench/sidecar_report.sh's paired_ratio; "too few rounds" below 6)
# (--in-node lines end in round=K)
paired_summary() {
  awk '$NF ~ /^round=/ {
         for (i = 3; i < NF; i++) {
           split($i, kv, "="); sum[$1, $2, $NF, kv[1]] += kv[2]; n[$1, $2, $NF, kv[1]]++ }
         rates[$2] = 1; rounds[$NF] = 1 }
       END { nkeys = split("rps ns_per_packet ns_from_pod ns_to_pod", keys, " ")
             for (r in rates) for (k = 1; k <= nkeys; k++) { m = 0
               for (q in rounds) if (n["A", r, q, keys[k]] && n["B", r, q, keys[k]])
                 v[++m] = (sum["B", r, q, keys[k]] / n["B", r, q, keys[k]]) / \
                          (sum["A", r, q, keys[k]] / n["A", r, q, keys[k]])
               if (!m) continue
               for (i = 2; i <= m; i++) for (j = i; j > 1 && v[j - 1] > v[j]; j--) {
                 t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
               c = 0; p = 0.5 ^ m; cum = p
               for (j = 0; cum <= 0.025; j++) { c = j + 1; p = p * (m - j) / (j + 1); cum += p }
               median = (m % 2) ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2
               if (c == 0) printf "B / A %-12s %-14s median %.3f  (too few rounds: %d)\n",
                             r, keys[k], median, m
               else printf "B / A %-12s %-14s median %.3f  (95%% CI %.3f-%.3f, %d rounds)\n",
                      r, keys[k], median, v[c], v[m + 1 - c], m } }' "$1"
}

tool_path() {  # tool_path NAME DIR...: the first executable NAME under the DIRs, or exit
  local name=$1 dir found
  shift
  for dir in "$@"; do
    found=$(find "$dir" -path "$dir/e2e-local" -prune -o -name "$name" -type f -perm -u+x \
      -print -quit)
    [ -z "$found" ] || { echo "$found"; return 0; }
  done
  echo "$0: $name not found under $* (cmake --build; scripts/build-test-tools.sh)" >&2
  exit 1
}

main() {
  [ $# -ge 2 ] || usage
  local build_a build_b rounds=3 runs=2 seconds=5 rate=18000 warmup=1 in_node="" client_cpu=""
  local new_connection=""
  build_a=$(cd "$1" && pwd) build_b=$(cd "$2" && pwd)
  shift 2
  while [ $# -gt 0 ]; do
    case $1 in
      --in-node) in_node=1 ;;
      --split-cpus) client_cpu=0 ;;
      --new-connection) new_connection=1 ;;
      --rounds) rounds=$2; shift ;;
      --runs) runs=$2; shift ;;
      --seconds) seconds=$2; shift ;;
      --rate) rate=$2; shift ;;
      --smoke) rounds=1 runs=1 seconds=0.5 rate=200 warmup=0.2 ;;
      *) usage ;;
    esac
    shift
  done
  [ "$(id -u)" -eq 0 ] || { echo "$0: needs root (netns, BPF)" >&2; exit 1; }
  export AB_RATE_CLIENT AB_STATS_HOLD PL_CNITOOL AB_RATES="$rate 0" AB_RUNS=$runs
  export AB_SECONDS=$seconds AB_WARMUP=$warmup AB_CLIENT_CPU=$client_cpu
  export AB_NEW_CONNECTION=$new_connection
  AB_RATE_CLIENT=$(tool_path rate_client "$build_b" "$build_a")
  AB_STATS_HOLD=$(tool_path bpf_stats_hold "$build_b" "$build_a")
  PL_CNITOOL=$(tool_path cnitool "$build_b" "$build_a")
  local out log round build dir
  out=$(mktemp) log=$(mktemp)
  if [ -n "$in_node" ]; then
    export AB_OBJECT_B=$build_b/bpf/podlens_tc.bpf.o AB_ROUNDS=$rounds
    [ -f "$AB_OBJECT_B" ] || { echo "$0: no $AB_OBJECT_B (cmake --build)" >&2; exit 1; }
    if ! PL_BUILD=$build_a "$0" --measure-in-node 2>"$log" | tee -a "$out"; then
      tail -20 "$log" >&2
      echo "$0: the node of build A ($build_a) failed" >&2
      exit 1
    fi
  fi
  for round in $(seq "$rounds"); do
    [ -z "$in_node" ] || break
    for build in A B; do
      dir=$build_a
      [ "$build" = A ] || dir=$build_b
      if ! PL_BUILD=$dir "$0" --measure-node 2>"$log" | sed "s/^/$build /" | tee -a "$out"; then
        tail -20 "$log" >&2
        echo "$0: the node of build $build ($dir) failed" >&2
        exit 1
      fi
    done
  done
  echo "A = $build_a"
  echo "B = $build_b"
  summary "$out"
  [ -z "$in_node" ] || paired_summary "$out"
  rm -f "$out" "$log"
}

if [ "${1:-}" = --measure-node ]; then
  measure_node
elif [ "${1:-}" = --measure-in-node ]; then
  measure_in_node
else
  main "$@"
fi
