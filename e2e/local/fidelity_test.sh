#!/usr/bin/env bash
# End-to-end HTTP/1.x fidelity on the local node: podlens' counts per (method, status, route)
# equal the servers' own logs, exactly, for the traffic that breaks naive parsers. Servers are
# observed Inbound, the one client pod Outbound (the same bytes, parsed on the other veth).
#   pipelined   a raw socket writes 4 requests in ONE write before reading any answer (nginx's
#               $pipe proves they were pipelined): HEAD of a large file, a POST body, a large
#               response and a chunked one among them. 8 at once is past podlens' FIFO of 4:
#               the last 4 must be counted as pipeline_overflow, and nothing else may move.
#   chunked     nginx gzip: Transfer-Encoding: chunked, no Content-Length (checked), mixed
#               with Content-Length answers on keep-alive connections, 404s and POSTs too
#   until FIN   an HTTP/1.0 server answering without a length (http10_server.py), to
#               HTTP/1.0 and HTTP/1.1 requests, bodies of 0 B to 1 MB, 200/404/503, HEAD, POST
#   continue    curl uploads with Expect: 100-continue (an HTTP/1.1 100 Continue is checked):
#               one transaction with the final status, then a request on the same connection;
#               and a body too large, refused with 413 before it is sent
# Every case runs twice: with the veths' large (GSO) segments, then with a 576-byte MTU and
# offloads off in all pods, so request lines, chunk-size lines and headers straddle segments.
# Kernel loss counters must all be 0 but pipeline_overflow, which must equal the overflow.
# The whole test (servers, clients, controller) runs on one CPU (PL_FIDELITY_CPU, default 0;
# empty: the scheduler decides). On veth a flow whose sender moves between CPUs is delivered
# through two CPUs' backlogs, out of order: transactions whose framing bytes come late are then
# lost, counted (seq_gap), as the BPF tier checks; here the counts must equal the logs exactly.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
trap pl_node_down EXIT
trap 'exit 130' INT TERM

HERE=$(cd "$(dirname "$0")" && pwd)
CRLF=$'\r\n'
WEB=""     # pod web: nginx, the fidelity server on 8081
LEGACY=""  # pod legacy: the HTTP/1.0 server on 8080
FAILED=0
PIPELINED=0  # requests sent in a batch behind another one: nginx's $pipe must say "p" for each
LEGACY_ROUTES='^/(small|empty|big|huge|missing|busy|submit|items/)'
ROUTES='s# /pipe/ok/[0-9]+$# /pipe/ok/{n}#; s# /deep/[0-9]+$# /deep/{n}#;
  s# /overflow/[0-9]+$# /overflow/{n}#; s# /items/[0-9]+$# /items/{id}#'

fail() { pl_log "FAIL: $*"; FAILED=1; }

write_policies() {
  cat >"$PL_DIR/policies/fidelity.yaml" <<'YAML'
apiVersion: podlens.io/v1alpha1
kind: TelemetryPolicy
metadata: {namespace: shop, name: web}
spec:
  podSelector: {matchLabels: {app: web}}
  ports: [{port: 8081, protocol: HTTP, direction: Inbound}]
  routes: ["/pipe/ok/{n}", "/deep/{n}", "/overflow/{n}"]
---
apiVersion: podlens.io/v1alpha1
kind: TelemetryPolicy
metadata: {namespace: shop, name: legacy}
spec:
  podSelector: {matchLabels: {app: legacy}}
  ports: [{port: 8080, protocol: HTTP, direction: Inbound}]
  routes: ["/items/{id}"]
---
apiVersion: podlens.io/v1alpha1
kind: TelemetryPolicy
metadata: {namespace: shop, name: client}
spec:
  podSelector: {matchLabels: {role: observed-client}}
  ports:
    - {port: 8081, protocol: HTTP, direction: Outbound}
    - {port: 8080, protocol: HTTP, direction: Outbound}
  routes: ["/pipe/ok/{n}", "/deep/{n}", "/overflow/{n}", "/items/{id}"]
YAML
}

# fidelity_server: pl_nginx's http-block addition for pod web. The proof log records, per
# request, what the truth log cannot show: the connection and its request number, $pipe ("p"
# when the request was already read with the one before: pipelined) and whether the answer
# was chunked.
fidelity_server() {
  local pod=$PL_DIR/pods/web html=$PL_DIR/pods/web/nginx/html
  cat <<CONF
  log_format proof '\$connection \$connection_requests \$pipe \$sent_http_transfer_encoding '
                   '\$request_method \$status \$request_uri';
  server {
    listen 8081;
    root $html;
    access_log $pod/access.log truth;
    access_log $pod/proof.log proof;
    gzip_types text/plain application/json; gzip_min_length 0;
    location ~ ^/pipe/ok/[0-9]+\$ { return 200 'ok'; }
    location = /pipe/big { alias $html/static/large.txt; }
    location = /pipe/gz { gzip on; alias $html/static/large.txt; }
    location = /pipe/fail { return 500 'boom'; }
    location = /pipe/post { return 201 'created'; }
    location ~ ^/deep/[0-9]+\$ { return 200 'deep'; }
    location /gz/ { gzip on; alias $html/static/; }
    location = /gz/api { gzip on; default_type application/json; return 200 '{"items":[1,2,3]}'; }
    location /plain/ { alias $html/static/; }
    location = /plain/api { default_type application/json; return 200 '{"items":[1,2,3]}'; }
    # proxy_pass reads the request body, so nginx answers Expect: 100-continue
    location = /upload { client_max_body_size 1m; proxy_pass http://127.0.0.1:8082; }
    location = /upload/next { gzip on; return 200 'next'; }
  }
  server {  # the upload sink, on the pod's loopback: podlens does not see it, nor the log
    listen 127.0.0.1:8082;
    access_log off;
    location / { return 201 'stored'; }
  }
CONF
}

start_http10_server() {
  local log=$PL_DIR/pods/legacy/access.log i
  pl_exec legacy python3 "$HERE/http10_server.py" 8080 "$log" \
    >>"$PL_DIR/pods/legacy/stdout.log" 2>&1 &
  echo $! >>"$PL_DIR/pids"
  for i in $(seq 50); do
    pl_exec legacy curl -s -o /dev/null "http://127.0.0.1:8080/small" && break
    sleep 0.1
  done
  : >"$log"  # the readiness probe is not traffic under test
}

# --- pipelined requests ---------------------------------------------------------------------

BATCH=""
add() {  # add METHOD PATH [HEADER...]: appends a request without body to BATCH
  local method=$1 path=$2 header
  shift 2
  BATCH+="$method $path HTTP/1.1${CRLF}Host: web${CRLF}"
  for header; do BATCH+="$header$CRLF"; done
  BATCH+=$CRLF
}

# send_batch COUNT: BATCH to web:8081 on a new connection in ONE write (cat of a file: bash's
# printf is line-buffered and would write each line on its own), then reads the answers until
# nginx closes (the last request says Connection: close). COUNT answers must come back (bodies
# end without a newline, so status lines are counted anywhere; base64 has no "." or " ").
send_batch() {
  local file=$PL_DIR/batch.txt answers
  printf '%s' "$BATCH" >"$file"
  BATCH=""
  answers=$(pl_exec client bash -c 'exec 3<>"/dev/tcp/$0/8081" && cat "$1" >&3 && cat <&3' \
    "$WEB" "$file" | grep -a -o 'HTTP/1\.1 [1-5][0-9][0-9] ' | wc -l)
  [ "$answers" = "$1" ] || fail "pipelined batch: $answers answers for $1 requests"
  PIPELINED=$((PIPELINED + $1 - 1))
}

drive_pipelined() {
  local i n
  for i in $(seq 10); do
    add GET "/pipe/ok/$i"
    add HEAD /pipe/big  # a Content-Length of 350 KB and no body: the next answer follows at once
    add POST /pipe/post "Content-Length: 11"
    BATCH+="hello=world"
    add GET /pipe/missing "Connection: close"
    send_batch 4
    add GET /pipe/big
    add GET /pipe/gz "Accept-Encoding: gzip"
    add GET /pipe/fail
    add GET "/pipe/ok/$i" "Connection: close"
    send_batch 4
  done
  for i in 1 2 3; do  # deeper than podlens' FIFO of 4 requests
    for n in 1 2 3 4; do add GET "/deep/$n"; done
    for n in 5 6 7; do add GET "/overflow/$n"; done
    add GET /overflow/8 "Connection: close"
    send_batch 8
  done
  # every request of a batch but its first was read with the one before it
  local pipelined
  pipelined=$(awk '$3 == "p"' "$PL_DIR/pods/web/proof.log" | wc -l)
  [ "$pipelined" = "$PIPELINED" ] || fail "nginx saw $pipelined pipelined requests, want $PIPELINED"
}

# --- chunked responses ----------------------------------------------------------------------

drive_chunked() {
  local headers i
  headers=$(pl_exec client curl -s --compressed -D - -o /dev/null "http://$WEB:8081/gz/large.txt")
  if ! grep -qi '^transfer-encoding: chunked' <<<"$headers" \
    || grep -qi '^content-length' <<<"$headers"; then
    fail "nginx's gzip answer is not chunked: $headers"
  fi
  # 24 requests a connection, chunked and Content-Length answers alternating: a framing
  # mistake would corrupt the next transaction on the connection
  for i in $(seq 5); do
    pl_exec client curl -s --compressed \
      "http://$WEB:8081/{gz,plain}/{large.txt,api,missing}?n=$i-[1-4]" >/dev/null
    pl_exec client curl -s --compressed -d "order=$i" "http://$WEB:8081/{gz,plain}/api?n=[1-3]" \
      >/dev/null
  done
  local wrong
  wrong=$(awk '$6 ~ "^/(gz|pipe/gz)" && $4 != "chunked" || $6 ~ "^/plain/" && $4 == "chunked"' \
    "$PL_DIR/pods/web/proof.log")
  [ -z "$wrong" ] || fail "answers not framed as intended (chunked under /gz/ only): $wrong"
}

# --- HTTP/1.0 answers without a length ------------------------------------------------------

drive_until_fin() {
  local headers size i
  headers=$(pl_exec client curl -s -D - -o /dev/null -w 'size=%{size_download}' \
    "http://$LEGACY:8080/big")
  size=${headers##*size=}
  if ! grep -q '^HTTP/1.0 200' <<<"$headers" || grep -qi '^content-length\|^transfer-encoding' \
    <<<"$headers" || [ "$size" != 102400 ]; then
    fail "the HTTP/1.0 server's answer is not length-less 100 KB: $headers"
  fi
  for i in $(seq 4); do
    pl_exec client curl -s --http1.0 "http://$LEGACY:8080/{small,empty,big,missing,busy}?n=$i" \
      >/dev/null
    pl_exec client curl -s "http://$LEGACY:8080/{small,empty,big,huge,missing,busy}?n=$i" \
      >/dev/null
    pl_exec client curl -s "http://$LEGACY:8080/items/[1-3]" >/dev/null
    pl_exec client curl -s -I "http://$LEGACY:8080/big?n=$i" >/dev/null
    pl_exec client curl -s -d "name=$i" "http://$LEGACY:8080/submit" >/dev/null
  done
}

# --- Expect: 100-continue -------------------------------------------------------------------

# upload WHAT WANT_STATUS CURL_ARGS...: one upload with Expect: 100-continue, then (when it is
# accepted) a chunked GET on the same connection; checks what curl saw.
upload() {
  local what=$1 status=$2 log=$PL_DIR/upload.log
  shift 2
  pl_exec client curl -sv -o /dev/null -H "Expect: 100-continue" "$@" \
    --next -sv -o /dev/null --compressed "http://$WEB:8081/upload/next" 2>"$log" || true
  local continues
  continues=$(grep -c '^< HTTP/1.1 100 Continue' "$log" || true)
  grep -q "^< HTTP/1.1 $status" "$log" || fail "$what: no $status answer"
  if [ "$status" = 201 ]; then
    [ "$continues" = 1 ] || fail "$what: $continues '100 Continue' answers, want 1"
    grep -q 'Re-using existing connection' "$log" \
      || fail "$what: the next request did not reuse the connection"
  else
    [ "$continues" = 0 ] || fail "$what: refused, yet $continues '100 Continue' answers"
  fi
}

drive_continue() {
  local i
  head -c 524288 /dev/urandom >"$PL_DIR/upload.bin"
  head -c 3145728 /dev/urandom >"$PL_DIR/too-big.bin"
  for i in $(seq 6); do
    upload "POST 512 KB" 201 --data-binary @"$PL_DIR/upload.bin" "http://$WEB:8081/upload?n=$i"
    upload "PUT 512 KB" 201 -T "$PL_DIR/upload.bin" "http://$WEB:8081/upload?n=$i"
  done
  for i in 1 2; do  # over client_max_body_size: 413 at once, the body is never sent
    upload "POST 3 MB" 413 --data-binary @"$PL_DIR/too-big.bin" "http://$WEB:8081/upload?n=$i"
  done
}

drive_all() {
  drive_pipelined
  drive_chunked
  drive_until_fin
  drive_continue
}

# small_segments: a 576-byte MTU (MSS 536 both ways) and no segmentation offload in every pod,
# so each skb on the veths is one small segment
small_segments() {
  local pod
  for pod in web legacy client; do
    pl_exec "$pod" ip link set eth0 mtu 576
    pl_exec "$pod" ethtool -K eth0 tso off gso off gro off >/dev/null 2>&1 \
      || pl_die "ethtool cannot turn offloads off in pod $pod"
  done
  pl_log "pods at MTU 576, offloads off: the same traffic again"
}

# --- the comparison -------------------------------------------------------------------------

merged() {  # merged LIST...: "METHOD STATUS ROUTE COUNT" lists summed per key
  printf '%s\n' "$@" \
    | awk 'NF == 4 { n[$1 " " $2 " " $3] += $4 } END { for (k in n) print k, n[k] }' | sort
}

routes_of() {  # routes_of REGEX LIST: LIST's lines whose route matches REGEX
  awk -v re="$1" '$3 ~ re' <<<"$2"
}

sum_routes() {  # sum_routes REGEX LIST: the count of LIST's lines whose route matches REGEX
  awk -v re="$1" '$3 ~ re { n += $4 } END { print n + 0 }' <<<"$2"
}

all_counts() {
  pl_counts http_server_request_duration_seconds web
  pl_counts http_server_request_duration_seconds legacy
  pl_counts http_client_request_duration_seconds client
}

# check_losses OVERFLOW: every kernel loss reason is 0 but pipeline_overflow, which is OVERFLOW
check_losses() {
  local losses unexpected overflow
  losses=$(pl_metrics | grep '^podlens_kernel_losses_total{')
  overflow=$(awk '/reason="pipeline_overflow"/ { print $NF }' <<<"$losses")
  unexpected=$(grep -v 'reason="pipeline_overflow"' <<<"$losses" | awk '$NF != 0' || true)
  [ -z "$unexpected" ] || fail "kernel losses: $unexpected"
  [ "$overflow" = "$1" ] || fail "pipeline_overflow is $overflow, want $1"
  [ -n "$unexpected" ] || [ "$overflow" != "$1" ] \
    || pl_log "ok: kernel losses 0 for every reason but pipeline_overflow = $overflow as expected"
  # and no event read from the kernel was dropped or folded in user space
  local drops
  drops=$(pl_metrics \
    | grep -E '^podlens_(user_drops_total|events_unknown_pod_total|metric_overflow_events_total)' \
    | awk '$NF != 0' || true)
  [ -z "$drops" ] || fail "events dropped in the controller: $drops"
}

# report_row CASE ROUTE_REGEX TRUTH INBOUND EXPECTED OUTBOUND: one line of the final table, the
# lists cut to the case's routes: requests in the server's log, podlens' counts, equal per key
report_row() {
  local re=$2 equal=yes
  [ "$(routes_of "$re" "$5")" = "$(routes_of "$re" "$4")" ] \
    && [ "$(routes_of "$re" "$5")" = "$(routes_of "$re" "$6")" ] || equal=no
  printf '    %-38s %6s %10s %11s  %s\n' "$1" "$(sum_routes "$re" "$3")" \
    "$(sum_routes "$re" "$4")" "$(sum_routes "$re" "$6")" "$equal" >&2
}

compare() {
  local web_truth legacy_truth web_expected web_in legacy_in out expected_out overflow
  pl_wait_stable all_counts >/dev/null
  web_truth=$(pl_truth web client "$ROUTES")
  legacy_truth=$(pl_truth legacy client "$ROUTES")
  # the requests past the FIFO are not counted, by design: they are pipeline_overflow losses
  web_expected=$(grep -v ' /overflow/{n} ' <<<"$web_truth")
  overflow=$(sum_routes '^/overflow/' "$web_truth")
  web_in=$(pl_counts http_server_request_duration_seconds web)
  legacy_in=$(pl_counts http_server_request_duration_seconds legacy)
  out=$(pl_counts http_client_request_duration_seconds client)
  expected_out=$(merged "$web_expected" "$legacy_truth")
  pl_check_equal "inbound counts of pod web equal nginx's access log (but the overflow)" \
    "$web_expected" "$web_in" || FAILED=1
  pl_check_equal "inbound counts of pod legacy equal the HTTP/1.0 server's log" \
    "$legacy_truth" "$legacy_in" || FAILED=1
  pl_check_equal "outbound counts of pod client equal both servers' logs (but the overflow)" \
    "$expected_out" "$out" || FAILED=1
  check_losses $((2 * overflow))  # seen twice: on web's veth and on client's
  printf '    %-38s %6s %10s %11s  %s\n' case "log" "podlens in" "podlens out" "equal" >&2
  report_row "pipelined, 4 in one write" '^/pipe/' "$web_truth" "$web_in" "$web_truth" "$out"
  report_row "pipelined, 8 in one write: first 4" '^/deep/' "$web_truth" "$web_in" "$web_truth" \
    "$out"
  report_row "pipelined, 8 in one write: last 4" '^/overflow/' "$web_truth" "$web_in" "" "$out"
  report_row "chunked (gzip) and Content-Length" '^/(gz|plain)/' "$web_truth" "$web_in" \
    "$web_truth" "$out"
  report_row "Expect: 100-continue, then next" '^/upload' "$web_truth" "$web_in" "$web_truth" \
    "$out"
  report_row "HTTP/1.0, body until FIN" "$LEGACY_ROUTES" "$legacy_truth" "$legacy_in" \
    "$legacy_truth" "$out"
  pl_log "nginx: $(awk '$3 == "p"' "$PL_DIR/pods/web/proof.log" | wc -l) requests pipelined," \
    "$(awk '$4 == "chunked"' "$PL_DIR/pods/web/proof.log" | wc -l) answers chunked;" \
    "TCP in the pods: $(network_stats)"
}

# network_stats: what the pods' TCP stacks saw, summed: segments retransmitted, segments that
# arrived out of order. Reordering on the veths (a flow's packets handled on two CPUs) is what
# the data plane finds hardest; printed so a failing run says how much there was.
network_stats() {
  local pod
  for pod in web legacy client; do
    pl_exec "$pod" nstat -asz TcpRetransSegs TcpExtTCPOFOQueue
  done | awk '$1 == "TcpRetransSegs" { r += $2 } $1 == "TcpExtTCPOFOQueue" { o += $2 }
           END { printf "%d segments retransmitted, %d received out of order", r, o }'
}

main() {
  [ -z "${PL_FIDELITY_CPU-0}" ] || taskset -p -c "${PL_FIDELITY_CPU-0}" $$ >/dev/null
  pl_node_up
  write_policies
  pl_pod_add web shop app=web
  pl_pod_add legacy shop app=legacy
  pl_pod_add client shop role=observed-client
  pl_nginx web "$(fidelity_server)"
  start_http10_server
  WEB=$(pl_pod_ip web)
  LEGACY=$(pl_pod_ip legacy)
  local i
  for i in $(seq 50); do  # the controller picks up pods and policies within its resync interval
    [ "$(pl_selector_ports)" = "8080 8080 8081 8081 " ] && break
    sleep 0.2
  done
  [ "$(pl_selector_ports)" = "8080 8080 8081 8081 " ] \
    || pl_die "selectors not in place: $(pl_selector_ports)"
  drive_all
  small_segments
  drive_all
  compare
  pl_node_down_and_check || FAILED=1
  return $FAILED
}

main "$@"
