#!/usr/bin/env bash
# The local-node demo (the README's main command runs it after building): netns pods wired by
# the real CNI chain (bridge + host-local, then podlens-cni), the controller in standalone
# mode with sample policies, nginx servers, and wrk, curl and ab clients. Shows a live summary
# per pod and route, then ends by itself and removes everything it made (also on failure and
# on Ctrl-C). PL_DEMO_SECONDS sets the length (default 40).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
trap pl_node_down EXIT
trap 'exit 130' INT TERM

SECONDS_TOTAL=${PL_DEMO_SECONDS:-40}
# Pod-to-pod latencies on one machine are well under OpenTelemetry's first 5 ms bucket: finer
# buckets so p50 and p99 say something.
export PL_CONTROLLER_FLAGS="--duration-buckets 0.0001,0.00025,0.0005,0.001,0.0025,0.005,0.01,0.025,0.05,0.1,0.25,0.5,1,2.5,5,10"

write_policies() {
  cat >"$PL_DIR/policies/shop.yaml" <<'YAML'
# Servers: every pod labelled app in (web, api) is observed as an HTTP server on 8080.
apiVersion: podlens.io/v1alpha1
kind: TelemetryPolicy
metadata: {namespace: shop, name: servers}
spec:
  podSelector:
    matchExpressions: [{key: app, operator: In, values: [web, api]}]
  ports: [{port: 8080, protocol: HTTP, direction: Inbound}]
  routes: ["/api/users/{id}", "/api/orders/{orderId}/items", "/static/*"]
---
# The frontend is observed as a client of whatever it calls on port 8080.
apiVersion: podlens.io/v1alpha1
kind: TelemetryPolicy
metadata: {namespace: shop, name: frontend-calls}
spec:
  podSelector: {matchLabels: {app: frontend}}
  ports: [{port: 8080, protocol: HTTP, direction: Outbound}]
YAML
}

frontend_loop() {  # keep-alive bursts of API calls, POST bodies, errors; HTTP/1.0 from ab
  local api=$1 end=$((SECONDS + SECONDS_TOTAL))
  while [ $SECONDS -lt $end ]; do
    pl_exec frontend curl -s -o /dev/null "http://$api:8080/api/users/[1-20]" || true
    pl_exec frontend curl -s -o /dev/null -d 'item=42&qty=1' \
      "http://$api:8080/api/checkout?try=[1-5]" || true
    pl_exec frontend curl -s -o /dev/null "http://$api:8080/api/fail" || true
    pl_exec frontend ab -q -n 20 -c 2 "http://$api:8080/" >/dev/null 2>&1 || true
    sleep 0.2
  done
}

main() {
  pl_node_up
  write_policies
  pl_pod_add web shop app=web
  pl_pod_add api shop app=api
  pl_pod_add frontend shop app=frontend
  pl_pod_add loadgen tools app=loadgen
  pl_nginx web
  pl_nginx api
  sleep 1
  pl_log "traffic for ${SECONDS_TOTAL}s: wrk -> web (route mix), frontend -> api (curl, ab)"
  pl_exec loadgen wrk -t1 -c4 -d"${SECONDS_TOTAL}s" -s "$(dirname "$0")/traffic-mix.lua" \
    "http://$(pl_pod_ip web):8080" >"$PL_DIR/wrk.txt" 2>&1 &
  local wrk=$!
  echo $wrk >>"$PL_DIR/pids"
  frontend_loop "$(pl_pod_ip api)" &
  local frontend=$!
  echo $frontend >>"$PL_DIR/pids"
  "$(pl_bin podlens-top)" --url "http://127.0.0.1:$PL_METRICS_PORT/metrics" --interval 2 \
    --count $((SECONDS_TOTAL / 2))
  wait "$wrk" "$frontend" 2>/dev/null || true
  pl_log "wrk's own view of its traffic:"
  sed -n '/Latency/,/Transfer/p' "$PL_DIR/wrk.txt" >&2
  pl_log "self-metrics:"
  pl_metrics | grep -E '^podlens_(events_total|kernel_losses_total|selected_pods|attached_interfaces)' \
    | awk '$NF != 0' >&2 || true
  pl_log "done; cleaning up"
}

main "$@"
