#!/usr/bin/env bash
# The report of bench/sidecar_bench.sh: docs/benchmarks.md and its plot, from the run's results
# (one line of key=value words per rate_client run, then one "pooled ..." line per case) and
# facts (machine, memory, settings).
# Sourced by the bench; run by hand it re-renders a report from a run's kept files:
#   bench/sidecar_report.sh RESULTS FACTS OUT.md [NOTE]
# Every figure is the median over the run's rounds (robust to one disturbed round); the
# "pooled" p99 beside it counts every request of the rounds together (rate_client --merge).
# Ratios against baseline are taken round by round, with a 95% confidence interval over the
# rounds, and the targets are judged on that interval (paired_ratio, verdict_ci).

CONFIG_NAMES=(baseline baseline2 unselected podlens sidecar)
CPU_LOAD=50  # the load of the CPU table, and of the runs with BPF statistics (sidecar_bench.sh)
# The ports of the podlens pod's nginx that stand for each configuration in the interleaved
# runs through one nginx (sidecar_bench.sh): only 8080 is selected; 8081 and 8082 take
# podlens' cheap path (the port filter's one array read per packet, as an unselected pod).
declare -A SHARED_PORT=([podlens]=8080 [baseline]=8081 [baseline2]=8082)

# values_of RESULTS PREFIX KEY: KEY's value on every line of RESULTS that starts with PREFIX
values_of() {
  awk -v want="$2" -v key="$3" 'index($0, want) == 1 {
      for (i = 1; i <= NF; i++) if (index($i, key "=") == 1) print substr($i, length(key) + 2) }' \
    "$1"
}

# median_of RESULTS CONFIG KIND LOAD KEY: the median of KEY over the rounds of one case.
median_of() {
  values_of "$1" "config=$2 kind=$3 load=$4 " "$5" | sort -g | awk '{ v[++n] = $1 }
      END { printf "%.10g\n", !n ? 0 : (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2 }'
}

# pooled_of RESULTS CONFIG KIND LOAD KEY: KEY of the case's pooled line (every request of its
# rounds in one histogram)
pooled_of() {
  values_of "$1" "pooled config=$2 kind=$3 load=$4 " "$5" \
    | awk 'END { if (NR) printf "%.10g\n", $1 }'
}

# range_of RESULTS CONFIG KIND LOAD KEY: "lowest–highest" of KEY over the rounds
range_of() {
  values_of "$1" "config=$2 kind=$3 load=$4 " "$5" | sort -g \
    | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.0f–%.0f\n", lo, hi }'
}

sum_of() {  # sum_of RESULTS CONFIG KIND LOAD KEY: KEY added up over the rounds
  values_of "$1" "config=$2 kind=$3 load=$4 " "$5" \
    | awk '{ s += $1 } END { printf "%.0f\n", s }'  # mawk would print 1e+06
}

# Short forms over the report's RESULTS and FACTS (set by write_report).
med() { median_of "$RESULTS_FILE" "$@"; }
pool() { pooled_of "$RESULTS_FILE" "$@"; }  # empty for results kept before runs were pooled
sum() { sum_of "$RESULTS_FILE" "$@"; }
fact() {
  tr ' ' '\n' <"$FACTS_FILE" | awk -F= -v key="$1" '$1 == key { print substr($0, length(key) + 2) }'
}
num() { awk -v v="$1" -v f="${2:-%.0f}" 'BEGIN { printf f, v }'; }
mb() { awk -v kb="$1" 'BEGIN { printf "%.1f", kb / 1024 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "–"; else printf "%.2f×", a / b }'; }
row() { local line="|" cell; for cell in "$@"; do line="$line $cell |"; done; echo "$line"; }
header() {
  local line="|" cell
  row "$@"
  for cell in "$@"; do line="$line---|"; done
  echo "$line"
}
# verdict VALUE <=|>= LIMIT: pass or miss
verdict() {
  awk -v v="$1" -v op="$2" -v t="$3" 'BEGIN {
    print ((op == "<=") ? v <= t : v >= t) ? "**pass**" : "**miss**" }'
}
# paired_ratio RESULTS CONFIG KIND LOAD KEY: KEY of CONFIG against the baseline's, round by
# round (the two runs of a round are measured seconds apart), as "ESTIMATE LOW HIGH ROUNDS":
# the median of the rounds' ratios and its 95% confidence interval, distribution-free (order
# statistics: the median lies between the k-th lowest and the k-th highest ratio with at least
# 95% probability, k from the binomial distribution), so a round disturbed by a stall moves
# neither. LOW and HIGH are 0 and inf below 6 rounds; empty below 2.
paired_ratio() {
  awk -v want="config=$2 kind=$3 load=$4 " -v base="config=baseline kind=$3 load=$4 " \
      -v key="$5" '
    function field(name,   i) {
      for (i = 1; i <= NF; i++) if (index($i, name "=") == 1) return substr($i, length(name) + 2)
      return ""
    }
    index($0, want) == 1 { mine[field("round")] = field(key) }
    index($0, base) == 1 { theirs[field("round")] = field(key) }
    END {
      for (r in mine)
        if ((r in theirs) && mine[r] > 0 && theirs[r] > 0) ratio[++n] = mine[r] / theirs[r]
      if (n < 2) exit
      for (i = 2; i <= n; i++)  # insertion sort: a few dozen rounds
        for (j = i; j > 1 && ratio[j - 1] > ratio[j]; j--) {
          t = ratio[j]; ratio[j] = ratio[j - 1]; ratio[j - 1] = t
        }
      median = (n % 2) ? ratio[(n + 1) / 2] : (ratio[n / 2] + ratio[n / 2 + 1]) / 2
      # k: one more than the largest j with P(Binomial(n, 1/2) <= j) <= 2.5%
      k = 0; p = 0.5 ^ n; cum = p
      for (j = 0; cum <= 0.025; j++) { k = j + 1; p = p * (n - j) / (j + 1); cum += p }
      if (k == 0) printf "%.4f 0 inf %d\n", median, n
      else printf "%.4f %.4f %.4f %d\n", median, ratio[k], ratio[n + 1 - k], n
    }' "$1"
}
paired() { paired_ratio "$RESULTS_FILE" "$@"; }
# with_ci "ESTIMATE LOW HIGH N": "0.973× (0.951–0.996)", "–" when empty
with_ci() {
  awk -v p="$1" 'BEGIN { if (split(p, v, " ") < 3) print "–"
    else if (v[3] == "inf") printf "%.3f× (too few rounds)\n", v[1]
    else printf "%.3f× (%.3f–%.3f)\n", v[1], v[2], v[3] }'
}
# verdict_ci "ESTIMATE LOW HIGH N" <=|>= LIMIT: pass when the whole 95% interval is on the
# target's side of LIMIT, miss when it is all on the other side, else unresolved: this run
# cannot tell the figure from its limit.
verdict_ci() {
  awk -v p="$1" -v op="$2" -v t="$3" 'BEGIN {
    if (split(p, v, " ") < 3) { print "–"; exit }
    high = v[3] == "inf" ? t + 1e9 : v[3]
    good = (op == "<=") ? high <= t : v[2] >= t
    bad = (op == "<=") ? v[2] > t : high < t
    if (good) print "**pass**"
    else if (bad) print "**miss**"
    else printf "**unresolved** (the interval holds %.2f)\n", t }'
}
run_name() {  # run_name KIND LOAD: "keep-alive, 50% load", "new connection, maximum"
  printf '%s, ' "$([ "$1" = ka ] && echo keep-alive || echo new connection)"
  case $2 in
    max | bpfmax) echo maximum ;;
    bpf*) echo "${2#bpf}% load" ;;
    *) echo "$2% load" ;;
  esac
}

# plot_latency PNG LOADS...: latency percentiles against load, one line per configuration,
# one panel per percentile (log scale).
plot_latency() {
  local png=$1 data config load key xtics=""
  shift
  for load in "$@"; do xtics="$xtics${xtics:+, }\"$load%%\" $load"; done  # %%: a format
  data=$(mktemp -d)
  for config in "${CONFIG_NAMES[@]}"; do
    for load in "$@"; do
      printf '%s' "$load"
      for key in p50_us p90_us p99_us p999_us; do
        printf ' %s' "$(med "$config" ka "$load" "$key")"
      done
      echo
    done >"$data/$config"
  done
  gnuplot <<GNUPLOT
set terminal pngcairo size 1200,800 font "DejaVu Sans,10"
set output "$png"
set multiplot layout 2,2 \
  title "Latency against load (open loop, keep-alive; median of rounds)"
set logscale y
set xlabel "load, % of the baseline's keep-alive capacity"
set ylabel "microseconds"
set key top left
set grid
set xtics ($xtics)
do for [c = 2:5] {
  set title (c == 2 ? "p50" : c == 3 ? "p90" : c == 4 ? "p99" : "p99.9")
  plot "$data/baseline" using 1:c with linespoints lw 2 title "baseline", \
       "$data/baseline2" using 1:c with linespoints lw 1 dt 2 title "baseline2 (A/A)", \
       "$data/unselected" using 1:c with linespoints lw 2 title "unselected", \
       "$data/podlens" using 1:c with linespoints lw 2 title "podlens", \
       "$data/sidecar" using 1:c with linespoints lw 2 title "sidecar"
}
unset multiplot
GNUPLOT
  rm -rf "$data"
}

# write_report RESULTS FACTS OUT [NOTE]
write_report() {
  RESULTS_FILE=$1 FACTS_FILE=$2
  local out=$3 note=${4:-} dir loads
  dir=$(dirname "$out")/benchmarks
  mkdir -p "$dir"
  loads=$(grep -o 'load=[0-9][0-9]*' "$RESULTS_FILE" | cut -d= -f2 | sort -n -u | tr '\n' ' ')
  # shellcheck disable=SC2086  # a list of numbers
  plot_latency "$dir/latency_vs_load.png" $loads
  # (re-rendering from the kept copies reads and writes the same files)
  [ "$RESULTS_FILE" -ef "$dir/results.txt" ] || cp "$RESULTS_FILE" "$dir/results.txt"
  [ "$FACTS_FILE" -ef "$dir/facts.txt" ] || cp "$FACTS_FILE" "$dir/facts.txt"
  {
    write_head "$note"
    write_targets
    write_throughput
    write_phases
    write_latency "$loads"
    write_interleaved "$CPU_LOAD"
    write_shared_nginx "$CPU_LOAD"
    write_cpu "$CPU_LOAD"
    write_memory
    write_dataplane
    write_loss "$loads"
    write_method
  } >"$out"
}

placement() {  # the run's placement of processes on CPUs, as a sentence
  local client server
  client=$(fact client_cpu) server=$(fact server_cpu)
  if [ -z "$server" ]; then  # a run from before --split-cpus
    client=$(fact one_cpu) server=$(fact one_cpu)
  fi
  if [ -z "$server" ] || [ "$server" = none ] || [ "$server" = free ]; then
    echo "Placement: free (the kernel's scheduler places every process on the $(fact cores) CPUs)."
  elif [ "$client" = "$server" ]; then
    echo "Placement: \`--one-cpu\`, the client and every server pod on CPU $server, the" \
      "controller free: runs repeat closely, but the figures are not a node's."
  else
    echo "Placement: \`--split-cpus\`, the client on CPU $client and every server pod on CPU" \
      "$server, the controller free: each side has a core of its own, as when the client" \
      "runs on another machine. The request's path through the kernel (podlens' egress" \
      "program included) runs on the client's CPU, as veth delivers a packet on the" \
      "sender's CPU; the CPU table counts both CPUs."
  fi
}

write_head() {
  cat <<TEXT
# Benchmarks: no telemetry, podlens, and a sidecar proxy

Written by \`sudo bench/sidecar_bench.sh\` (see [how to reproduce](#how-to-reproduce)); the raw
figures of this run are in [benchmarks/results.txt](benchmarks/results.txt). Every figure is
the median over the run's rounds ($(max_rounds) of the maximum throughput, $(fact rounds) of the
rest), so one disturbed round cannot move it. Every ratio is against the baseline measured in
the same run, taken round by round and given with its 95% confidence interval; a second,
identical baseline pod (baseline2) is measured beside the others as a check: its ratios differ
from 1 only by noise.

## Machine

TEXT
  header CPU cores kernel "date (UTC)" "load average before / after" \
    "machine busy before / after" "hiccups (idle, before)"
  row "$(fact cpu_model | tr _ ' ')" "$(fact cores)" "$(fact kernel)" "$(fact date)" \
    "$(fact load_before) / $(fact load_after)" "$(fact busy_before)% / $(fact busy_after)%" \
    "$(fact hiccups_per_s)/s, $(fact hiccup_ms_per_s) ms/s, worst $(fact hiccup_worst_ms) ms"
  cat <<TEXT

"Machine busy" is the share of CPU time used on the machine (\`/proc/stat\`) over a few seconds
before the pods start and after the measurements end: 0% means otherwise idle. "Hiccups":
\`bench/hiccup_meter\` sleeping 100 µs at a time for $(fact hiccup_seconds) s before the node
starts, the wakeups more than 1 ms late (how often, the time lost per second, the worst): stalls
of the machine itself, which no configuration's tail latency can go under.
${1:+
$1
}
Server: nginx $(fact nginx), one worker, a 1,024-byte page, an access-log line per request (the
ground truth). Sidecar: HAProxy $(fact haproxy). Client: \`rate_client\`, $(fact connections)
connections, one thread. The sidecar's access log has $(fact sidecar_proxy_logged) lines for the
$(fact sidecar_app_logged) requests its app logged: the sidecar pod's traffic all went through it.
$(placement)

## Configurations

| name | server pod |
|---|---|
| baseline | podlens detached from the pod's veth (no program): no telemetry |
| baseline2 | the same as baseline, a second pod: the A/A comparison (how far two identical configurations differ in this run) |
| unselected | podlens attached (both directions, moved to tcx by the controller before the runs), no policy selects the pod: the cheap path |
| podlens | podlens attached and selected by a TelemetryPolicy (Inbound, port 8080): every packet parsed, one event per request, the controller aggregating |
| sidecar | podlens detached; HAProxy in the pod (HTTP mode, 2 threads, an access-log line per request), inbound :8080 redirected to it by iptables, proxying to the app on localhost over reused keep-alive connections |

TEXT
}

write_targets() {
  local p99 p99b ka ka0 nc nc0 lost losses hwm
  p99=$(med podlens ka 50 p99_us) p99b=$(med baseline ka 50 p99_us)
  ka=$(med podlens ka max achieved_rps) ka0=$(med baseline ka max achieved_rps)
  nc=$(med podlens nc max achieved_rps) nc0=$(med baseline nc max achieved_rps)
  lost=$(($(sum podlens ka max lost) + $(sum podlens nc max lost)))
  losses=$(($(sum podlens ka max losses) + $(sum podlens nc max losses)))
  hwm=$(fact controller_hwm_kb)
  cat <<'TEXT'
## Targets

Recorded, not asserted: a miss is a finding of this run on this machine. Each ratio is taken
round by round (podlens and baseline measured seconds apart in the same round); the figure is
the median of the rounds' ratios, with its 95% confidence interval: the target is met when the
whole interval is on its side of the limit, missed when the whole interval is on the other
side, and otherwise unresolved, however near the median is. "A/A" is the same figure for
baseline2 against baseline: it differs from 1 only by noise, so its interval should hold 1.

TEXT
  header target "medians" "podlens ÷ baseline (95% CI)" "A/A (95% CI)" ""
  target_row "podlens p99 at 50% load ≤ 1.05× baseline" \
    "$(num "$p99" %.1f) vs $(num "$p99b" %.1f) µs" ka 50 p99_us "<=" 1.05
  [ -z "$(fact interleaved_rounds)" ] || target_row \
    "the same, requests interleaved in one run (what podlens adds to its own requests)" \
    "$(num "$(med podlens ka i50 p99_us)" %.1f) vs $(num "$(med baseline ka i50 p99_us)" \
      %.1f) µs" ka i50 p99_us "<=" 1.05
  has_load s50 && target_row \
    "the same, interleaved through one nginx (what podlens adds to its own requests)" \
    "$(num "$(med podlens ka s50 p99_us)" %.1f) vs $(num "$(med baseline ka s50 p99_us)" \
      %.1f) µs" ka s50 p99_us "<=" 1.05
  target_row "podlens maximum throughput ≥ 0.97× baseline, keep-alive" \
    "$(num "$ka") vs $(num "$ka0") req/s" ka max achieved_rps ">=" 0.97
  target_row "the same, new connection per request" \
    "$(num "$nc") vs $(num "$nc0") req/s" nc max achieved_rps ">=" 0.97
  phase_target_row alt "keep-alive throughput again, in alternating phases of $(fact phase_ms) ms"
  phase_target_row salt "the same, through one nginx (with and without parsing on one pod)"
  row "zero telemetry loss at the highest rate (the maximum-throughput runs)" \
    "$lost requests without an event, $losses kernel losses" "" "" \
    "$(verdict $((lost + losses)) "<=" 0)"
  row "controller ≤ 30 MB RSS" "peak $(mb "$hwm") MB" "" "" "$(verdict "$hwm" "<=" 30720)"
  echo
}

# phase_target_row MODE TEXT: the throughput targets of the alternating phases of MODE, keep-alive
# (TEXT) and new connection; nothing for a run without them
phase_target_row() {
  has_load "$1" || return 0
  local kind text=$2
  for kind in ka nc; do
    target_row "$text" "$(num "$(med podlens "$kind" "$1" achieved_rps)") vs $(num "$(med \
      baseline "$kind" "$1" achieved_rps)") req/s" "$kind" "$1" achieved_rps ">=" 0.97
    text="the same, new connection per request"
  done
}

# target_row TEXT MEDIANS KIND LOAD KEY <=|>= LIMIT: one ratio target of the targets table
target_row() {
  local podlens
  podlens=$(paired podlens "$3" "$4" "$5")
  row "$1" "$2" "$(with_ci "$podlens")" "$(with_ci "$(paired baseline2 "$3" "$4" "$5")")" \
    "$(verdict_ci "$podlens" "$6" "$7")"
}

stats_words() {  # stats_words FACT: how the runs went, in words
  case $1 in
    off) echo "off, as on a node" ;;
    on-by-sysctl) echo "on (kernel.bpf_stats_enabled was set): podlens paid for them" ;;
    *) echo "on (this run predates the split): podlens paid for them" ;;
  esac
}

write_throughput() {
  printf '## Maximum throughput\n\n%s\n%s\n%s\n%s\n\n' \
    "Closed loop, $(fact connections) connections, $(fact max_seconds) s a run, $(max_rounds)" \
    "rounds; req/s is the median of the rounds, in brackets the lowest and highest round;" \
    "× baseline is the median of the ratios round by round, with its 95% confidence interval." \
    "BPF run-time statistics: $(stats_words "$(fact bpf_stats_max)")."
  throughput_table max "${CONFIG_NAMES[@]}"
}

# write_phases: the maximum throughput in alternating phases (sidecar_bench.sh run_phases)
write_phases() {
  has_load alt || return 0
  cat <<TEXT
## Maximum throughput in alternating phases

The same maxima measured once more, in one run per kind: \`rate_client\` with one \`--url\` per
configuration and \`--phase-ms $(fact phase_ms)\`. Time is cut into phases of $(fact phase_ms) ms;
each cycle gives every configuration one phase, in an order shuffled afresh for every cycle,
and only that configuration's $(fact connections) connections send in it (closed loop), so
each runs alone at its maximum, its phase a fraction of a second from the others'. Answers
count only inside their configuration's own phases. Each cycle is a round: the ratio to
baseline is taken cycle by cycle over $(fact phase_cycles) cycles, so the machine's drift,
slower than a cycle, cancels, and the interval is narrower than the separate runs' above.
What podlens' controller has not drained when its phase ends (at most what came since its last
drain, which its 100 ms poll timeout or the 1 MB wake-up threshold starts, whichever comes
first: about 5,000 events at 50,000 requests/s, 0.4 ms of its CPU) it drains in the next
configuration's phase: about 0.1% of a phase's CPU goes from podlens to whichever
configuration follows.

TEXT
  throughput_table alt "${CONFIG_NAMES[@]}"
  has_load salt || return 0
  cat <<TEXT
Through one nginx: the same alternation with three ports of the podlens pod's nginx, as in
the interleaved runs below: 8080 (podlens, selected), ${SHARED_PORT[baseline]} (baseline) and
${SHARED_PORT[baseline2]} (baseline2), which no policy selects, so their packets take
podlens' cheap path (an array read, about 7 ns a packet). One pod, one veth, one nginx
worker: whatever sets one pod apart from another (the unselected pod's ratios above say how
far pods differ where no parsing does) counts neither for nor against podlens.

TEXT
  throughput_table salt "${!SHARED_PORT[@]}"
}

# throughput_table LOAD CONFIG...: the maxima of LOAD (max: the separate runs; alt, salt: the
# alternating phases), one row per CONFIG: the median, the lowest and highest round, the ratio
throughput_table() {
  local load=$1 c ka nc
  shift
  header configuration "keep-alive, req/s" "× baseline (95% CI)" \
    "new connection per request, req/s" "× baseline (95% CI)"
  for c in "${CONFIG_NAMES[@]}"; do
    [[ " $* " == *" $c "* ]] || continue
    ka=$(med "$c" ka "$load" achieved_rps) nc=$(med "$c" nc "$load" achieved_rps)
    row "$c" "$(num "$ka") ($(range_of "$RESULTS_FILE" "$c" ka "$load" achieved_rps))" \
      "$(paired_cell "$c" ka "$load" achieved_rps)" \
      "$(num "$nc") ($(range_of "$RESULTS_FILE" "$c" nc "$load" achieved_rps))" \
      "$(paired_cell "$c" nc "$load" achieved_rps)"
  done
  echo
}

# paired_cell CONFIG KIND LOAD KEY: the paired ratio with its interval; 1.00× for baseline
paired_cell() {
  if [ "$1" = baseline ]; then echo "1.00×"; else with_ci "$(paired "$@")"; fi
}
max_rounds() { local n; n=$(fact max_rounds); echo "${n:-$(fact rounds)}"; }

pooled_p99() {  # pooled_p99 CONFIG LOAD: the case's pooled p99, "–" when not recorded
  local value
  value=$(pool "$1" ka "$2" p99_us)
  if [ -n "$value" ]; then num "$value" %.1f; else echo "–"; fi
}

write_latency() {
  local load c p50 p99 p50b p99b
  cat <<TEXT
## Latency at fixed rates

Open loop at $(echo "$1" | sed 's/ $//; s/ /%, /g')% of the baseline's keep-alive capacity
($(num "$(fact capacity)") requests/s), keep-alive, $(fact rate_seconds) s a run; latency runs
from each request's intended send time. Microseconds; each percentile is the median over the
$(fact rounds) rounds, "p99 of the rounds" is the lowest and highest round, and "p99 pooled"
counts every request of the rounds together (one disturbed round can move it a long way: a
10 ms stall in one round of 9 is enough). BPF run-time statistics:
$(stats_words "$(fact bpf_stats_rates)").

![latency against load](benchmarks/latency_vs_load.png)

TEXT
  header load configuration "achieved req/s" p50 p90 p99 p99.9 "p50 × baseline" \
    "p99 × baseline" "p99 of the rounds" "p99 pooled" "errors + timeouts"
  for load in $1; do
    p50b=$(med baseline ka "$load" p50_us) p99b=$(med baseline ka "$load" p99_us)
    for c in "${CONFIG_NAMES[@]}"; do
      p50=$(med "$c" ka "$load" p50_us) p99=$(med "$c" ka "$load" p99_us)
      row "$load%" "$c" "$(num "$(med "$c" ka "$load" achieved_rps)")" "$(num "$p50" %.1f)" \
        "$(num "$(med "$c" ka "$load" p90_us)" %.1f)" "$(num "$p99" %.1f)" \
        "$(num "$(med "$c" ka "$load" p999_us)" %.1f)" "$(ratio "$p50" "$p50b")" \
        "$(ratio "$p99" "$p99b")" "$(range_of "$RESULTS_FILE" "$c" ka "$load" p99_us)" \
        "$(pooled_p99 "$c" "$load")" \
        "$(($(sum "$c" ka "$load" errors) + $(sum "$c" ka "$load" timeouts)))"
    done
  done
  echo
}

# write_interleaved LOAD: the runs where baseline, baseline2 and podlens took turns request by
# request (none in runs from before they were added)
write_interleaved() {
  [ -n "$(fact interleaved_rounds)" ] || return 0
  local dealing="each request dealt to the next of the three servers (\`rate_client\` with three
\`--url\`, their order rotated by round)"
  case $(fact interleave_order) in
    shuffled) dealing="each three requests dealt to the three servers once, in an order
shuffled for every three (\`rate_client\` with three \`--url\`)" ;;
    due) dealing="each three requests dealt to the three servers once, in an order shuffled for
every three, and requests that wait for a connection sent oldest first whichever server they
are for (\`rate_client\` with three \`--url\`), so that none goes first after a stall" ;;
  esac
  cat <<TEXT
## Latency with interleaved requests

baseline, baseline2 and podlens in one open-loop run at $1% of the capacity in all, $dealing,
$(fact interleaved_rounds) rounds of $(fact rate_seconds) s. Their
requests go out in the same moments, so a stall of the machine falls on all three, though not
always on as many requests of each (baseline2's interval shows how far that still moves a
round), and the ratio of podlens' percentile to the baseline's in the same run is what
podlens' programs add to a request. It leaves out the queueing that podlens' CPU adds for
everyone (a third of the requests carry it here; the CPU table has its size): it complements
the separate runs above, whose p99 moves with the machine's stalls, rather than replacing
them. Microseconds, medians over the rounds.

TEXT
  interleaved_table "i$1"
}

# interleaved_table LOAD [port]: the percentiles of baseline, baseline2 and podlens in the
# interleaved runs at LOAD (i50, s50), with their SHARED_PORT as a column when asked
interleaved_table() {
  local c ports=()
  [ -z "${2:-}" ] || ports=(port)
  header configuration "${ports[@]}" "achieved req/s" p50 p90 p99 p99.9 \
    "p50 × baseline (95% CI)" "p99 × baseline (95% CI)"
  for c in baseline baseline2 podlens; do
    [ -z "${2:-}" ] || ports=("${SHARED_PORT[$c]}")
    row "$c" "${ports[@]}" "$(num "$(med "$c" ka "$1" achieved_rps)")" \
      "$(num "$(med "$c" ka "$1" p50_us)" %.1f)" "$(num "$(med "$c" ka "$1" p90_us)" %.1f)" \
      "$(num "$(med "$c" ka "$1" p99_us)" %.1f)" "$(num "$(med "$c" ka "$1" p999_us)" %.1f)" \
      "$(paired_cell "$c" ka "$1" p50_us)" "$(paired_cell "$c" ka "$1" p99_us)"
  done
  echo
}

has_load() {  # has_load LOAD: did the run record any run at LOAD (older runs lack some)
  grep -q "^config=[^ ]* kind=[^ ]* load=$1 " "$RESULTS_FILE"
}

# write_shared_nginx LOAD: the interleaved runs through the podlens pod's one nginx, where
# ports the policy does not select stand for baseline and baseline2 (none in older runs)
write_shared_nginx() {
  has_load "s$1" || return 0
  cat <<TEXT
## Latency with interleaved requests through one nginx

The same interleaved runs, each round beside the one above, but every request goes to the
podlens pod's nginx (one worker): podlens' requests to its port 8080, which the policy selects,
baseline's and baseline2's to ports 8081 and 8082, which no policy selects (podlens' cheap
path: the port filter's one array read per packet, about 7 ns). One server block listens on
the three ports, so the three get the same work from nginx, and one process serves them, so
the scheduling of the server, which the separate pods above do not share, falls on all
three alike, and what is left between podlens and the baseline is what podlens' programs do
for a request of a selected port. Like the runs above, this leaves out what podlens' CPU costs
the rest of the node (the CPU table has it). Microseconds, medians over the rounds.

TEXT
  interleaved_table "s$1" port
}

write_cpu() {
  local load=$1 c total bpf
  bpf=$(stats_load "$load")
  cat <<TEXT
## CPU per 1,000 requests

At $load% load (the same request rate for every configuration), from \`/proc/stat\`: the whole
machine (client, server, proxy, controller, kernel, softirq), in CPU milliseconds per 1,000
requests the server logged. "BPF programs" is the podlens programs' own run time
(BPF run-time statistics), already inside system and softirq; "controller" is its user +
system time, already inside the total.$([ "$bpf" = "$load" ] || printf '\n%s\n%s' \
"The BPF column comes from runs of their own at the same rate with the statistics on; the" \
"runs of the other columns went without them, as on a node.")

TEXT
  header configuration total "× baseline (95% CI)" user system softirq "BPF programs" \
    controller
  for c in "${CONFIG_NAMES[@]}"; do
    total=$(med "$c" ka "$load" cpu_ms_per_k)
    row "$c" "$(num "$total" %.1f)" "$(paired_cell "$c" ka "$load" cpu_ms_per_k)" \
      "$(num "$(med "$c" ka "$load" user_ms_per_k)" %.1f)" \
      "$(num "$(med "$c" ka "$load" system_ms_per_k)" %.1f)" \
      "$(num "$(med "$c" ka "$load" softirq_ms_per_k)" %.1f)" \
      "$(num "$(med "$c" ka "$bpf" bpf_ms_per_k)" %.2f)" \
      "$(num "$(med "$c" ka "$load" ctl_ms_per_k)" %.2f)"
  done
  echo
}

write_memory() {
  local rss maps proxy
  rss=$(fact controller_rss_kb) maps=$(($(fact bpf_map_bytes) / 1024)) proxy=$(fact proxy_rss_kb)
  cat <<TEXT
## Memory

At the end of the run, MB. The podlens figures are per node (one controller and one set of maps
whatever the number of pods); the sidecar's are per pod.

TEXT
  header what "MB (peak)"
  row "podlens-controller RSS" "$(mb "$rss") ($(mb "$(fact controller_hwm_kb)"))"
  row "podlens BPF maps (\`bytes_memlock\` of every map of the data plane)" "$(mb "$maps")"
  row "**podlens, per node**" "**$(mb $((rss + maps)))**"
  row "**HAProxy sidecar RSS, per pod**" "**$(mb "$proxy") ($(mb "$(fact proxy_hwm_kb)"))**"
  row "for scale: the app (nginx, one worker) RSS" "$(mb "$(fact app_rss_kb)")"
  echo
}

# stats_load LOAD: the load tag of the runs at LOAD (max, or a percentage) timed with BPF
# statistics on: bpfLOAD, runs of their own, or LOAD itself for results kept from runs that
# timed the throughput or latency runs themselves
stats_load() {
  local tag=bpf$1
  if [ -n "$(values_of "$RESULTS_FILE" "config=podlens kind=ka load=$tag " bpf_ns_per_packet)" ]
  then echo "$tag"; else echo "$1"; fi
}

write_dataplane() {
  local c run kind load max rate
  max=$(stats_load max) rate=$(stats_load "$CPU_LOAD")
  cat <<'TEXT'
## Data-plane cost (bpf_stats)

`run_time_ns` and `run_cnt` of the pinned podlens programs (ingress + egress), counted by the
kernel while the run's traffic went through: per packet (each run of a program), and per
request the server logged (the sum over that request's packets).
TEXT
  if [ "$rate" != "$CPU_LOAD" ]; then
    printf '%s\n%s\n' "Every row comes from runs of their own with the statistics on; the" \
      "throughput and latency tables' runs went without them."
  elif [ "$max" != max ]; then
    printf '%s\n%s\n' \
      "The maximum rows come from runs of their own with the statistics on; the throughput" \
      "table's runs went without them."
  fi
  echo
  header configuration run "packets per request" "ns per packet" "ns per request"
  for c in unselected podlens; do
    for run in "ka $rate" "ka $max" "nc $max"; do
      read -r kind load <<<"$run"
      row "$c" "$(run_name "$kind" "$load")" \
        "$(num "$(med "$c" "$kind" "$load" packets_per_request)" %.2f)" \
        "$(num "$(med "$c" "$kind" "$load" bpf_ns_per_packet)")" \
        "$(num "$(med "$c" "$kind" "$load" bpf_ns_per_request)")"
    done
  done
  echo
}

write_loss() {
  local run kind load served events
  cat <<'TEXT'
## Telemetry loss (podlens)

Requests the server's nginx logged against the transactions the controller counted
(`podlens_events_total`, read once the count stops moving), and the kernel's own loss counters
(`podlens_kernel_losses_total`, every reason), summed over the rounds.

TEXT
  header run "requests (nginx log)" events "without an event" "kernel losses" \
    "dropped by the controller"
  for run in "ka max" "nc max" $(for load in $1; do echo "ka:$load"; done); do
    read -r kind load <<<"${run/:/ }"
    served=$(sum podlens "$kind" "$load" served) events=$(sum podlens "$kind" "$load" events)
    row "$(run_name "$kind" "$load")" "$served" "$events" "$((served - events))" \
      "$(sum podlens "$kind" "$load" losses)" "$(sum podlens "$kind" "$load" drops)"
  done
  echo
}

write_method() {
  cat <<'TEXT'
## How to reproduce

```sh
sudo scripts/install-deps.sh                   # nginx-light, haproxy, gnuplot-nox, ...
cmake -S . -B build -G Ninja && cmake --build build
scripts/build-test-tools.sh build/tools        # cnitool
sudo bench/sidecar_bench.sh                    # ~45 minutes on 2 cores; rewrites this file
sudo bench/sidecar_bench.sh --smoke            # ~45 s; report under build/e2e-local/<run>/
```

Options: `--rounds N` (5), `--max-rounds N` (4× rounds), `--max-seconds S` (1.5),
`--rate-seconds S` (6), `--out FILE.md`, `--note TEXT` (a line for the report),
`--split-cpus` (the client on CPU 0, the server pods on the last CPU), `--one-cpu` (the client
and the server pods on one CPU: runs repeat closely, for comparing data-plane builds; not a
node's figures); `PL_BUILD` selects the build directory.
`bench/sidecar_report.sh RESULTS FACTS OUT.md` re-renders a report from a run's kept files.
Run it on an otherwise idle machine: every configuration shares the cores with the client.

**Reading the figures on a small machine.** On 2 vCPUs the client, the server, the kernel's
softirq work and the controller share two cores, so two things set the resolution of a run,
and the report shows both. One run's maximum throughput moves by 5-10% from one run to the
next on the development VM, with the client and server pinned to a CPU each or not, and drifts
over tens of seconds: hence many short rounds, ratios taken within a round, and confidence
intervals that say how far the run can be trusted. The hiccups show stalls of the machine
itself, a few milliseconds at a time, which set the tail at 50% and 80% load for every
configuration alike; the per-round p99 is bimodal there, so its interval stays wide. An
interval that holds the target's limit is reported unresolved; more rounds (`--rounds`,
`--max-rounds`) narrow it.

## How each figure is measured

* **Node.** `e2e/local/lib.sh`: netns pods wired by the real CNI chain (bridge + host-local,
  then podlens-cni, tcx links), the controller in standalone mode with its default flags. Each
  configuration is its own server pod with the same nginx; the client pod and the baseline,
  baseline2 and sidecar pods have podlens detached (`pl_podlens_detach`: podlens-cni DEL
  alone, as a runtime runs it for that chain entry), so the client side is the same
  everywhere and only the server's path differs.
* **Alternation.** Each round measures every configuration once per case, back to back, in
  an order rotated from round to round; figures are medians over rounds, so a burst of outside
  activity moves one round of one configuration rather than a whole column.
* **Ratios and their intervals.** A configuration's ratio to baseline is taken in each round
  (its run over the baseline's run of the same round and case, measured seconds apart, so the
  machine's drift between rounds cancels); the figure is the median of the rounds' ratios,
  with a distribution-free 95% confidence interval (the order statistics of the rounds'
  ratios that hold the median with at least 95% probability, from the binomial distribution:
  with 20 rounds, the 6th lowest and the 6th highest), so a round disturbed by a stall moves
  neither the figure nor its interval.
  A target is met when its whole interval is on the target's side of the limit, missed when
  the whole interval is on the other side, and unresolved otherwise.
* **Alternating phases.** The maxima once more, from one `rate_client --phase-ms` run per
  kind: every configuration alone at its maximum for a phase of a fraction of a second, in
  turn, in an order shuffled for every cycle of phases; each cycle counts as a round. The
  configurations' phases of one cycle are much closer in time than the separate runs of a
  round, so the ratio moves less from round to round, and a run holds many more rounds.
* **A/A check.** baseline2 is a second baseline pod measured in the same rotation; its ratios
  differ from 1 only by noise, so their intervals should hold 1 (about one in twenty will
  not, by chance). One that is far from 1 says the run was disturbed or the configurations
  differ in something besides podlens.
* **Load generator** (`bench/loadgen/rate_client`, C++, epoll, one thread). Open loop: request
  *i* is due at *start + i/R* whatever happened before; a due request takes an idle keep-alive
  connection of the pool, or waits in a queue, and its latency runs from its due time, so a
  stall shows as the delay every later request suffered (no coordinated omission). Each run
  starts with an unrecorded warm-up (1 s; 0.5 s for the maximum-throughput runs). Latencies go into a log-linear histogram (exact up
  to 255 ns, then 128 buckets per power of two: ≤ 0.8% error); a percentile reports the top of
  its bucket. Each run's histogram is kept (`--histogram`); "p99 pooled" is the p99 of a
  case's rounds merged (`rate_client --merge`), every request counted once. It uses every
  stall of every round rather than the middle round's handful, but one round with a long
  outside stall moves it, which the median of rounds resists: the report decides on the
  median and shows the pooled figure beside it. Maximum throughput is a closed loop: each connection sends again as soon as it is
  answered; "new connection" sends `Connection: close` and lets the server close first.
* **Capacity.** The baseline's keep-alive maximum (median of rounds); the fixed rates are
  10%, 50% and 80% of it, the same requests/s for every configuration. A configuration that
  cannot sustain a rate shows it in "achieved" and in its latency (queueing, measured).
* **CPU per 1,000 requests.** `/proc/stat` of the whole machine (user + nice + system + irq +
  softirq + steal) across the run, divided by the requests the server's nginx logged in the
  same span. It includes the client and anything else that ran on the machine meanwhile.
* **BPF run time.** The kernel's statistics (`bench/bpf_stats_hold`: BPF_ENABLE_STATS, what
  `kernel.bpf_stats_enabled=1` does, but held by a file descriptor so that another process
  toggling the sysctl cannot turn it off mid-run). They cost every program run two clock
  reads (`bpf_packet_bench` prints the figure), which no node pays, so they are off for the
  throughput and latency runs, and on for a few runs of unselected and podlens of their own
  afterwards, at the maximum and at 50% load: the data-plane table and the CPU table's BPF
  column. `bpftool prog show pinned` of the run's two programs before and after each run.
  Per packet: Δrun_time_ns / Δrun_cnt; per request: Δrun_time_ns / requests logged.
* **Controller.** utime + stime from `/proc/PID/stat`; RSS and its peak (VmHWM) at the end.
* **BPF map memory.** `bytes_memlock` of every map pinned under the run's `dataplane/`.
* **Proxy memory.** RSS (VmRSS, peak VmHWM) of the HAProxy process in the sidecar pod at the
  end.
* **Telemetry loss.** Requests logged by the server's nginx vs `podlens_events_total` once the
  count stops moving (the controller has drained the ring buffer), and
  `podlens_kernel_losses_total`.
TEXT
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  [ $# -ge 3 ] || { echo "usage: $0 RESULTS FACTS OUT.md [NOTE]" >&2; exit 2; }
  write_report "$@"
fi
