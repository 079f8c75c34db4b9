# shellcheck shell=bash
# e2e/control-plane/lib.sh: a real Kubernetes control plane on this machine (etcd +
# kube-apiserver built by scripts/build-control-plane.sh), in the manner of controller-runtime's
# envtest: no kubelet, no scheduler, no controller-manager. Tests create Pod objects (bound to a
# node name with spec.nodeName) together with netns pods (e2e/local/lib.sh).
#
#   source e2e/control-plane/lib.sh
#   cp_up            # certs, etcd, kube-apiserver; writes $CP_DIR/admin.kubeconfig
#   cp_kubectl get ns
#   cp_sa_kubeconfig NAMESPACE SERVICEACCOUNT FILE   # a token kubeconfig (TokenRequest)
#   cp_apiserver_stop; cp_apiserver_start             # restart mid-run, same data
#   cp_down          # stops what cp_up started (by pid), keeps $CP_DIR for the logs
#
# Everything is under CP_DIR (default build/control-plane/run): certs/, etcd/, logs, pids.
# Ports are free ones picked at cp_up and kept in $CP_DIR/ports, so restarts reuse them.

CP_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CP_DIR=${CP_DIR:-$CP_ROOT/build/control-plane/run}
CP_KUBECONFIG=$CP_DIR/admin.kubeconfig

cp_log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
cp_die() { cp_log "error: $*"; exit 1; }

cp_bin_dir() {
  [ -n "${CP_BIN:-}" ] || CP_BIN=$("$CP_ROOT/scripts/build-control-plane.sh")
  echo "$CP_BIN"
}

cp_kubectl() { "$(cp_bin_dir)/kubectl" --kubeconfig "$CP_KUBECONFIG" "$@"; }

# cp_free_port: a TCP port nothing listens on (from the range above the ephemeral one).
cp_free_port() {
  local port
  while true; do
    port=$((20000 + RANDOM % 12000))
    if ! ss -Hltn "sport = :$port" | grep -q .; then
      grep -qx "$port" "$CP_DIR/ports.used" 2>/dev/null || break
    fi
  done
  echo "$port" >>"$CP_DIR/ports.used"
  echo "$port"
}

cp_certs() {
  local d=$CP_DIR/certs
  [ -f "$d/.complete" ] && return 0
  mkdir -p "$d"
  (
    cd "$d"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 30 \
      -subj "/CN=podlens-e2e-ca" 2>/dev/null
    cat >server.ext <<EOF
subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc
extendedKeyUsage=serverAuth
EOF
    openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr \
      -subj "/CN=kube-apiserver" 2>/dev/null
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 \
      -extfile server.ext -out server.crt 2>/dev/null
    echo "extendedKeyUsage=clientAuth" >client.ext
    openssl req -newkey rsa:2048 -nodes -keyout admin.key -out admin.csr \
      -subj "/O=system:masters/CN=podlens-e2e-admin" 2>/dev/null
    openssl x509 -req -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 \
      -extfile client.ext -out admin.crt 2>/dev/null
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
  ) || cp_die "openssl failed to make the certificates in $d"
  touch "$d/.complete"
}

cp_ports() {
  if [ ! -f "$CP_DIR/ports" ]; then
    {
      echo "CP_ETCD_PORT=$(cp_free_port)"
      echo "CP_ETCD_PEER_PORT=$(cp_free_port)"
      echo "CP_API_PORT=$(cp_free_port)"
    } >"$CP_DIR/ports"
  fi
  # shellcheck disable=SC1091
  source "$CP_DIR/ports"
  CP_SERVER=https://127.0.0.1:$CP_API_PORT
}

# cp_kubeconfig FILE USER CONTEXT_NAMESPACE USER_FIELDS...: a kubeconfig for this cluster.
cp_kubeconfig() {
  local file=$1 user=$2 namespace=$3 field
  shift 3
  {
    echo "apiVersion: v1"
    echo "kind: Config"
    echo "clusters: [{name: podlens-e2e, cluster: {server: \"$CP_SERVER\","
    echo "  certificate-authority: \"$CP_DIR/certs/ca.crt\"}}]"
    echo "users:"
    echo "- name: $user"
    echo "  user:"
    for field in "$@"; do echo "    $field"; done
    echo "contexts: [{name: $user, context: {cluster: podlens-e2e, user: $user${namespace:+, namespace: $namespace}}}]"
    echo "current-context: $user"
  } >"$file"
}

cp_write_admin_kubeconfig() {
  cp_kubeconfig "$CP_KUBECONFIG" admin "" "client-certificate: $CP_DIR/certs/admin.crt" \
    "client-key: $CP_DIR/certs/admin.key"
}

cp_etcd_start() {
  mkdir -p "$CP_DIR/etcd"
  "$(cp_bin_dir)/etcd" --name podlens-e2e --data-dir "$CP_DIR/etcd" \
    --listen-client-urls "http://127.0.0.1:$CP_ETCD_PORT" \
    --advertise-client-urls "http://127.0.0.1:$CP_ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$CP_ETCD_PEER_PORT" \
    --initial-advertise-peer-urls "http://127.0.0.1:$CP_ETCD_PEER_PORT" \
    --initial-cluster "podlens-e2e=http://127.0.0.1:$CP_ETCD_PEER_PORT" \
    --unsafe-no-fsync --quota-backend-bytes 1073741824 \
    >>"$CP_DIR/etcd.log" 2>&1 &
  echo $! >"$CP_DIR/etcd.pid"
  disown
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$CP_ETCD_PORT/health" 2>/dev/null | grep -q '"true"' && return 0
    kill -0 "$(cat "$CP_DIR/etcd.pid")" 2>/dev/null || break
    sleep 0.1
  done
  tail -20 "$CP_DIR/etcd.log" >&2
  cp_die "etcd did not become healthy"
}

# The flags envtest gives kube-apiserver, plus RBAC (the tests check the ServiceAccount's rights),
# privileged containers (the DaemonSet asks for them) and no ServiceAccount admission (there is
# no controller-manager here to create each namespace's default ServiceAccount).
cp_apiserver_start() {
  local d=$CP_DIR/certs
  cp_ports
  "$(cp_bin_dir)/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$CP_ETCD_PORT" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$CP_API_PORT" \
    --cert-dir "$CP_DIR/apiserver-certs" \
    --tls-cert-file "$d/server.crt" --tls-private-key-file "$d/server.key" \
    --client-ca-file "$d/ca.crt" \
    --service-account-issuer https://kubernetes.default.svc \
    --service-account-key-file "$d/sa.pub" --service-account-signing-key-file "$d/sa.key" \
    --service-cluster-ip-range 10.0.0.0/24 \
    --authorization-mode RBAC --allow-privileged=true \
    --disable-admission-plugins ServiceAccount \
    --endpoint-reconciler-type none \
    >>"$CP_DIR/apiserver.log" 2>&1 &
  echo $! >"$CP_DIR/apiserver.pid"
  disown
  cp_wait_ready 600 || {
    tail -30 "$CP_DIR/apiserver.log" >&2
    cp_die "kube-apiserver did not become ready"
  }
}

# cp_wait_ready TENTHS: waits for /readyz as the admin.
cp_wait_ready() {
  local d=$CP_DIR/certs
  cp_ports
  for _ in $(seq "$1"); do
    curl -sf --cacert "$d/ca.crt" --cert "$d/admin.crt" --key "$d/admin.key" \
      "$CP_SERVER/readyz" >/dev/null 2>&1 && return 0
    kill -0 "$(cat "$CP_DIR/apiserver.pid")" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

cp_stop_pidfile() {  # cp_stop_pidfile FILE: TERM, then KILL after 5 s, the process we started
  local pid
  [ -f "$1" ] || return 0
  pid=$(cat "$1")
  if kill "$pid" 2>/dev/null; then
    for _ in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$1"
}

cp_apiserver_stop() { cp_stop_pidfile "$CP_DIR/apiserver.pid"; }

cp_up() {
  command -v openssl >/dev/null || cp_die "openssl is needed for the certificates"
  mkdir -p "$CP_DIR"
  CP_BIN=$("$CP_ROOT/scripts/build-control-plane.sh") || cp_die "building the control plane failed"
  cp_certs
  cp_ports
  cp_write_admin_kubeconfig
  cp_etcd_start
  cp_apiserver_start
  # The default namespace exists once the apiserver's bootstrap controller has run.
  for _ in $(seq 100); do
    cp_kubectl get namespace default >/dev/null 2>&1 && break
    sleep 0.1
  done
  cp_log "control plane up: $CP_SERVER (etcd 127.0.0.1:$CP_ETCD_PORT), logs in $CP_DIR"
}

cp_down() {
  cp_apiserver_stop
  cp_stop_pidfile "$CP_DIR/etcd.pid"
}

# cp_sa_kubeconfig NAMESPACE SERVICEACCOUNT FILE: a kubeconfig that authenticates with a
# bound token of that ServiceAccount (TokenRequest, one hour), to act exactly as it would.
cp_sa_kubeconfig() {
  local token
  token=$(cp_kubectl create token "$2" -n "$1" --duration 1h) \
    || cp_die "could not get a token for $1/$2"
  cp_kubeconfig "$3" "$2" "$1" "token: $token"
}

# ---- A node against this control plane: netns pods (e2e/local/lib.sh) that are also Pod
# objects bound to CP_NODE, and podlens-controller in Kubernetes mode as its ServiceAccount.
# Source e2e/local/lib.sh first.

CP_NODE=${CP_NODE:-node-$$}

# cp_pod_add POD NAMESPACE [LABEL=VALUE,...]: the Pod object (spec.nodeName = CP_NODE), then the
# netns pod through the CNI chain with its uid.
cp_pod_add() {
  local pod=$1 namespace=$2 labels=${3:-}
  {
    pl_pod_document "$pod" "$namespace" "$labels"
    echo "spec:"
    echo "  nodeName: $CP_NODE"
    echo "  containers: [{name: main, image: podlens-e2e/none}]"
  } | cp_kubectl apply -f - >/dev/null || cp_die "could not create Pod $namespace/$pod"
  mkdir -p "$PL_DIR/pods/$pod"
  cp_kubectl get pod -n "$namespace" "$pod" -o 'jsonpath={.metadata.uid}' >"$PL_DIR/pods/$pod/uid"
  pl_pod_add "$pod" "$namespace" "$labels"
}

# cp_pod_delete POD NAMESPACE: gone from the API at once (no kubelet here to finish a graceful
# deletion); the netns pod stays until the run ends, as it would until the runtime's CNI DEL.
cp_pod_delete() {
  cp_kubectl delete pod -n "$2" "$1" --grace-period=0 --force >/dev/null 2>&1
}

cp_controller_start() {
  pl_controller_start --kubeconfig "$CP_CONTROLLER_KUBECONFIG" --node-name "$CP_NODE"
}

# cp_node_up: the local node's CNI chain and pins, the controller in Kubernetes mode.
cp_node_up() {
  mkdir -p "$PL_DIR/policies" "$PL_DIR/state" "$PL_DIR/pods"
  : >"$PL_DIR/pids"
  pl_write_conflist
  cp_controller_start
  pl_log "node $CP_NODE up: pins $PL_BPFFS, metrics http://127.0.0.1:$PL_METRICS_PORT/metrics"
}
