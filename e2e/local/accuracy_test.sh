#!/usr/bin/env bash
# End-to-end accuracy on the local node: podlens' request counts per (method, status, route)
# equal nginx's own access log exactly, for the server pod (Inbound) and for a client pod
# observed as a client (Outbound); latencies are plausible against curl's own timings.
# Traffic: keep-alive, a new connection per request, HTTP/1.0 (ab), request headers forced
# across segments (MTU 576, offloads off), POST bodies, HEAD, 404/500, large responses.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
trap pl_node_down EXIT
trap 'exit 130' INT TERM

ROUTES='s# /api/users/[0-9]+$# /api/users/{id}#; s# /api/orders/[^/]+/items$# /api/orders/{orderId}/items#; s# /static/.*# /static/*#'

write_policies() {
  cat >"$PL_DIR/policies/shop.yaml" <<'YAML'
apiVersion: podlens.io/v1alpha1
kind: TelemetryPolicy
metadata:
  namespace: shop
  name: web-inbound
spec:
  podSelector:
    matchLabels: {app: web}
  ports:
    - {port: 8080, protocol: HTTP, direction: Inbound}
  routes: ["/api/users/{id}", "/api/orders/{orderId}/items", "/static/*"]
---
apiVersion: podlens.io/v1alpha1
kind: TelemetryPolicy
metadata:
  namespace: shop
  name: client-outbound
spec:
  podSelector:
    matchExpressions:
      - {key: role, operator: In, values: [observed-client]}
  ports:
    - {port: 8080, protocol: HTTP, direction: Outbound}
  routes: ["/api/users/{id}", "/api/orders/{orderId}/items", "/static/*"]
YAML
}

drive_traffic() {
  local web=$1 big
  big=$(head -c 3000 /dev/zero | tr '\0' 'h')
  head -c 10000 /dev/urandom | base64 -w 0 >"$PL_DIR/body.txt"
  # keep-alive: one connection, 150 requests
  pl_exec client curl -sf -o /dev/null "http://$web:8080/api/users/[1-150]"
  # a new connection per request
  for i in $(seq 30); do
    pl_exec client curl -sf -o /dev/null "http://$web:8080/api/orders/$(cat /proc/sys/kernel/random/uuid)/items"
  done
  # POST bodies, HEAD, 404, 500, large responses (keep-alive)
  pl_exec client curl -sf -o /dev/null -d @"$PL_DIR/body.txt" "http://$web:8080/api/checkout?n=[1-20]"
  pl_exec client curl -sf -o /dev/null -I "http://$web:8080/static/large.txt?n=[1-15]"
  pl_exec client curl -s -o /dev/null "http://$web:8080/no/such/page?n=[1-12]"
  pl_exec client curl -s -o /dev/null "http://$web:8080/api/fail?n=[1-25]"
  pl_exec client curl -sf -o /dev/null "http://$web:8080/static/large.txt?n=[1-10]"
  # HTTP/1.0 from ab, with and without keep-alive
  pl_exec loadgen ab -q -n 200 -c 4 "http://$web:8080/" >/dev/null
  pl_exec loadgen ab -q -k -n 100 -c 2 "http://$web:8080/static/large.txt" >/dev/null
  # 3 KB request headers over a 576-byte MTU with offloads off: every request line and
  # header block spans several segments
  for i in $(seq 30); do
    pl_exec smallmtu curl -sf -o /dev/null -H "X-Big: $big" "http://$web:8080/api/users/$i"
  done
}

check_latency() {  # podlens' durations are within what curl measured end to end
  local web=$1 client_total
  client_total=$(for i in $(seq 20); do
    pl_exec client curl -sf -o /dev/null -w '%{time_total}\n' "http://$web:8080/api/slow"
  done | awk '{ s += $1 } END { printf "%.6f", s }')
  pl_wait_stable pl_counts http_server_request_duration_seconds web >/dev/null
  local route='http_route="/api/slow"' count duration ttfb
  count=$(pl_metrics | grep "^http_server_request_duration_seconds_count{" | grep -F "$route" \
    | awk '{ s += $NF } END { print s + 0 }')
  duration=$(pl_metrics | grep "^http_server_request_duration_seconds_sum{" | grep -F "$route" \
    | awk '{ s += $NF } END { printf "%.6f", s }')
  ttfb=$(pl_metrics | grep "^podlens_http_server_time_to_first_byte_seconds_sum{" \
    | grep -F "$route" | awk '{ s += $NF } END { printf "%.6f", s }')
  pl_log "latency: 20 requests, curl total ${client_total}s, podlens duration ${duration}s," \
    "TTFB ${ttfb}s"
  [ "$count" = 20 ] || { pl_log "FAIL: $count /api/slow requests counted, want 20"; return 1; }
  awk -v c="$client_total" -v d="$duration" -v t="$ttfb" \
    'BEGIN { exit !(d > 0 && t > 0 && t <= d && d <= c) }' \
    || { pl_log "FAIL: implausible latencies"; return 1; }
}

main() {
  pl_node_up
  write_policies
  pl_pod_add web shop app=web
  pl_pod_add client shop role=observed-client
  pl_pod_add loadgen shop role=load
  pl_pod_add smallmtu shop role=load
  pl_exec smallmtu ip link set eth0 mtu 576
  pl_exec smallmtu ethtool -K eth0 tso off gso off gro off >/dev/null 2>&1 || true
  pl_nginx web
  sleep 1.5  # the controller picks up pods and policies within its resync interval
  local web
  web=$(pl_pod_ip web)
  drive_traffic "$web"
  pl_wait_stable pl_counts http_server_request_duration_seconds web >/dev/null
  local failed=0
  pl_check_equal "inbound counts of pod web equal nginx's access log" \
    "$(pl_truth web "" "$ROUTES")" \
    "$(pl_counts http_server_request_duration_seconds web)" || failed=1
  pl_check_equal "outbound counts of pod client equal nginx's log of its requests" \
    "$(pl_truth web client "$ROUTES")" \
    "$(pl_counts http_client_request_duration_seconds client)" || failed=1
  check_latency "$web" || failed=1
  local losses
  losses=$(pl_metrics | grep '^podlens_kernel_losses_total' | awk '$NF > 0' || true)
  [ -z "$losses" ] || pl_log "kernel losses reported: $losses"
  pl_node_down_and_check || failed=1
  return $failed
}

main "$@"
