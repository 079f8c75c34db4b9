#!/usr/bin/env bash
# The report of bench/sidecar_bench.sh: docs/benchmarks.md and its plots, from the run's
# results (one line of key=value words per rate_client run) and facts (machine, memory).
# Sourced by the bench; run by hand it re-renders a report from kept files:
#   bench/sidecar_report.sh RESULTS FACTS OUT.md [NOTE]
# Every figure is the median over the run's rounds unless it says otherwise.

# median_of RESULTS CONFIG KIND LOAD KEY: the median of KEY over the rounds of a case.
median_of() {
  awk -v want="config=$2 kind=$3 load=$4 " -v key="$5" 'index($0, want) == 1 {
      for (i = 1; i <= NF; i++) if (index($i, key "=") == 1) print substr($i, length(key) + 2) }' \
    "$1" | sort -g | awk '{ v[++n] = $1 }
      END { if (!n) print 0; else print (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2 }'
}

sum_of() {  # sum_of RESULTS CONFIG KIND LOAD KEY: KEY added up over the rounds
  awk -v want="config=$2 kind=$3 load=$4 " -v key="$5" 'index($0, want) == 1 {
      for (i = 1; i <= NF; i++) if (index($i, key "=") == 1) s += substr($i, length(key) + 2) }
    END { print s + 0 }' "$1"
}

fact() {  # fact FACTS KEY
  tr ' ' '\n' <"$1" | awk -F= -v key="$2" '$1 == key { print substr($0, length(key) + 2); exit }'
}

run_name() {  # run_name KIND LOAD: "keep-alive, 50% load", "new connection, maximum"
  printf '%s, ' "$([ "$1" = ka ] && echo keep-alive || echo new connection)"
  [ "$2" = max ] && echo maximum || echo "$2% load"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "–"; else printf "%.2f×", a / b }'; }
num() { awk -v v="$1" -v f="${2:-%.0f}" 'BEGIN { printf f, v }'; }
verdict() { awk -v v="$1" -v op="$2" -v t="$3" 'BEGIN {
  ok = (op == "<=") ? v <= t : v >= t; print ok ? "**pass**" : "**miss**" }'; }

# plot_latency RESULTS PNG LOADS...: latency percentiles against load, one line per
# configuration, one panel per percentile (log scale).
plot_latency() {
  local results=$1 png=$2 data config load key xtics=""
  shift 2
  for load in "$@"; do xtics="$xtics${xtics:+, }\"$load%%\" $load"; done  # %% : a format
  data=$(mktemp -d)
  for config in baseline unselected podlens sidecar; do
    for load in "$@"; do
      printf '%s' "$load"
      for key in p50_us p90_us p99_us p999_us; do
        printf ' %s' "$(median_of "$results" "$config" ka "$load" "$key")"
      done
      echo
    done >"$data/$config"
  done
  gnuplot <<GNUPLOT
set terminal pngcairo size 1200,800 font "DejaVu Sans,10"
set output "$png"
set multiplot layout 2,2 title "Latency against load (open loop, keep-alive; median of rounds)"
set logscale y
set xlabel "load, % of the baseline's keep-alive capacity"
set ylabel "microseconds"
set key top left
set grid
set xtics ($xtics)
do for [c = 2:5] {
  set title (c == 2 ? "p50" : c == 3 ? "p90" : c == 4 ? "p99" : "p99.9")
  plot "$data/baseline" using 1:c with linespoints lw 2 title "baseline", \
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
  local results=$1 facts=$2 out=$3 note=${4:-} img_dir rel loads capacity
  img_dir=$(dirname "$out")/benchmarks
  rel=benchmarks
  mkdir -p "$img_dir"
  loads=$(awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^load=[0-9]/) print substr($i, 6) }' \
    "$results" | sort -n -u | tr '\n' ' ')
  capacity=$(fact "$facts" capacity)
  # shellcheck disable=SC2086  # loads is a list of numbers
  plot_latency "$results" "$img_dir/latency_vs_load.png" $loads
  cp "$results" "$img_dir/results.txt"
  cp "$facts" "$img_dir/facts.txt"
  local m=median_of r=$results
  {
    echo "# Benchmarks: no telemetry, podlens, and a sidecar proxy"
    echo
    echo "Written by \`sudo bench/sidecar_bench.sh\` (see [how to reproduce](#how-to-reproduce));"
    echo "the raw figures of this run are in [benchmarks/results.txt](benchmarks/results.txt)."
    echo "Every figure is the median over the run's rounds ($(fact "$facts" rounds)); every ratio"
    echo "is against the baseline measured in the same run."
    echo
    echo "## Machine"
    echo
    echo "| CPU | cores | kernel | date (UTC) | load average before / after |"
    echo "|---|---|---|---|---|"
    echo "| $(fact "$facts" cpu_model | tr _ ' ') | $(fact "$facts" cores) | $(fact "$facts" kernel) |" \
      "$(fact "$facts" date) | $(fact "$facts" load_before) / $(fact "$facts" load_after) |"
    echo
    [ -z "$note" ] || { echo "$note"; echo; }
    echo "Server: nginx $(fact "$facts" nginx), one worker, a 1,024-byte page, an access-log line"
    echo "per request (the ground truth). Sidecar: HAProxy $(fact "$facts" haproxy). Client:"
    echo "\`rate_client\`, $(fact "$facts" connections) connections, one thread. The sidecar's own"
    echo "access log has $(fact "$facts" sidecar_proxy_logged) lines for the $(fact "$facts" sidecar_app_logged)"
    echo "requests its app logged: all the sidecar pod's traffic went through the proxy."
    echo
    echo "## Configurations"
    echo
    echo "| name | server pod |"
    echo "|---|---|"
    echo "| baseline | podlens detached from the pod's veth (no program): no telemetry |"
    echo "| unselected | podlens attached (tcx, both directions), no policy selects the pod: the cheap path, one map lookup a packet |"
    echo "| podlens | podlens attached and selected by a TelemetryPolicy (Inbound, port 8080): every packet parsed, one event per request, the controller aggregating |"
    echo "| sidecar | podlens detached; HAProxy in the pod (HTTP mode, 2 threads, an access-log line per request), inbound :8080 redirected to it by iptables, proxying to the app on localhost over reused keep-alive connections |"
    echo
    write_targets
    echo
    echo "## Maximum throughput"
    echo
    echo "Closed loop, $(fact "$facts" connections) connections, $(fact "$facts" max_seconds) s a run."
    echo
    echo "| configuration | keep-alive req/s | × baseline | new connection per request, req/s | × baseline |"
    echo "|---|---|---|---|---|"
    local c ka nc ka0 nc0
    ka0=$($m "$r" baseline ka max achieved_rps)
    nc0=$($m "$r" baseline nc max achieved_rps)
    for c in baseline unselected podlens sidecar; do
      ka=$($m "$r" $c ka max achieved_rps)
      nc=$($m "$r" $c nc max achieved_rps)
      echo "| $c | $(num "$ka") | $(ratio "$ka" "$ka0") | $(num "$nc") | $(ratio "$nc" "$nc0") |"
    done
    echo
    echo "## Latency at fixed rates"
    echo
    echo "Open loop at $(echo "$loads" | sed 's/ $//; s/ /%, /g')% of the baseline's keep-alive capacity"
    echo "($(num "$capacity") requests/s), keep-alive, $(fact "$facts" rate_seconds) s a run;"
    echo "latency runs from each request's intended send time. Microseconds."
    echo
    echo "![latency against load]($rel/latency_vs_load.png)"
    echo
    echo "| load | configuration | achieved req/s | p50 | p90 | p99 | p99.9 | p50 × baseline | p99 × baseline | errors + timeouts |"
    echo "|---|---|---|---|---|---|---|---|---|---|"
    local load p50 p99 p50b p99b
    for load in $loads; do
      p50b=$($m "$r" baseline ka "$load" p50_us)
      p99b=$($m "$r" baseline ka "$load" p99_us)
      for c in baseline unselected podlens sidecar; do
        p50=$($m "$r" $c ka "$load" p50_us)
        p99=$($m "$r" $c ka "$load" p99_us)
        echo "| $load% | $c | $(num "$($m "$r" $c ka "$load" achieved_rps)") | $(num "$p50" %.1f) |" \
          "$(num "$($m "$r" $c ka "$load" p90_us)" %.1f) | $(num "$p99" %.1f) |" \
          "$(num "$($m "$r" $c ka "$load" p999_us)" %.1f) | $(ratio "$p50" "$p50b") |" \
          "$(ratio "$p99" "$p99b") | $(( $(sum_of "$r" $c ka "$load" errors) + $(sum_of "$r" $c ka "$load" timeouts) )) |"
      done
    done
    echo
    write_cpu 50
    echo
    write_memory
    echo
    write_dataplane
    echo
    write_loss
    echo
    write_method
  } >"$out"
}

write_targets() {
  local p99 p99b ka ka0 nc nc0 lost losses hwm
  p99=$($m "$r" podlens ka 50 p99_us)
  p99b=$($m "$r" baseline ka 50 p99_us)
  ka=$($m "$r" podlens ka max achieved_rps)
  ka0=$($m "$r" baseline ka max achieved_rps)
  nc=$($m "$r" podlens nc max achieved_rps)
  nc0=$($m "$r" baseline nc max achieved_rps)
  lost=$(( $(sum_of "$r" podlens ka max lost) + $(sum_of "$r" podlens nc max lost) ))
  losses=$(( $(sum_of "$r" podlens ka max losses) + $(sum_of "$r" podlens nc max losses) ))
  hwm=$(fact "$facts" controller_hwm_kb)
  echo "## Targets"
  echo
  echo "Recorded, not asserted: a miss is a finding of this run on this machine."
  echo
  echo "| target | this run | |"
  echo "|---|---|---|"
  echo "| podlens p99 at 50% load ≤ 1.05× baseline | $(num "$p99" %.1f) µs vs $(num "$p99b" %.1f) µs = $(ratio "$p99" "$p99b") |" \
    "$(verdict "$(awk -v a="$p99" -v b="$p99b" 'BEGIN { print b ? a / b : 99 }')" "<=" 1.05) |"
  echo "| podlens maximum throughput ≥ 0.97× baseline (keep-alive) | $(num "$ka") vs $(num "$ka0") req/s = $(ratio "$ka" "$ka0") |" \
    "$(verdict "$(awk -v a="$ka" -v b="$ka0" 'BEGIN { print b ? a / b : 0 }')" ">=" 0.97) |"
  echo "| the same, new connection per request | $(num "$nc") vs $(num "$nc0") req/s = $(ratio "$nc" "$nc0") |" \
    "$(verdict "$(awk -v a="$nc" -v b="$nc0" 'BEGIN { print b ? a / b : 0 }')" ">=" 0.97) |"
  echo "| zero telemetry loss at the highest rate (the maximum-throughput runs) | $lost requests without an event, $losses kernel losses |" \
    "$(verdict $((lost + losses)) "<=" 0) |"
  echo "| controller ≤ 30 MB RSS | peak $(num "$(awk -v k="$hwm" 'BEGIN { print k / 1024 }')" %.1f) MB |" \
    "$(verdict "$hwm" "<=" 30720) |"
}

write_cpu() {
  local load=$1 c base
  base=$($m "$r" baseline ka "$load" cpu_ms_per_k)
  echo "## CPU per 1,000 requests"
  echo
  echo "At $load% load (the same request rate for every configuration), from \`/proc/stat\`: the"
  echo "whole machine (client, server, proxy, controller, kernel, softirq), in CPU milliseconds per"
  echo "1,000 requests the server logged. BPF is the podlens programs' own run time"
  echo "(\`kernel.bpf_stats_enabled\`), already inside system/softirq; controller is its own"
  echo "user + system time, already inside the total."
  echo
  echo "| configuration | total | × baseline | user | system | softirq | BPF programs | controller |"
  echo "|---|---|---|---|---|---|---|---|"
  for c in baseline unselected podlens sidecar; do
    local total
    total=$($m "$r" $c ka "$load" cpu_ms_per_k)
    echo "| $c | $(num "$total" %.1f) | $(ratio "$total" "$base") |" \
      "$(num "$($m "$r" $c ka "$load" user_ms_per_k)" %.1f) |" \
      "$(num "$($m "$r" $c ka "$load" system_ms_per_k)" %.1f) |" \
      "$(num "$($m "$r" $c ka "$load" softirq_ms_per_k)" %.1f) |" \
      "$(num "$($m "$r" $c ka "$load" bpf_ms_per_k)" %.2f) |" \
      "$(num "$($m "$r" $c ka "$load" ctl_ms_per_k)" %.2f) |"
  done
}

write_memory() {
  local rss maps proxy
  rss=$(fact "$facts" controller_rss_kb)
  maps=$(fact "$facts" bpf_map_bytes)
  proxy=$(fact "$facts" proxy_rss_kb)
  echo "## Memory"
  echo
  echo "At the end of the run. The podlens figure is per node (one controller and one set of maps"
  echo "whatever the number of pods); the sidecar's is per pod."
  echo
  echo "| what | MB |"
  echo "|---|---|"
  echo "| podlens-controller RSS (peak) | $(num "$(awk -v k="$rss" 'BEGIN { print k / 1024 }')" %.1f) ($(num "$(awk -v k="$(fact "$facts" controller_hwm_kb)" 'BEGIN { print k / 1024 }')" %.1f)) |"
  echo "| podlens BPF maps (memlock, all maps of the data plane) | $(num "$(awk -v b="$maps" 'BEGIN { print b / 1048576 }')" %.1f) |"
  echo "| **podlens total, per node** | **$(num "$(awk -v k="$rss" -v b="$maps" 'BEGIN { print k / 1024 + b / 1048576 }')" %.1f)** |"
  echo "| HAProxy sidecar RSS (peak) | $(num "$(awk -v k="$proxy" 'BEGIN { print k / 1024 }')" %.1f) ($(num "$(awk -v k="$(fact "$facts" proxy_hwm_kb)" 'BEGIN { print k / 1024 }')" %.1f)) |"
  echo "| **sidecar total, per pod** | **$(num "$(awk -v k="$proxy" 'BEGIN { print k / 1024 }')" %.1f)** |"
  echo "| for scale: the app (nginx, one worker) RSS | $(num "$(awk -v k="$(fact "$facts" app_rss_kb)" 'BEGIN { print k / 1024 }')" %.1f) |"
}

write_dataplane() {
  local c run kind load
  echo "## Data-plane cost (bpf_stats)"
  echo
  echo "\`run_time_ns\` and \`run_cnt\` of the pinned podlens programs (ingress + egress), counted by"
  echo "the kernel while the run's traffic went through: per packet (each run of a program), and per"
  echo "request the server logged (the sum over that request's packets)."
  echo
  echo "| configuration | run | packets per request | ns per packet | ns per request |"
  echo "|---|---|---|---|---|"
  for c in unselected podlens; do
    for run in "ka 50" "ka max" "nc max"; do
      read -r kind load <<<"$run"
      echo "| $c | $(run_name "$kind" "$load") |" \
        "$(num "$($m "$r" $c "$kind" "$load" packets_per_request)" %.2f) |" \
        "$(num "$($m "$r" $c "$kind" "$load" bpf_ns_per_packet)" %.0f) |" \
        "$(num "$($m "$r" $c "$kind" "$load" bpf_ns_per_request)" %.0f) |"
    done
  done
}

write_loss() {
  local run kind load served events
  echo "## Telemetry loss (podlens)"
  echo
  echo "Requests the server's nginx logged against the transactions the controller counted"
  echo "(\`podlens_events_total\`, read after the ring buffer drained), and the kernel's own loss"
  echo "counters (\`podlens_kernel_losses_total\`, every reason), summed over the rounds."
  echo
  echo "| run | requests (nginx log) | events | without an event | kernel losses | dropped by the controller |"
  echo "|---|---|---|---|---|---|"
  for run in "ka max" "nc max" $(for load in $loads; do echo "ka:$load"; done); do
    read -r kind load <<<"${run/:/ }"
    served=$(sum_of "$r" podlens "$kind" "$load" served)
    events=$(sum_of "$r" podlens "$kind" "$load" events)
    echo "| $(run_name "$kind" "$load") | $served | $events | $((served - events)) |" \
      "$(sum_of "$r" podlens "$kind" "$load" losses) | $(sum_of "$r" podlens "$kind" "$load" drops) |"
  done
}

write_method() {
  cat <<'TEXT'
## How to reproduce

```sh
sudo scripts/install-deps.sh                   # nginx-light, haproxy, gnuplot-nox, ...
cmake -S . -B build -G Ninja && cmake --build build
scripts/build-test-tools.sh build/tools        # cnitool
sudo bench/sidecar_bench.sh                    # ~15 minutes; rewrites this file
sudo bench/sidecar_bench.sh --smoke            # a few seconds; report under the run directory
```

Options: `--rounds N` (default 3), `--out FILE.md`, `--note TEXT` (a line for this report, e.g.
whether the machine was otherwise idle); `PL_BUILD` selects the build directory.
`bench/sidecar_report.sh RESULTS FACTS OUT.md` re-renders a report from a run's kept files.
Run it on an otherwise idle machine: every configuration shares the same cores with the client.

## How each figure is measured

* **Node.** `e2e/local/lib.sh`: netns pods wired by the real CNI chain (bridge + host-local,
  then podlens-cni, tcx links), the controller in standalone mode with its default flags. Each
  configuration is its own server pod with the same nginx; the client pod and the baseline and
  sidecar pods have podlens detached (`pl_podlens_detach`: podlens-cni DEL alone, as a runtime
  does for that chain entry), so the client side is identical everywhere and only the server's
  path differs.
* **Alternation.** Each round measures every configuration once per case, in an order rotated
  from round to round; figures are medians over rounds, so a burst of outside activity moves
  one round of one configuration rather than a whole column.
* **Load generator** (`bench/loadgen/rate_client`, C++, epoll, one thread). Open loop: request
  *i* is due at *start + i/R* whatever happened before; a due request takes an idle keep-alive
  connection of the pool (16), or waits in a queue, and its latency runs from its due time, so
  a stall shows as the delay every later request suffered (no coordinated omission). Each run
  starts with an unrecorded warm-up. Latencies go into a log-linear histogram (256 exact
  nanosecond buckets, then 128 buckets per power of two: ≤ 0.8% error); percentiles report the
  top of their bucket. Maximum throughput is a closed loop: each connection sends again as soon
  as it is answered; "new connection" sends `Connection: close` and lets the server close first.
* **Capacity.** The baseline's keep-alive maximum (median of rounds); the fixed rates are
  10%, 50% and 80% of it, the same requests/s for every configuration. A configuration that
  cannot sustain a rate shows it in "achieved" and in its latency (queueing, measured).
* **CPU per 1,000 requests.** `/proc/stat` of the whole machine (user + nice + system + irq +
  softirq + steal) across the run, divided by the requests the server's nginx logged in the
  same span. It includes the client and whatever else ran on the machine.
* **BPF run time.** `kernel.bpf_stats_enabled=1` for the whole run (restored after), so the
  podlens figures carry the stats' own small overhead; `bpftool prog show pinned` of the run's
  two programs before and after. Per packet: Δrun_time_ns / Δrun_cnt; per request:
  Δrun_time_ns / requests logged.
* **Controller.** utime + stime from `/proc/PID/stat`; RSS and its peak (VmHWM) at the end.
* **BPF map memory.** `bytes_memlock` of every map pinned under the run's `dataplane/`.
* **Proxy memory.** RSS of the HAProxy process in the sidecar pod at the end (VmRSS; peak
  VmHWM).
* **Telemetry loss.** Requests logged by the server's nginx vs `podlens_events_total` after
  the ring buffer drained (the count stops moving), and `podlens_kernel_losses_total`.
TEXT
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  [ $# -ge 3 ] || { echo "usage: $0 RESULTS FACTS OUT.md [NOTE]" >&2; exit 2; }
  write_report "$@"
fi
