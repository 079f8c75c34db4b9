#!/usr/bin/env bash
# podlens on a kind cluster: the control-plane e2e's scenarios on real nodes, real kubelets and
# kindnet. For machines with Docker and kind (not ours: no Docker engine here); see
# docs/kubernetes.md for the CI recipe.
#
#   e2e/kind/run.sh            # build the image, create the cluster, install, test, delete it
#   KEEP_CLUSTER=1 e2e/kind/run.sh    # leave the cluster for a look afterwards
#
# Steps: docker build (manifests/Dockerfile) → kind create cluster (one control plane + one
# worker, default CNI kindnet kept) → kind load the image → kubectl apply the CRD and
# manifests/ → podlens-cni-install chains podlens-cni into kindnet's conflist → nginx and a
# client pod → the same assertions as e2e/control-plane/controller_test.sh:
#   samples validate, invalid policies rejected naming the field; RBAC can-i; a policy selects
#   the web pod and /metrics counts equal nginx's access log; status (Accepted, matchedPods,
#   node); edit/relabel follow; the chain survives kindnet rewriting its conflist; deleting the
#   pod removes its series after the grace period.
# ok never fails, so "A && ok || fail" is if-then-else here.
# shellcheck disable=SC2015
set -euo pipefail
cd "$(dirname "$0")/../.."

CLUSTER=${CLUSTER:-podlens-e2e}
IMAGE=${IMAGE:-podlens:dev}
KIND=${KIND:-kind}
KUBECTL=${KUBECTL:-kubectl}
NS=shop
FAILED=0

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
fail() { log "FAIL: $*"; FAILED=1; }
ok() { log "ok: $*"; }
k() { "$KUBECTL" --context "kind-$CLUSTER" "$@"; }
until_ok() {  # until_ok SECONDS CMD...
  local limit=$(($1 * 2))
  shift
  for _ in $(seq "$limit"); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  return 1
}

for tool in docker "$KIND" "$KUBECTL"; do
  command -v "$tool" >/dev/null || { log "needs $tool on PATH"; exit 2; }
done

cleanup() {
  if [ "${KEEP_CLUSTER:-0}" = 1 ]; then
    log "cluster kept: kubectl --context kind-$CLUSTER ..."
  else
    "$KIND" delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT

log "building $IMAGE"
DOCKER_BUILDKIT=1 docker build -f manifests/Dockerfile -t "$IMAGE" .

log "creating kind cluster $CLUSTER (kindnet kept as the primary CNI)"
"$KIND" create cluster --name "$CLUSTER" --wait 120s --config - <<'YAML'
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
nodes:
  - role: control-plane
  - role: worker
YAML
"$KIND" load docker-image "$IMAGE" --name "$CLUSTER"
WORKER="$CLUSTER-worker"

log "installing podlens"
k apply -f crds/telemetrypolicies.yaml
k wait --for condition=established --timeout 60s crd/telemetrypolicies.podlens.io
k apply -f manifests/
k -n podlens-system set image ds/podlens controller="$IMAGE" cni-install="$IMAGE"
k -n podlens-system rollout status ds/podlens --timeout 180s

node_conflist() {  # the default conflist on a node
  docker exec "$1" sh -c 'cat "$(ls /etc/cni/net.d/*.conf* | sort | head -1)"'
}
chained() { node_conflist "$WORKER" | grep -q '"type": *"podlens-cni"'; }

test_install() {
  until_ok 60 chained && ok "podlens-cni chained into kindnet's conflist on $WORKER" \
    || fail "no podlens-cni entry on $WORKER: $(node_conflist "$WORKER")"
  docker exec "$WORKER" test -x /opt/cni/bin/podlens-cni && ok "podlens-cni in /opt/cni/bin" \
    || fail "podlens-cni not installed in /opt/cni/bin"
  # kindnet rewrites its conflist when it starts again: the installer repairs it.
  k -n kube-system delete pod -l app=kindnet --field-selector "spec.nodeName=$WORKER" --wait
  sleep 5
  until_ok 60 chained && ok "chain repaired after kindnet restarted" \
    || fail "the chain was not repaired after kindnet restarted"
}

test_validation() {
  local sample out
  for sample in crds/samples/*.yaml; do
    grep -q '^kind: Pod' "$sample" && continue
    k apply --dry-run=server -f "$sample" >/dev/null && ok "sample $(basename "$sample") valid" \
      || fail "sample $(basename "$sample") rejected"
  done
  out=$(k apply -f - 2>&1 <<'YAML' || true
apiVersion: podlens.io/v1alpha1
kind: TelemetryPolicy
metadata: {namespace: default, name: bad}
spec:
  ports: [{port: 70000}]
  routes: ["/a/*/b"]
YAML
)
  grep -q 'spec.ports\[0\].port: Invalid value: 70000' <<<"$out" && ok "invalid policy rejected" \
    || fail "invalid policy not rejected: $out"
}

test_rbac() {
  local sa=system:serviceaccount:podlens-system:podlens
  [ "$(k auth can-i --as "$sa" watch telemetrypolicies.podlens.io -A)" = yes ] \
    && [ "$(k auth can-i --as "$sa" patch telemetrypolicies.podlens.io --subresource status -A)" = yes ] \
    && [ "$(k auth can-i --as "$sa" list pods -A)" = yes ] \
    && [ "$(k auth can-i --as "$sa" update telemetrypolicies.podlens.io -A || true)" = no ] \
    && [ "$(k auth can-i --as "$sa" list secrets -A || true)" = no ] \
    && ok "RBAC: what it needs and no more" || fail "RBAC rights differ from the design"
}

workloads() {
  k create namespace "$NS" --dry-run=client -o yaml | k apply -f -
  k apply -n "$NS" -f - <<YAML
apiVersion: v1
kind: Pod
metadata: {name: web, labels: {app: web}}
spec:
  nodeName: $WORKER
  containers:
    - name: nginx
      image: nginx:1.27
      ports: [{containerPort: 80}]
---
apiVersion: v1
kind: Pod
metadata: {name: client, labels: {app: client}}
spec:
  nodeName: $WORKER
  containers:
    - {name: curl, image: curlimages/curl:8.10.1, command: ["sleep", "3600"]}
YAML
  k -n "$NS" wait --for condition=Ready pod/web pod/client --timeout 180s
}

policy() {  # policy PORT
  k apply -f - >/dev/null <<YAML
apiVersion: podlens.io/v1alpha1
kind: TelemetryPolicy
metadata: {namespace: $NS, name: web}
spec:
  podSelector: {matchLabels: {app: web}}
  ports: [{port: $1}]
  routes: ["/api/users/{id}"]
YAML
}

controller_pod() {
  k -n podlens-system get pod -l app.kubernetes.io/name=podlens \
    --field-selector "spec.nodeName=$WORKER" -o name | head -1
}
metrics() { k -n podlens-system exec "$(controller_pod)" -c controller -- \
  sh -c 'exec 3<>/dev/tcp/127.0.0.1/9464; printf "GET /metrics HTTP/1.0\r\n\r\n" >&3; cat <&3'; }
web_count() {  # requests counted for pod web (all series)
  metrics | awk '/^http_server_request_duration_seconds_count\{/ && /k8s_pod_name="web"/ \
    { s += $NF } END { print s + 0 }'
}
status_field() { k get tp -n "$NS" web -o "jsonpath=$1"; }
status_is() { [ "$(status_field "$1")" = "$2" ]; }

test_traffic_and_status() {
  local ip truth counted
  policy 80
  until_ok 30 status_is '{.status.matchedPods}' 1 && ok "status: matchedPods 1" \
    || fail "status: $(status_field '{.status}')"
  status_is '{.status.conditions[?(@.type=="Accepted")].status}' True && ok "status: Accepted" \
    || fail "not Accepted"
  status_is '{.status.nodes[0].node}' "$WORKER" && ok "status names $WORKER" || fail "status node"
  ip=$(k -n "$NS" get pod web -o 'jsonpath={.status.podIP}')
  k -n "$NS" exec client -- sh -c "for i in \$(seq 40); do curl -s -o /dev/null http://$ip/api/users/\$i; done"
  sleep 2
  truth=$(k -n "$NS" logs web | grep -c '"GET /api/users/')
  counted=$(web_count)
  [ "$truth" = "$counted" ] && ok "/metrics equals nginx's access log ($truth requests)" \
    || fail "/metrics counted $counted, nginx logged $truth"
}

test_edits() {
  policy 8080
  until_ok 30 bash -c "[ \"\$($KUBECTL --context kind-$CLUSTER get tp -n $NS web -o jsonpath={.status.ports})\" = 8080 ]" \
    && ok "policy edit reflected in status" || fail "edit not reflected"
  k -n "$NS" label pod web app=other --overwrite >/dev/null
  until_ok 30 status_is '{.status.matchedPods}' 0 && ok "relabelled out: matchedPods 0" \
    || fail "relabel not followed"
  k -n "$NS" label pod web app=web --overwrite >/dev/null
}

test_delete() {
  policy 80
  k -n "$NS" delete pod web --wait
  sleep 40  # the default grace period (30 s) and a scrape
  if metrics | grep -q 'k8s_pod_name="web"'; then
    fail "series of the deleted pod still exported"
  else
    ok "deleted pod: series removed after the grace period"
  fi
  k delete tp -n "$NS" web
}

test_install
test_validation
test_rbac
workloads
test_traffic_and_status
test_edits
test_delete
if [ "$FAILED" -ne 0 ]; then
  k -n podlens-system logs "$(controller_pod)" -c controller --tail 50 >&2 || true
  echo "0 passed, 1 failed"
  exit 1
fi
echo "1 passed, 0 failed"
