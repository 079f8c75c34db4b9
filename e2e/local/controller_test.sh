#!/usr/bin/env bash
# The controller on the local node (standalone mode, real CNI chain, real nginx, curl, wrk):
#   1. counts in /metrics equal nginx's access log per method and status (curl and wrk);
#   2. kill -9 during traffic: nothing is detached, the restarted controller keeps counting
#      (events queued in the pinned ring buffer meanwhile are not lost);
#   3. a policy change moves the selectors within a second;
#   4. a malformed policy file is reported (file and field) and changes nothing else;
#   5. a deleted pod leaves no selector and, after the grace period, no series;
#   6. the move of a new pod from clsact (podlens-cni's fast ADD) to tcx, held back until
#      traffic flows and then let go, loses and doubles nothing.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
trap pl_node_down EXIT
trap 'exit 130' INT TERM
export PL_GRACE=2
FAILED=0

fail() { pl_log "FAIL: $*"; FAILED=1; }
ok() { pl_log "ok: $*"; }

policy() {  # policy PORT
  pl_web_policy "$1" >"$PL_DIR/policies/web.yaml"
}

run_links() {  # "pin=link-id" for every link this run pinned (other runs may share the host)
  local pin
  for pin in "$PL_BPFFS"/links/*; do
    [ -e "$pin" ] || continue
    echo "$(basename "$pin")=$(bpftool -j link show pinned "$pin" | grep -o '"id": *[0-9]*' | grep -o '[0-9]*$')"
  done | tr '\n' ' '
}

by_method_status() {  # "METHOD STATUS COUNT" lines from "METHOD STATUS ROUTE COUNT" lines
  awk '{ n[$1 " " $2] += $4 } END { for (k in n) print k, n[k] }' | sort
}

check_counts_match() {
  local truth counted
  pl_wait_stable pl_counts http_server_request_duration_seconds "$1" >/dev/null
  truth=$(pl_truth "$1" "" 's/x/x/' | by_method_status)
  counted=$(pl_counts http_server_request_duration_seconds "$1" | by_method_status)
  if [ "$truth" = "$counted" ]; then
    ok "$2: /metrics equals nginx's access log ($(echo "$truth" | awk '{ s += $3 } END { print s }') requests)"
  else
    fail "$2: /metrics differs from nginx's access log"
    diff <(echo "$truth") <(echo "$counted") >&2 || true
  fi
}

test_counts() {
  local web
  web=$(pl_pod_ip web)
  pl_exec client curl -s -o /dev/null "http://$web:8080/api/users/[1-100]"
  pl_exec client curl -s -o /dev/null -X POST -d x=1 "http://$web:8080/api/checkout?[1-10]"
  pl_exec client curl -s -o /dev/null "http://$web:8080/missing?[1-7]"
  pl_exec client wrk -t1 -c4 -d2s "http://$web:8080/api/users/5" >/dev/null
  check_counts_match web "curl + wrk"
}

test_kill9_restart() {
  local web links_before links_after base logged_at_kill total counted
  web=$(pl_pod_ip web)
  base=$(wc -l <"$PL_DIR/pods/web/access.log")
  links_before=$(run_links)
  pl_exec client curl -s -o /dev/null --rate 200/s "http://$web:8080/api/users/[1-800]" &
  local traffic=$!
  sleep 1.5
  kill -9 "$(cat "$PL_DIR/controller.pid")"
  logged_at_kill=$(wc -l <"$PL_DIR/pods/web/access.log")
  sleep 1
  links_after=$(run_links)
  [ -n "$links_before" ] && [ "$links_before" = "$links_after" ] \
    && ok "kill -9: every pinned link of this node still attached ($(wc -w <<<"$links_after"))" \
    || fail "kill -9 changed the attached links: [$links_before] -> [$links_after]"
  pl_controller_start
  wait "$traffic"
  pl_wait_stable pl_counts http_server_request_duration_seconds web >/dev/null
  total=$(wc -l <"$PL_DIR/pods/web/access.log")
  counted=$(pl_counts http_server_request_duration_seconds web | awk '{ s += $4 } END { print s + 0 }')
  # The new instance counts everything served after the kill (queued in the pinned ring
  # buffer meanwhile) and at most what was served since the traffic began.
  if [ "$counted" -ge $((total - logged_at_kill)) ] && [ "$counted" -le $((total - base)) ]; then
    ok "restart: counted $counted >= $((total - logged_at_kill)) requests served after kill -9"
  else
    fail "restart: counted $counted, want $((total - logged_at_kill))..$((total - base))"
  fi
}

test_policy_change_latency() {
  local start elapsed
  [ "$(pl_selector_ports)" = "8080 " ] || fail "selectors before the change: $(pl_selector_ports)"
  start=$(date +%s%N)
  policy 9090
  while [ "$(pl_selector_ports)" != "9090 " ]; do
    [ $(( ($(date +%s%N) - start) / 1000000 )) -lt 5000 ] || break
    sleep 0.02
  done
  elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
  [ "$(pl_selector_ports)" = "9090 " ] && [ "$elapsed" -lt 1000 ] \
    && ok "policy change applied to the kernel map in ${elapsed} ms" \
    || fail "policy change: selectors '$(pl_selector_ports)' after ${elapsed} ms"
  policy 8080
}

test_malformed_policy() {
  cat >"$PL_DIR/policies/broken.yaml" <<'YAML'
apiVersion: podlens.io/v1alpha1
kind: TelemetryPolicy
metadata: {namespace: shop, name: broken}
spec:
  ports: [{port: 70000}]
YAML
  sleep 1
  grep -q 'broken.yaml.*spec.ports\[0\].port' "$PL_DIR/controller.log" \
    && ok "malformed policy reported with file and field" \
    || fail "no error naming broken.yaml and spec.ports[0].port in the log"
  [ "$(pl_metric_value podlens_policy_errors)" = 1 ] || fail "podlens_policy_errors != 1"
  [ "$(pl_selector_ports)" = "8080 " ] || fail "selectors changed by a broken file: $(pl_selector_ports)"
  rm "$PL_DIR/policies/broken.yaml"
}

test_deleted_pod() {
  pl_pod_add web2 shop app=web
  pl_nginx web2
  sleep 1
  pl_exec client curl -s -o /dev/null "http://$(pl_pod_ip web2):8080/api/users/[1-5]"
  pl_wait_stable pl_counts http_server_request_duration_seconds web2 >/dev/null
  [ -n "$(pl_counts http_server_request_duration_seconds web2)" ] || fail "web2 has no series"
  local selectors_before
  selectors_before=$(pl_metric_value podlens_selectors)
  pl_pod_del web2
  sleep 1
  [ "$(pl_metric_value podlens_selectors)" = $((selectors_before - 1)) ] \
    && ok "deleted pod: its selector is gone" || fail "deleted pod: selector left behind"
  sleep $((PL_GRACE + 1))
  [ -z "$(pl_counts http_server_request_duration_seconds web2)" ] \
    && ok "deleted pod: no series after the grace period" \
    || fail "deleted pod: series left after the grace period"
}

record_of() {  # record_of POD: podlens-cni's record of the pod, as one line
  grep -l "\"netns\": *\"/var/run/netns/$PL_RUN-$1\"" "$PL_DIR"/state/pods/*.json | xargs cat | tr -d '\n'
}

test_move_under_traffic() {
  local holder traffic moved_before web
  moved_before=$(pl_metric_value 'podlens_attachment_moves_total{result="moved"}')
  # The pod is made while the controller is stopped and selected while a held node-wide lock
  # keeps the controller from moving it (a move never waits for a lock: it retries next pass).
  kill -STOP "$(cat "$PL_DIR/controller.pid")"
  pl_pod_add web3 shop app=web
  pl_nginx web3
  flock -x -o "$PL_DIR/state/podlens-cni.lock" sleep 600 &
  holder=$!
  echo "$holder" >>"$PL_DIR/pids"
  sleep 0.2
  kill -CONT "$(cat "$PL_DIR/controller.pid")"
  sleep 1
  grep -q '"attachMode": *"clsact".*"targetAttachMode": *"tcx"' <<<"$(record_of web3)" \
    || fail "web3 is not on clsact waiting for tcx: $(record_of web3)"
  web=$(pl_pod_ip web3)
  pl_exec client curl -s -o /dev/null --rate 100/s "http://$web:8080/api/users/[1-400]" &
  traffic=$!
  sleep 1.5
  pkill -P "$holder" sleep  # the lock goes: the next pass moves web3 under traffic
  wait "$traffic"
  grep -q '"attachMode": *"tcx"' <<<"$(record_of web3)" \
    && [ "$(pl_metric_value 'podlens_attachment_moves_total{result="moved"}')" -gt "$moved_before" ] \
    && grep -q "moved shop/web3 .* from clsact to tcx" "$PL_DIR/controller.log" \
    && ok "web3 moved from clsact to tcx while serving ($(grep -o 'moved shop/web3 .*' "$PL_DIR/controller.log"))" \
    || fail "web3 was not moved to tcx: $(record_of web3)"
  check_counts_match web3 "move to tcx under traffic"
}

main() {
  pl_node_up
  policy 8080
  pl_pod_add web shop app=web
  pl_pod_add client shop app=client
  pl_nginx web
  sleep 1
  test_counts
  test_kill9_restart
  test_policy_change_latency
  test_malformed_policy
  test_deleted_pod
  test_move_under_traffic
  pl_node_down_and_check || FAILED=1
  return $FAILED
}

main "$@"
