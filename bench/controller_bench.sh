#!/usr/bin/env bash
# podlens-controller on a loaded node: RSS with 100 pods and 10 policies, CPU at ~10k
# requests/s. Pods are netns pods through the real CNI chain (e2e/local/lib.sh); 10 of them
# serve nginx, 10 policies select them; 2 client pods drive paced wrk load at the servers.
# Prints figures; asserts nothing (benchmarks are not tests).
#   bench/controller_bench.sh [--smoke]      (root; build first: scripts/test.sh)
set -euo pipefail
source "$(dirname "$0")/../e2e/local/lib.sh"
trap pl_node_down EXIT
trap 'exit 130' INT TERM

PODS=100 SERVERS=10 SECONDS_LOAD=20 CONNECTIONS=12
if [ "${1:-}" = "--smoke" ]; then PODS=6 SERVERS=2 SECONDS_LOAD=2 CONNECTIONS=2; fi

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }

write_policies() {
  local i
  for i in $(seq 0 $((SERVERS - 1))); do
    cat >"$PL_DIR/policies/policy-$i.yaml" <<YAML
apiVersion: podlens.io/v1alpha1
kind: TelemetryPolicy
metadata: {namespace: bench, name: web-$i}
spec:
  podSelector: {matchLabels: {app: web-$i}}
  ports: [{port: 8080}]
  routes: ["/api/users/{id}", "/api/orders/{orderId}/items", "/static/*"]
YAML
  done
}

main() {
  pl_node_up
  write_policies
  local i start
  start=$(date +%s%N)
  for i in $(seq 0 $((PODS - 1))); do
    if [ "$i" -lt "$SERVERS" ]; then pl_pod_add "s$i" bench "app=web-$i" 2>/dev/null
    else pl_pod_add "p$i" bench "app=idle-$i" 2>/dev/null; fi
  done
  pl_log "$PODS pods through the CNI chain in $(( ($(date +%s%N) - start) / 1000000 )) ms"
  for i in $(seq 0 $((SERVERS - 1))); do pl_nginx "s$i"; done
  pl_pod_add client1 bench app=client 2>/dev/null
  pl_pod_add client2 bench app=client 2>/dev/null
  sleep 1
  local controller cpu0 cpu1 events0 events1 t0 t1 rss_idle
  controller=$(cat "$PL_DIR/controller.pid")
  rss_idle=$(rss_kb "$controller")
  events0=$(pl_metric_value podlens_events_total)
  cpu0=$(cpu_ticks "$controller")
  t0=$(date +%s%N)
  for i in $(seq 0 $((SERVERS - 1))); do  # each wrk paces itself (traffic-mix.lua's delay)
    pl_exec "client$((i % 2 + 1))" wrk -t1 -c"$CONNECTIONS" -d"${SECONDS_LOAD}s" \
      -s "$PL_ROOT/e2e/local/traffic-mix.lua" "http://$(pl_pod_ip "s$i"):8080" >/dev/null 2>&1 &
  done
  wait $(jobs -p | tail -n "$SERVERS")
  t1=$(date +%s%N)
  cpu1=$(cpu_ticks "$controller")
  pl_wait_stable pl_metric_value podlens_events_total >/dev/null
  events1=$(pl_metric_value podlens_events_total)
  local seconds rate cpu_seconds hz series scrape_bytes
  hz=$(getconf CLK_TCK)
  seconds=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
  rate=$(awk -v e=$((events1 - events0)) -v s="$seconds" 'BEGIN { printf "%.0f", e / s }')
  cpu_seconds=$(awk -v c=$((cpu1 - cpu0)) -v hz="$hz" 'BEGIN { printf "%.2f", c / hz }')
  series=$(pl_metric_value podlens_metric_series)
  scrape_bytes=$(pl_metrics | wc -c)
  echo "== podlens-controller on a loaded node ($(uname -r), $(nproc) cores)"
  echo "pods: $PODS ($SERVERS serving), policies: $SERVERS, series: $series"
  echo "load: $((events1 - events0)) transactions in ${seconds}s = ${rate} requests/s"
  awk -v c="$cpu_seconds" -v s="$seconds" -v e=$((events1 - events0)) 'BEGIN {
    printf "controller CPU: %.2fs = %.1f%% of one core, %.1f ms per 1000 requests\n",
      c, 100 * c / s, e ? 1000 * c * 1000 / e : 0 }'
  echo "controller RSS: idle $((rss_idle / 1024)) MB, after load $(( $(rss_kb "$controller") / 1024 )) MB, peak $(( $(awk '/^VmHWM/ { print $2 }' "/proc/$controller/status") / 1024 )) MB; /metrics ${scrape_bytes} bytes"
  pl_metrics | grep '^podlens_kernel_losses_total' | awk '$NF > 0 { print "kernel loss:", $0 }'
}

main "$@"
