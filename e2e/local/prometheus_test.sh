#!/usr/bin/env bash
# A real Prometheus (Debian's package) scrapes the controller on the local node while a client
# pod sends a known, paced load; PromQL must agree with that load:
#   sum(increase(...count)) equals the requests nginx logged, sum(rate(...count)) is near the
#   paced rate, and histogram_quantile gives a median within the client's own timings.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
BUCKETS=0.0001,0.00025,0.0005,0.001,0.0025,0.005,0.01,0.025,0.1,1
export PL_CONTROLLER_FLAGS="--duration-buckets $BUCKETS"
PROM_PORT=${PL_PROM_PORT:-$((PL_METRICS_PORT + 1000))}

trap pl_node_down EXIT
trap 'exit 130' INT TERM

start_prometheus() {
  mkdir -p "$PL_DIR/prometheus"
  cat >"$PL_DIR/prometheus/prometheus.yml" <<YAML
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: podlens
    static_configs: [{targets: ["127.0.0.1:$PL_METRICS_PORT"]}]
YAML
  prometheus --config.file="$PL_DIR/prometheus/prometheus.yml" \
    --storage.tsdb.path="$PL_DIR/prometheus/data" --web.listen-address="127.0.0.1:$PROM_PORT" \
    >"$PL_DIR/prometheus/log" 2>&1 &
  echo $! >>"$PL_DIR/pids"
  local i
  for i in $(seq 100); do
    curl -sf "http://127.0.0.1:$PROM_PORT/-/ready" >/dev/null && return 0
    sleep 0.2
  done
  pl_die "prometheus did not become ready: $(tail -5 "$PL_DIR/prometheus/log")"
}

promql() {  # promql QUERY: the value of a one-element instant vector, "" when empty
  curl -sf "http://127.0.0.1:$PROM_PORT/api/v1/query" --data-urlencode "query=$1" \
    | sed -n 's/.*"value":\[[0-9.]*,"\([^"]*\)"\].*/\1/p'
}

main() {
  pl_node_up
  cat >"$PL_DIR/policies/web.yaml" <<'YAML'
apiVersion: podlens.io/v1alpha1
kind: TelemetryPolicy
metadata: {namespace: shop, name: web}
spec:
  podSelector: {matchLabels: {app: web}}
  ports: [{port: 8080}]
YAML
  pl_pod_add web shop app=web
  pl_pod_add client shop app=client
  pl_nginx web
  start_prometheus
  sleep 2
  local web failed=0
  web=$(pl_pod_ip web)
  # 40 requests/s for 15 s, one connection, curl pacing itself
  pl_exec client curl -s -o /dev/null --rate 40/s -w '%{time_total}\n' \
    "http://$web:8080/api/users/[1-600]" >"$PL_DIR/client-times.txt" &
  local client=$!
  sleep 10
  local rate
  rate=$(promql 'sum(rate(http_server_request_duration_seconds_count{k8s_pod_name="web"}[5s]))')
  wait "$client"
  sleep 3  # two more scrapes
  local served increase median client_median bound
  served=$(wc -l <"$PL_DIR/pods/web/access.log")
  increase=$(promql 'sum(http_server_request_duration_seconds_count{k8s_pod_name="web"})')
  median=$(promql 'histogram_quantile(0.5, sum by (le) (http_server_request_duration_seconds_bucket{k8s_pod_name="web"}))')
  client_median=$(sort -n "$PL_DIR/client-times.txt" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
  # the server-side median cannot lie above the bucket bound that holds the client's median
  bound=$(tr ',' '\n' <<<"$BUCKETS" | awk -v c="$client_median" '$1 >= c { print; exit }')
  pl_log "PromQL: rate ${rate}/s while paced at 40/s; count $increase for $served served;" \
    "median ${median}s (client's median ${client_median}s, bucket bound ${bound}s)"
  [ "$increase" = "$served" ] || { pl_log "FAIL: Prometheus counted $increase, nginx $served"; failed=1; }
  awk -v r="$rate" 'BEGIN { exit !(r >= 30 && r <= 50) }' \
    || { pl_log "FAIL: rate $rate not near 40/s"; failed=1; }
  awk -v m="$median" -v b="$bound" 'BEGIN { exit !(m > 0 && m <= b) }' \
    || { pl_log "FAIL: median $median implausible (client's median in bucket <= $bound)"; failed=1; }
  pl_node_down_and_check || failed=1
  return $failed
}

main "$@"
