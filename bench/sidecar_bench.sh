#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# What HTTP telemetry costs a pod, side by side, in one run on one local node (e2e/local/lib.sh):
#   baseline    the server pod with podlens detached (no program on its veth): no telemetry
#   baseline2   a second, identical baseline pod: how far two identical configurations differ
#               in this run (the A/A comparison, the run's noise floor)
#   unselected  podlens attached to the server pod, no policy selects it (the cheap path)
#   podlens     podlens attached and selected by a TelemetryPolicy (Inbound 8080)
#   sidecar     podlens detached; HAProxy inside the server pod as an L7 proxy, inbound :8080
#               redirected to it by iptables, an access-log line per request (a mesh sidecar)
# Each configuration is its own server pod (same nginx, same ~1 KB page) so nothing has to be
# switched between runs; one client pod (podlens detached) drives bench/loadgen/rate_client.
# The configurations are measured alternately, in rounds whose order rotates, so drift on the
# machine hits all of them alike; every ratio is against the baseline of the same run.
# Last, baseline, baseline2 and podlens share interleaved runs at 50% load in all (requests
# dealt to them in turns): the latency podlens adds to its own requests, under the same stalls
# of the machine, which move the separate runs' p99 a long way. Once with their own pods, and
# once through the podlens pod's one nginx (ports 8081 and 8082 stand for baseline and
# baseline2: the same server block listens on them, and no policy selects them), where even
# the scheduling of the server is shared.
# Figures are recorded, never asserted (benchmarks are not tests).
#   bench/sidecar_bench.sh [--smoke] [--rounds N] [--max-rounds N] [--max-seconds S]
#                          [--rate-seconds S] [--phase-ms MS] [--phase-cycles N]
#                          [--one-cpu | --split-cpus] [--out FILE.md] [--note TEXT]   (root)
# The maximum-throughput runs are short and many (--max-rounds, 4x --rounds by default): on a
# small VM one run's throughput moves by several percent from one run to the next, and a
# round's runs of every configuration close together let the report take each ratio round by
# round, with a confidence interval over the rounds. Then one run per kind measures every
# configuration's maximum in alternating phases (--phase-ms, 200 ms each, --phase-cycles
# cycles of one phase per configuration, 480 by default): the ratios are taken cycle by cycle,
# the configurations' phases a fraction of a second apart, which narrows the interval further.
# Once with every pod, once with the ports of the podlens pod's one nginx (as the interleaved
# runs below): the same pod, veth and nginx with and without parsing, so that what sets two
# pods apart (about 1% either way) does not count for or against podlens.
# Placement (the controller always stays free):
#   default       the kernel's scheduler places every process
#   --split-cpus  the client on CPU 0, every server pod on the last CPU: each side has a core of
#                 its own, as when the client runs on another machine (on the development VM,
#                 runs spread as widely as with free placement)
#   --one-cpu     the client and every server pod on the last CPU: not how a node runs, but runs
#                 repeat to about 1%, so it shows whether a data-plane change helps
# Writes docs/benchmarks.md and docs/benchmarks/*.png (--smoke: a few seconds, tiny rates,
# report under the run's directory, docs untouched). Needs PL_BUILD with podlens-controller,
# podlens-cni, cnitool, rate_client, hiccup_meter and bpf_stats_hold (cmake --build;
# scripts/build-test-tools.sh).
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
: "${PL_METRICS_PORT:=$((20000 + $$ % 10000))}"  # unlike lib.sh's fixed default: runs coexist
export PL_METRICS_PORT
# shellcheck source=../e2e/local/lib.sh
source "$BENCH_DIR/../e2e/local/lib.sh"
# shellcheck source=sidecar_report.sh
source "$BENCH_DIR/sidecar_report.sh"  # median_of, write_report

CONFIGS=(baseline baseline2 unselected podlens sidecar)
LOADS=(10 50 80)  # percent of the baseline's keep-alive capacity
ROUNDS=5 MAX_ROUNDS="" MAX_SECONDS=1.5 RATE_SECONDS=6 WARMUP=1 MAX_WARMUP=0.5 CONNECTIONS=16
PHASE_MS=200 PHASE_CYCLES=480
SMOKE=0 NOTE=""
CLIENT_CPU="" SERVER_CPU=""  # empty: free
OUT=$PL_ROOT/docs/benchmarks.md
SIDECAR_PORT=15006  # where the redirect sends inbound traffic (Istio's inbound port)

while [ $# -gt 0 ]; do
  case $1 in
    --smoke) SMOKE=1 ROUNDS=1 MAX_ROUNDS=2 MAX_SECONDS=0.5 RATE_SECONDS=0.5 WARMUP=0.2
      MAX_WARMUP=0.2 CONNECTIONS=4 PHASE_MS=50 PHASE_CYCLES=2 ;;
    --rounds) ROUNDS=$2; shift ;;
    --max-rounds) MAX_ROUNDS=$2; shift ;;
    --max-seconds) MAX_SECONDS=$2; shift ;;
    --rate-seconds) RATE_SECONDS=$2; shift ;;
    --phase-ms) PHASE_MS=$2; shift ;;
    --phase-cycles) PHASE_CYCLES=$2; shift ;;
    --out) OUT=$2; shift ;;
    --note) NOTE=$2; shift ;;
    --one-cpu) CLIENT_CPU=$(($(nproc) - 1)) SERVER_CPU=$(($(nproc) - 1)) ;;
    --split-cpus) CLIENT_CPU=0 SERVER_CPU=$(($(nproc) - 1)) ;;
    *) echo "usage: $0 [--smoke] [--rounds N] [--max-rounds N] [--max-seconds S]" \
         "[--rate-seconds S] [--phase-ms MS] [--phase-cycles N]" \
         "[--one-cpu | --split-cpus] [--out FILE.md] [--note TEXT]" >&2
       exit 2 ;;
  esac
  shift
done
[ "$SMOKE" -eq 0 ] || OUT=$PL_DIR/benchmarks.md
: "${MAX_ROUNDS:=$((4 * ROUNDS))}"
BPF_ROUNDS=$((ROUNDS < 3 ? ROUNDS : 3))  # rounds with statistics on, for the BPF figures
INTERLEAVED_ROUNDS=$((2 * ROUNDS))  # short runs: twice the rounds narrow the interval
RESULTS=$PL_DIR/results.txt
HISTOGRAMS=$PL_DIR/histograms  # one latency histogram per run, pooled per case at the end

trap pl_node_down EXIT
trap 'exit 130' INT TERM

server() { echo "srv-$1"; }

# BPF run-time statistics (what the kernel.bpf_stats_enabled sysctl turns on, but through
# BPF_ENABLE_STATS, counted per holder: another process toggling the sysctl meanwhile cannot
# turn them off). They cost every program run two clock reads (bpf_packet_bench prints how
# much), a cost no node pays, so the throughput and latency rounds go without them; runs of
# their own, at the maximum and at 50% load, measure the programs' run time afterwards (the
# statistics stay on until the node goes).
# stats_state: "off" when no program's run is being timed, else who turned the timing on
stats_state() {
  if [ -n "$PL_STATS_HOLDER" ]; then echo on
  elif [ "$(sysctl -n kernel.bpf_stats_enabled)" != 0 ]; then echo on-by-sysctl
  else echo off; fi
}

write_policy() {
  pl_server_policy bench podlens-server config podlens 8080 >"$PL_DIR/policies/bench.yaml"
}

# HAProxy as the server pod's inbound sidecar: HTTP mode, one access-log line per request,
# two threads (Istio's default proxy concurrency), upstream keep-alive connections to the app
# on localhost shared across client connections (http-reuse always, like Envoy's pools).
sidecar_up() {
  local pod=$1 dir=$PL_DIR/pods/$1/haproxy
  mkdir -p "$dir"
  cat >"$dir/haproxy.cfg" <<CFG
global
  nbthread 2
  maxconn 4096
  log stdout format raw local0
defaults
  mode http
  log global
  option httplog
  option dontlognull
  http-reuse always
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend inbound
  bind 0.0.0.0:$SIDECAR_PORT
  default_backend app
backend app
  server app 127.0.0.1:8080
CFG
  pl_exec "$pod" haproxy -db -f "$dir/haproxy.cfg" >"$dir/access.log" 2>"$dir/haproxy.err" &
  echo $! >>"$PL_DIR/pids"
  pl_exec "$pod" iptables -t nat -A PREROUTING -p tcp --dport 8080 \
    -j REDIRECT --to-ports "$SIDECAR_PORT"
  local i
  for i in $(seq 50); do
    pl_exec client curl -s -o /dev/null "http://$(pl_pod_ip "$pod"):8080/" && break
    sleep 0.1
  done
  grep -q ' 200 ' "$dir/access.log" \
    || pl_die "the sidecar does not answer: $(cat "$dir/haproxy.err")"
}

pod_pids() {  # pod_pids POD COMM: the pids of COMM running in POD's netns
  local pid
  for pid in $(ip netns pids "$PL_RUN-$1"); do
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" != "$2" ] || echo "$pid"
  done
}
mem_kb() {  # mem_kb FIELD PID...: FIELD of /proc/PID/status (VmRSS, VmHWM), added up
  local field=$1 pid sum=0
  shift
  for pid in "$@"; do
    sum=$((sum + $(awk -v f="$field:" '$1 == f { print $2 }' "/proc/$pid/status")))
  done
  echo "$sum"
}

# Counters read before and after every run, as "key=value" words:
#   cpu_*     /proc/stat jiffies of the whole machine (busy = all but idle and iowait)
#   ctl       the controller's utime + stime ticks
#   bpf_ns, bpf_runs   run_time_ns and run_cnt of the pinned podlens programs (bpf_stats)
#   served    requests the server's nginx logged; events/losses/drops from /metrics
snapshot() {
  local pod=$1 controller
  # (awk prints counters with %.0f: mawk's %d stops at 2^31)
  controller=$(cat "$PL_DIR/controller.pid")
  awk '/^cpu / { printf "cpu_user=%.0f cpu_system=%.0f cpu_softirq=%.0f cpu_irq=%.0f",
    $2 + $3, $4, $8, $7; printf " cpu_busy=%.0f ", $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat
  awk '{ printf "ctl=%.0f ", $14 + $15 }' "/proc/$controller/stat"
  printf 'bpf_ns=%s bpf_runs=%s ' $(pl_bpf_run_totals)
  printf 'served=%d ' "$(wc -l <"$PL_DIR/pods/$pod/access.log")"
  pl_metrics | awk '
    /^podlens_events_total / { events = $NF }
    /^podlens_kernel_losses_total/ { losses += $NF }
    /^podlens_user_drops_total/ { drops += $NF }
    END { printf "events=%.0f losses=%.0f drops=%.0f ", events, losses, drops }'
  printf 'ns=%d\n' "$(date +%s%N)"
}

# run_one CONFIG KIND RATE ROUND LOAD: one rate_client run against CONFIG's server, appended
# to $RESULTS as one line of key=value words: rate_client's RESULT, the counters' deltas, and
# the figures derived from them per 1,000 requests the server's nginx logged.
#   KIND: ka (keep-alive) or nc (new connection per request); RATE 0: closed loop (maximum)
run_one() {
  local config=$1 kind=$2 rate=$3 round=$4 load=$5 pod before after result seconds warmup
  local flags=()
  pod=$(server "$config")
  [ "$kind" = ka ] || flags=(--new-connection)
  seconds=$RATE_SECONDS warmup=$WARMUP
  [ "$rate" != 0 ] || seconds=$MAX_SECONDS warmup=$MAX_WARMUP
  before=$(snapshot "$pod")
  result=$(pl_exec client "${ON_CPU[@]}" "$RATE_CLIENT" --url "http://$(pl_pod_ip "$pod"):8080/" \
    --rate "$rate" --duration "$seconds" --warmup "$warmup" --connections "$CONNECTIONS" \
    --histogram "$HISTOGRAMS/$config-$kind-$load-$round.txt" "${flags[@]}" 2>/dev/null \
    | grep '^RESULT ') || pl_die "rate_client failed on $config"
  after=$(snapshot "$pod")
  if [ "$config" = podlens ]; then  # the controller drains the ring buffer: count it all
    pl_wait_stable pl_metric_value podlens_events_total >/dev/null
    after="$after $(snapshot "$pod" | grep -o 'events=.*drops=[0-9]*')"
  fi
  awk -v head="config=$config kind=$kind load=$load round=$round ${result#RESULT }" \
      -v before="$before" -v after="$after" -v hz="$(getconf CLK_TCK)" \
      -v config="$config" '
    function parse(text, into,   n, i, w, kv) {
      n = split(text, w, " ")
      for (i = 1; i <= n; i++) { split(w[i], kv, "="); into[kv[1]] = kv[2]; order[i] = kv[1] }
      return n
    }
    function per_k(v) { return d["served"] ? v * 1000 / d["served"] : 0 }
    BEGIN {
      parse(after, a); n = parse(before, b)  # words in the order of before
      for (i = 1; i <= n; i++) d[order[i]] = a[order[i]] - b[order[i]]
      ms = 1000 / hz
      printf "%s wall_s=%.2f", head, d["ns"] / 1e9
      for (i = 1; i <= n; i++) if (order[i] != "ns") printf " %s=%.0f", order[i], d[order[i]]
      printf " cpu_ms_per_k=%.2f user_ms_per_k=%.2f system_ms_per_k=%.2f softirq_ms_per_k=%.2f",
        per_k(d["cpu_busy"] * ms), per_k(d["cpu_user"] * ms), per_k(d["cpu_system"] * ms),
        per_k(d["cpu_softirq"] * ms)
      printf " ctl_ms_per_k=%.3f bpf_ms_per_k=%.4f bpf_ns_per_packet=%.1f",
        per_k(d["ctl"] * ms), per_k(d["bpf_ns"] / 1e6),
        d["bpf_runs"] ? d["bpf_ns"] / d["bpf_runs"] : 0
      printf " bpf_ns_per_request=%.1f packets_per_request=%.2f",
        d["served"] ? d["bpf_ns"] / d["served"] : 0, d["served"] ? d["bpf_runs"] / d["served"] : 0
      if (config == "podlens") printf " lost=%.0f", d["served"] - d["events"]
      printf "\n"
    }' >>"$RESULTS"
  tail -1 "$RESULTS" | awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
    printf "  %-10s %s %-3s round %s: %8.0f req/s  p50 %7.1f us  p99 %8.1f us  %5.1f ms CPU/1k\n",
      v["config"], v["kind"], v["load"], v["round"], v["achieved_rps"], v["p50_us"], v["p99_us"],
      v["cpu_ms_per_k"] }' >&2
}

# run_phases MODE KIND: maxima in alternating phases of PHASE_MS (rate_client --phase-ms, one
# --url per configuration, each cycle of phases in a shuffled order), PHASE_CYCLES cycles.
# MODE alt: every configuration's own pod; MODE salt: baseline, baseline2 and podlens through
# the podlens pod's one nginx (interleaved_url s: only podlens' port is selected). Appends a
# "config=C kind=KIND load=MODE round=I achieved_rps=X" line per configuration and cycle I:
# the report's ratios go cycle by cycle.
run_phases() {
  local mode=$1 kind=$2 names=() urls=() flags=() config output
  [ "$kind" = ka ] || flags=(--new-connection)
  if [ "$mode" = alt ]; then names=("${CONFIGS[@]}"); else names=("${INTERLEAVED[@]}"); fi
  for config in "${names[@]}"; do  # the URLs of the interleaved runs: i (pods) or s
    urls+=(--url "$(interleaved_url "$([ "$mode" = alt ] && echo i || echo s)" "$config")")
  done
  output=$(pl_exec client "${ON_CPU[@]}" "$RATE_CLIENT" "${urls[@]}" --phase-ms "$PHASE_MS" \
    --duration "$(awk -v c="$PHASE_CYCLES" -v n="${#names[@]}" -v ms="$PHASE_MS" \
      'BEGIN { print c * n * ms / 1000 }')" --warmup "$MAX_WARMUP" \
    --connections "$CONNECTIONS" "${flags[@]}" 2>/dev/null) \
    || pl_die "rate_client failed on the alternating phases ($mode $kind)"
  awk -v kind="$kind" -v mode="$mode" -v names="${names[*]}" 'BEGIN { split(names, name, " ") }
    function field(key,   i) {
      for (i = 2; i <= NF; i++) if (index($i, key "=") == 1) return substr($i, length(key) + 2)
    }
    /^CYCLE / { printf "config=%s kind=%s load=%s round=%s achieved_rps=%s\n",
      name[field("url")], kind, mode, field("index"), field("achieved_rps") }
    /^RESULT / { printf "  %-10s %s alternating phases (%s): %8.0f req/s, %s errors\n",
      name[field("url")], kind, mode, field("achieved_rps"), field("errors") >"/dev/stderr" }' \
    <<<"$output" >>"$RESULTS"
}

# interleaved_url MODE CONFIG: where CONFIG's requests go in an interleaved run: to its own
# server pod (MODE i), or to its port of the podlens pod's nginx (MODE s; SHARED_PORT)
interleaved_url() {
  if [ "$1" = i ]; then
    echo "http://$(pl_pod_ip "$(server "$2")"):8080/"
  else
    echo "http://$(pl_pod_ip "$(server podlens)"):${SHARED_PORT[$2]}/"
  fi
}

# run_interleaved MODE ROUND RATE: baseline, baseline2 and podlens in one open-loop run at RATE
# in all, each three requests dealt to the three once, in a shuffled order (rate_client with
# three --url, the --url order rotated by round), each to interleaved_url MODE; appends a
# "config=C kind=ka load=MODE$CPU_LOAD round=R ..." line per configuration. Their requests go
# out in the same moments, so a stall of the machine falls on all three.
INTERLEAVED=(baseline baseline2 podlens)
run_interleaved() {
  local mode=$1 round=$2 rate=$3 order=() urls=() i result line
  for i in "${!INTERLEAVED[@]}"; do
    order+=("${INTERLEAVED[$(((i + round) % ${#INTERLEAVED[@]}))]}")
    urls+=(--url "$(interleaved_url "$mode" "${order[$i]}")")
  done
  result=$(pl_exec client "${ON_CPU[@]}" "$RATE_CLIENT" "${urls[@]}" --rate "$rate" \
    --duration "$RATE_SECONDS" --warmup "$WARMUP" --connections "$CONNECTIONS" 2>/dev/null \
    | grep '^RESULT url=') || pl_die "rate_client failed on the interleaved run"
  for i in "${!order[@]}"; do
    line=$(grep "^RESULT url=$((i + 1)) " <<<"$result") || pl_die "no result for ${order[$i]}"
    echo "config=${order[$i]} kind=ka load=$mode$CPU_LOAD round=$round ${line#RESULT url=* }" \
      >>"$RESULTS"
    tail -1 "$RESULTS" | awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
      printf "  %-10s interleaved (%s) round %s: %8.0f req/s  p50 %7.1f us  p99 %8.1f us\n",
        v["config"], v["load"], v["round"], v["achieved_rps"], v["p50_us"], v["p99_us"] }' >&2
  done
}

# pool_histograms: one "pooled config=C kind=K load=L ..." line per case appended to $RESULTS,
# the percentiles of every request of the case's rounds together (rate_client --merge).
pool_histograms() {
  local config kind load result
  for config in "${CONFIGS[@]}"; do
    for kind in ka nc; do
      for load in max "${LOADS[@]}"; do
        compgen -G "$HISTOGRAMS/$config-$kind-$load-*.txt" >/dev/null || continue
        result=$("$RATE_CLIENT" --merge "$HISTOGRAMS/$config-$kind-$load-"*.txt) \
          || pl_die "could not pool the histograms of $config $kind $load"
        echo "pooled config=$config kind=$kind load=$load ${result#RESULT }" >>"$RESULTS"
      done
    done
  done
}

# pin_pods: with --one-cpu or --split-cpus, every process of the server pods on SERVER_CPU
# (the client's runs start on CLIENT_CPU through ON_CPU); the controller and everything else
# stay where the kernel puts them.
ON_CPU=()
pin_pods() {
  [ -n "$SERVER_CPU" ] || return 0
  ON_CPU=(taskset -c "$CLIENT_CPU")
  local config pid
  for config in "${CONFIGS[@]}"; do
    for pid in $(ip netns pids "$PL_RUN-$(server "$config")"); do
      taskset -a -pc "$SERVER_CPU" "$pid" >/dev/null || pl_die "could not pin $pid"
    done
  done
}

busy_pct() {  # busy_pct SECONDS: how busy the whole machine is, in percent, over SECONDS
  local a b
  a=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6 }' /proc/stat)
  sleep "$1"
  b=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6 }' /proc/stat)
  awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " ")
    busy = y[1] - x[1]; all = busy + y[2] - x[2]; printf "%.0f", all ? 100 * busy / all : 0 }'
}

rate_at() {  # rate_at CAPACITY LOAD: LOAD percent of CAPACITY, in requests/s
  awk -v c="$1" -v l="$2" 'BEGIN { printf "%d", c * l / 100 }'
}

rotated() {  # rotated ROUND: the configurations, starting at a different one each round
  local i n=${#CONFIGS[@]}
  for i in $(seq 0 $((n - 1))); do echo "${CONFIGS[$(((i + $1) % n))]}"; done
}

machine_facts() {
  local controller maps=0 map proxy app
  controller=$(cat "$PL_DIR/controller.pid")
  mapfile -t proxy < <(pod_pids "$(server sidecar)" haproxy)
  mapfile -t app < <(pod_pids "$(server baseline)" nginx)
  for map in "$PL_BPFFS"/dataplane/*; do
    case $(basename "$map") in prog_*) continue ;; esac
    maps=$((maps + $(bpftool -j map show pinned "$map" | grep -o '"bytes_memlock":[0-9]*' \
      | cut -d: -f2)))
  done
  echo "cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo | tr ' ' '_')"
  echo "cores=$(nproc) kernel=$(uname -r) date=$(date -u +%Y-%m-%dT%H:%MZ)"
  echo "controller_rss_kb=$(mem_kb VmRSS "$controller")" \
    "controller_hwm_kb=$(mem_kb VmHWM "$controller")"
  echo "bpf_map_bytes=$maps"
  echo "proxy_rss_kb=$(mem_kb VmRSS "${proxy[@]}") proxy_hwm_kb=$(mem_kb VmHWM "${proxy[@]}")"
  echo "app_rss_kb=$(mem_kb VmRSS "${app[@]}")"
  echo "sidecar_proxy_logged=$(wc -l <"$PL_DIR/pods/$(server sidecar)/haproxy/access.log")" \
    "sidecar_app_logged=$(wc -l <"$PL_DIR/pods/$(server sidecar)/access.log")"
  echo "haproxy=$(haproxy -v | awk 'NR == 1 { print $3 }') nginx=$(nginx -v 2>&1 | cut -d/ -f2)"
}

main() {
  RATE_CLIENT=$(pl_bin rate_client)
  [ "$SMOKE" -eq 0 ] || "$RATE_CLIENT" --self-test >&2 || pl_die "rate_client's histogram is wrong"
  local hiccups
  hiccups=$("$(pl_bin hiccup_meter)" "$([ "$SMOKE" -eq 1 ] && echo 0.5 || echo 5)") \
    || pl_die "hiccup_meter failed"
  pl_node_up
  : >"$RESULTS"
  rm -rf "$HISTOGRAMS" && mkdir -p "$HISTOGRAMS"  # never pool another run's rounds
  echo "load_before=$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' /)" \
    "busy_before=$(busy_pct "$([ "$SMOKE" -eq 1 ] && echo 0.5 || echo 5)")" \
    "${hiccups#RESULT }" >"$PL_DIR/facts.txt"
  write_policy
  local config
  for config in "${CONFIGS[@]}"; do
    pl_pod_add "$(server "$config")" bench "config=$config"
    if [ "$config" = podlens ]; then  # and the ports of the interleaved runs through it
      pl_nginx --port "${SHARED_PORT[baseline]}" --port "${SHARED_PORT[baseline2]}" \
        "$(server "$config")"
    else
      pl_nginx "$(server "$config")"
    fi
  done
  pl_pod_add client bench config=client
  pl_podlens_detach client
  pl_podlens_detach "$(server baseline)"
  pl_podlens_detach "$(server baseline2)"
  pl_podlens_detach "$(server sidecar)"
  sidecar_up "$(server sidecar)"
  pin_pods
  pl_wait_stable pl_metric_value podlens_selected_pods >/dev/null
  [ "$(pl_metric_value podlens_selected_pods)" = 1 ] || pl_die "the policy selects no pod"
  # podlens-cni's fast ADD attached through clsact: measure once the controller has moved the
  # pods to where they stay (tcx where the kernel has it)
  pl_wait_stable pl_metric_value podlens_attachment_moves_pending >/dev/null
  [ "$(pl_metric_value podlens_attachment_moves_pending)" = 0 ] \
    || pl_die "attachments still waiting to move to tcx"

  local round load capacity stats_runs mode
  pl_log "maximum throughput: $MAX_ROUNDS rounds x (keep-alive, new connection)" \
    "x ${#CONFIGS[@]} configurations"
  stats_runs=$(stats_state)
  [ "$stats_runs" = off ] || pl_log "warning: kernel.bpf_stats_enabled is on: the throughput" \
    "and latency runs pay for BPF statistics"
  local kind
  for round in $(seq "$MAX_ROUNDS"); do
    for kind in ka nc; do  # a round's runs of one kind back to back: paired closely
      for config in $(rotated "$round"); do
        run_one "$config" "$kind" 0 "$round" max
      done
    done
  done
  pl_log "maximum throughput in alternating phases of $PHASE_MS ms: $PHASE_CYCLES cycles of" \
    "every configuration (alt), then of ${INTERLEAVED[*]} through one nginx (salt)"
  for mode in alt salt; do
    for kind in ka nc; do
      run_phases "$mode" "$kind"
    done
  done
  capacity=$(median_of "$RESULTS" baseline ka max achieved_rps)
  [ "$SMOKE" -eq 0 ] || capacity=$(awk -v c="$capacity" 'BEGIN { print (c < 500 ? c : 500) }')
  pl_log "baseline keep-alive capacity: $capacity requests/s; latency at ${LOADS[*]}% of it"
  for round in $(seq "$ROUNDS"); do
    for load in "${LOADS[@]}"; do
      for config in $(rotated "$round"); do
        run_one "$config" ka "$(rate_at "$capacity" "$load")" "$round" "$load"
      done
    done
  done
  pl_log "interleaved: $INTERLEAVED_ROUNDS rounds of ${INTERLEAVED[*]} in one run at" \
    "$CPU_LOAD% load in all, through their own pods (i) and through one nginx (s)"
  for round in $(seq "$INTERLEAVED_ROUNDS"); do
    for mode in $([ $((round % 2)) -eq 1 ] && echo i s || echo s i); do
      run_interleaved "$mode" "$round" "$(rate_at "$capacity" "$CPU_LOAD")"
    done
  done
  pl_bpf_stats_on "$(pl_bin bpf_stats_hold)"
  pl_log "BPF run time: $BPF_ROUNDS rounds, statistics on, at the maximum and $CPU_LOAD% load"
  for round in $(seq "$BPF_ROUNDS"); do
    for config in unselected podlens; do
      run_one "$config" ka 0 "$round" bpfmax
      run_one "$config" nc 0 "$round" bpfmax
      run_one "$config" ka "$(rate_at "$capacity" "$CPU_LOAD")" "$round" "bpf$CPU_LOAD"
    done
  done
  pool_histograms
  {
    machine_facts
    echo "load_after=$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' /) capacity=$capacity" \
      "busy_after=$(busy_pct "$([ "$SMOKE" -eq 1 ] && echo 0.5 || echo 5)")"
    echo "rounds=$ROUNDS max_rounds=$MAX_ROUNDS interleaved_rounds=$INTERLEAVED_ROUNDS" \
      "interleave_order=due" \
      "max_seconds=$MAX_SECONDS phase_ms=$PHASE_MS phase_cycles=$PHASE_CYCLES" \
      "rate_seconds=$RATE_SECONDS warmup=$WARMUP max_warmup=$MAX_WARMUP"
    echo "connections=$CONNECTIONS hz=$(getconf CLK_TCK) smoke=$SMOKE" \
      "client_cpu=${CLIENT_CPU:-free} server_cpu=${SERVER_CPU:-free}" \
      "bpf_stats_max=$stats_runs bpf_stats_rates=$stats_runs bpf_rounds=$BPF_ROUNDS"
  } >>"$PL_DIR/facts.txt"
  write_report "$RESULTS" "$PL_DIR/facts.txt" "$OUT" "$NOTE"
  pl_log "report: $OUT"
}

main
