#!/usr/bin/env bash
# podlens in Kubernetes mode against a real control plane (etcd + kube-apiserver, no kubelet):
#   1. the CRD and manifests apply; the samples validate on the server; invalid policies are
#      rejected by the server naming the field;
#   2. the controller's ServiceAccount can do its job and no more (kubectl auth can-i);
#   3. Pod objects + netns pods through the real CNI chain, the controller run as the
#      ServiceAccount: a policy selects the pod, /metrics counts equal nginx's access log, the
#      policy's status shows the pod, the node and Accepted;
#   4. edit the policy (port), relabel the pod: selectors follow within seconds;
#   5. restart the API server mid-run: the same controller catches up on what changed;
#   6. delete the Pod object: selectors go, series go after the grace period; delete the policy.
# Root (netns, veth, BPF). Env: PL_BUILD (the build tree), PL_METRICS_PORT.
# ok never fails, so "A && ok || fail" is if-then-else here.
# shellcheck disable=SC2015
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../local/lib.sh"
export CP_DIR=${CP_DIR:-$PL_DIR/control-plane}
source "$HERE/lib.sh"
export PL_GRACE=2
FAILED=0
cleanup() {
  cp_down || true  # first: pl_node_down stops at its first failing step under set -e
  pl_node_down || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() { pl_log "FAIL: $*"; FAILED=1; }
ok() { pl_log "ok: $*"; }
k() { cp_kubectl "$@"; }

# until SECONDS CMD...: polls CMD every 0.2 s until it succeeds; false after SECONDS.
until_ok() {
  local limit=$(($1 * 5))
  shift
  for _ in $(seq "$limit"); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  return 1
}

selectors_are() { [ "$(pl_selector_ports)" = "$1" ]; }

policy() {  # policy PORT
  pl_web_policy "$1" | k apply -f - >/dev/null
}

test_apply_and_validate() {
  k apply -f "$PL_ROOT/crds/telemetrypolicies.yaml" >/dev/null
  k wait --for condition=established --timeout 30s crd/telemetrypolicies.podlens.io >/dev/null
  k apply -f "$PL_ROOT/manifests/" >/dev/null && ok "CRD and manifests/ applied" \
    || fail "manifests/ did not apply"
  k create namespace shop >/dev/null
  local sample
  for sample in "$PL_ROOT"/crds/samples/*.yaml; do
    grep -q '^kind: Pod' "$sample" && continue  # standalone pod-label documents
    k apply --dry-run=server -f "$sample" >/dev/null && ok "sample $(basename "$sample") valid" \
      || fail "sample $(basename "$sample") rejected by the server"
  done
  local out
  out=$(k apply -f - 2>&1 <<'YAML' || true
apiVersion: podlens.io/v1alpha1
kind: TelemetryPolicy
metadata: {namespace: shop, name: bad}
spec:
  ports: [{port: 70000}, {port: 80, direction: Sideways}]
  routes: ["/a/*/b"]
YAML
)
  if grep -q 'spec.ports\[0\].port: Invalid value: 70000' <<<"$out" &&
     grep -q 'spec.ports\[1\].direction: Unsupported value: "Sideways"' <<<"$out"; then
    ok "out-of-range port and unknown direction rejected naming the field"
  else
    fail "invalid ports not rejected as expected: $out"
  fi
  out=$(k apply -f - 2>&1 <<'YAML' || true
apiVersion: podlens.io/v1alpha1
kind: TelemetryPolicy
metadata: {namespace: shop, name: bad}
spec:
  podSelector: {matchExpressions: [{key: tier, operator: In}]}
  ports: [{port: 80}]
  routes: ["/a/*/b", "/x/{1d}"]
YAML
)
  if grep -q "may only be the whole last segment" <<<"$out" &&
     grep -q 'values must be non-empty when operator is In' <<<"$out" &&
     grep -q 'a parameter is a whole segment' <<<"$out"; then
    ok "bad route templates and selector rejected with clear messages"
  else
    fail "route/selector rules not enforced: $out"
  fi
}

test_rbac() {
  local sa=system:serviceaccount:podlens-system:podlens check verb
  local allowed=("list telemetrypolicies.podlens.io" "watch telemetrypolicies.podlens.io"
                 "get telemetrypolicies.podlens.io" "patch telemetrypolicies.podlens.io/status"
                 "list pods" "watch pods")
  local denied=("create telemetrypolicies.podlens.io" "update telemetrypolicies.podlens.io"
                "patch telemetrypolicies.podlens.io" "delete telemetrypolicies.podlens.io"
                "update telemetrypolicies.podlens.io/status" "create pods" "delete pods"
                "patch pods" "list secrets" "list nodes" "list configmaps" "create events")
  can() {  # can VERB RESOURCE[/SUBRESOURCE]
    local resource=${2%/*} sub=()
    [ "$2" = "$resource" ] || sub=("--subresource=${2#*/}")
    k auth can-i --as "$sa" "$1" "$resource" "${sub[@]}" -A 2>/dev/null || true
  }
  for check in "${allowed[@]}"; do
    verb=$(can "${check% *}" "${check#* }")
    [ "$verb" = yes ] || fail "the ServiceAccount cannot $check"
  done
  for check in "${denied[@]}"; do
    verb=$(can "${check% *}" "${check#* }")
    [ "$verb" = no ] || fail "the ServiceAccount can $check (more than it needs)"
  done
  [ "$FAILED" -eq 0 ] && ok "RBAC: ${#allowed[@]} rights it needs granted, ${#denied[@]} others denied"
}

status_field() { k get tp -n shop web -o "jsonpath=$1"; }
status_is() { [ "$(status_field "$1")" = "$2" ]; }

test_policy_selects_and_counts() {
  local web
  policy 8080
  until_ok 5 selectors_are "8080 " && ok "policy applied: selector on port 8080" \
    || fail "no selector for the policy: [$(pl_selector_ports)]"
  web=$(pl_pod_ip web)
  pl_exec client curl -s -o /dev/null "http://$web:8080/api/users/[1-30]"
  pl_exec client curl -s -o /dev/null "http://$web:8080/api/fail?[1-5]"
  pl_wait_stable pl_counts http_server_request_duration_seconds web >/dev/null
  local truth counted
  truth=$(pl_truth web client 's#^(GET [0-9]+) /api/users/[0-9]+$#\1 /api/users/{id}#')
  counted=$(pl_counts http_server_request_duration_seconds web)
  [ "$truth" = "$counted" ] && ok "/metrics equals nginx's access log (35 requests)" \
    || { fail "/metrics differs from nginx's log"; diff <(echo "$truth") <(echo "$counted") >&2 || true; }
  until_ok 10 status_is '{.status.matchedPods}' 1 && ok "status: matchedPods 1" \
    || fail "status.matchedPods is '$(status_field '{.status.matchedPods}')'"
  [ "$(status_field '{.status.nodes[0].node}/{.status.nodes[0].pods[0]}')" = "$CP_NODE/web" ] \
    && ok "status: node $CP_NODE lists pod web" || fail "status.nodes: $(status_field '{.status.nodes}')"
  status_is '{.status.conditions[?(@.type=="Accepted")].status}' True && ok "status: Accepted" \
    || fail "no Accepted condition: $(status_field '{.status.conditions}')"
  k get tp -n shop >&2
}

test_edits_follow() {
  policy 8081
  until_ok 5 selectors_are "8081 " && ok "policy edited: selector moved to 8081" \
    || fail "selector did not follow the edit: [$(pl_selector_ports)]"
  k label pod -n shop web app=other --overwrite >/dev/null
  until_ok 5 selectors_are "" && ok "pod relabelled out of the selector: no selector" \
    || fail "relabel: [$(pl_selector_ports)]"
  until_ok 10 status_is '{.status.matchedPods}' 0 && ok "status follows: matchedPods 0" \
    || fail "status after relabel: $(status_field '{.status}')"
  k label pod -n shop web app=web --overwrite >/dev/null
  until_ok 5 selectors_are "8081 " && ok "relabelled back: selector again" \
    || fail "relabel back: [$(pl_selector_ports)]"
}

test_apiserver_restart() {
  local pid
  pid=$(cat "$PL_DIR/controller.pid")
  cp_apiserver_stop
  pl_log "API server stopped"
  sleep 2
  cp_apiserver_start
  pl_log "API server started again"
  policy 8080
  until_ok 30 selectors_are "8080 " && ok "after the API server restart the controller caught up" \
    || fail "no catch-up after the restart: [$(pl_selector_ports)]"
  kill -0 "$pid" 2>/dev/null && [ "$(cat "$PL_DIR/controller.pid")" = "$pid" ] \
    && ok "same controller process throughout" || fail "the controller died"
  grep -q "listing again\|watch failed\|cannot list" "$PL_DIR/controller.log" \
    && ok "the controller saw the outage and recovered (log)" || true
}

test_deletions() {
  cp_pod_delete web shop
  until_ok 5 selectors_are "" && ok "Pod deleted from the API: its selector is gone" \
    || fail "selector outlived the Pod object: [$(pl_selector_ports)]"
  sleep $((PL_GRACE + 1))
  if pl_metrics | grep -q 'k8s_pod_name="web"'; then
    fail "series of the deleted pod still exported after the grace period"
  else
    ok "series of the deleted pod removed after the grace period"
  fi
  k delete tp -n shop web >/dev/null
  until_ok 5 bash -c "! curl -sf http://127.0.0.1:$PL_METRICS_PORT/metrics | grep -q '^podlens_policies 1'" \
    && ok "policy deleted" || fail "policy still in effect"
}

pl_log "control plane in $CP_DIR"
cp_up
test_apply_and_validate
test_rbac
CP_CONTROLLER_KUBECONFIG=$CP_DIR/controller.kubeconfig
cp_sa_kubeconfig podlens-system podlens "$CP_CONTROLLER_KUBECONFIG"
cp_node_up
cp_pod_add web shop app=web
cp_pod_add client shop app=client
pl_nginx web
test_policy_selects_and_counts
test_edits_follow
test_apiserver_restart
test_deletions
if [ "$FAILED" -ne 0 ]; then
  tail -30 "$PL_DIR/controller.log" >&2
  echo "0 passed, 1 failed"
  exit 1
fi
echo "1 passed, 0 failed"
