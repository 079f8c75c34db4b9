# e2e/local/lib.sh: a "node" on this machine, for the demo and the end-to-end tests.
#
# Pods are network namespaces wired by the real CNI chain (bridge + host-local from Debian's
# reference plugins, then podlens-cni) through the real runtime client cnitool; the controller
# runs in standalone mode; servers and clients are real nginx, curl, wrk and ab.
# Source this file, call pl_node_up, add pods, and always pl_node_down (the callers trap it).
#
# Everything a run creates is named after PL_RUN, so runs (and test binaries) never collide:
#   netns   $PL_RUN-<pod>          bridge  $PL_RUN-br (<= 15 chars)
#   pins    /sys/fs/bpf/$PL_RUN    state   $PL_DIR/state    policies  $PL_DIR/policies

PL_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PL_BUILD=${PL_BUILD:-$PL_ROOT/build}
PL_RUN=${PL_RUN:-pl$$}
PL_SUBNET=${PL_SUBNET:-10.$((40 + $$ % 150)).0}  # /24 prefix of pod addresses
PL_METRICS_PORT=${PL_METRICS_PORT:-19464}  # not 9464: a real controller may own it
PL_DIR=${PL_DIR:-$PL_BUILD/e2e-local/$PL_RUN}
PL_BPFFS=/sys/fs/bpf/$PL_RUN
PL_BRIDGE=${PL_RUN:0:12}-br
PL_PODS=()

pl_log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
pl_die() { pl_log "error: $*"; exit 1; }

pl_bin() {  # pl_bin NAME: path of a built binary
  local found
  found=$(find "$PL_BUILD" -path "$PL_BUILD/e2e-local" -prune -o -type f -name "$1" -perm -u+x \
    -print -quit 2>/dev/null)
  [ -n "$found" ] || pl_die "$1 not found under $PL_BUILD (build first: scripts/test.sh)"
  echo "$found"
}

pl_write_conflist() {
  mkdir -p "$PL_DIR/net.d" "$PL_DIR/cni-bin"
  ln -sf /usr/lib/cni/* "$PL_DIR/cni-bin/"
  ln -sf "$(pl_bin podlens-cni)" "$PL_DIR/cni-bin/podlens-cni"
  cat >"$PL_DIR/net.d/10-podlens-local.conflist" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "podlens-local",
  "plugins": [
    {
      "type": "bridge", "bridge": "$PL_BRIDGE", "isGateway": true, "ipMasq": false,
      "ipam": {"type": "host-local", "dataDir": "$PL_DIR/ipam",
               "ranges": [[{"subnet": "$PL_SUBNET.0/24"}]]}
    },
    $(pl_podlens_entry)
  ]
}
JSON
}

pl_podlens_entry() {  # the conflist's podlens-cni entry
  echo "{\"type\": \"podlens-cni\", \"bpffsRoot\": \"$PL_BPFFS\", \"stateDir\": \"$PL_DIR/state\"," \
    "\"logFile\": \"$PL_DIR/podlens-cni.log\"}"
}

# pl_cni add|del POD: runs the chain for one pod through cnitool, with CNI_ARGS as the
# kubelet passes them (K8S_POD_UID when the pod has an API uid in pods/POD/uid).
pl_cni() {
  local namespace uid
  namespace=$(cat "$PL_DIR/pods/$2/namespace")
  uid=$(cat "$PL_DIR/pods/$2/uid" 2>/dev/null || true)
  CNI_PATH="$PL_DIR/cni-bin" NETCONFPATH="$PL_DIR/net.d" \
    CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=$namespace;K8S_POD_NAME=$2${uid:+;K8S_POD_UID=$uid}" \
    "${PL_CNITOOL:-$(pl_bin cnitool)}" "$1" podlens-local "/var/run/netns/$PL_RUN-$2"
}

# pl_web_policy PORT: the TelemetryPolicy shop/web the controller e2e tests apply (pods
# labelled app=web observed as servers on PORT).
pl_web_policy() {
  cat <<YAML
apiVersion: podlens.io/v1alpha1
kind: TelemetryPolicy
metadata: {namespace: shop, name: web}
spec:
  podSelector: {matchLabels: {app: web}}
  ports: [{port: $1}]
  routes: ["/api/users/{id}"]
YAML
}

# pl_server_policy NAMESPACE NAME LABEL VALUE PORT: a TelemetryPolicy that observes the pods
# of NAMESPACE labelled LABEL=VALUE as HTTP servers on PORT (the benchmarks' policy).
pl_server_policy() {
  cat <<YAML
apiVersion: podlens.io/v1alpha1
kind: TelemetryPolicy
metadata: {namespace: $1, name: $2}
spec:
  podSelector: {matchLabels: {$3: $4}}
  ports: [{port: $5, protocol: HTTP, direction: Inbound}]
YAML
}

# pl_bpf_stats_on HOLDER: turns the kernel's BPF run-time statistics on until the node goes,
# through HOLDER (bench/bpf_stats_hold: BPF_ENABLE_STATS held by a file descriptor, so another
# process toggling kernel.bpf_stats_enabled cannot turn them off). Sets PL_STATS_HOLDER to the
# holder's pid (not a command substitution: the holder must be this shell's own coprocess).
PL_STATS_HOLDER=""
pl_bpf_stats_on() {
  local ready=""
  coproc STATS { exec "$1"; }
  PL_STATS_HOLDER=$STATS_PID
  echo "$PL_STATS_HOLDER" >>"$PL_DIR/pids"
  read -r -t 5 ready <&"${STATS[0]}" || true
  [ "$ready" = ready ] || pl_die "could not turn BPF statistics on"
}

# pl_bpf_run_totals [PROG...]: "NS RUNS", run_time_ns and run_cnt summed over the node's pinned
# entry programs named (default both: prog_ingress, what pods send, and prog_egress, what
# they receive; they count only while statistics are on). awk prints them with %.0f: mawk's
# %d stops at 2^31, and run_time_ns passes it in seconds.
pl_bpf_run_totals() {
  local prog
  [ $# -gt 0 ] || set -- prog_ingress prog_egress
  for prog in "$@"; do
    bpftool -j prog show pinned "$PL_BPFFS/dataplane/$prog"
    echo
  done | awk '{ if (match($0, /"run_time_ns":[0-9]+/)) ns += substr($0, RSTART + 14, RLENGTH - 14)
                if (match($0, /"run_cnt":[0-9]+/)) runs += substr($0, RSTART + 10, RLENGTH - 10) }
              END { printf "%.0f %.0f\n", ns, runs }'
}

# pl_tail_slot_id: the id of the program in slot 0 of the node's pl_tail, the podlens_parse
# the entry programs tail-call (bpftool prints the slot's 4 bytes, low first)
pl_tail_slot_id() {
  local bytes
  read -r -a bytes <<<"$(bpftool -j map lookup pinned "$PL_BPFFS/dataplane/pl_tail" \
    key 0 0 0 0 | grep -o '"value":\[[^]]*\]' | grep -o '0x[0-9a-f]*' | tr '\n' ' ')"
  [ "${#bytes[@]}" -eq 4 ] || pl_die "pl_tail slot 0 is empty"
  echo $((bytes[0] + (bytes[1] << 8) + (bytes[2] << 16) + (bytes[3] << 24)))
}

# pl_map_shape PINNED_MAP: "type key_size value_size max_entries" of a pinned map
pl_map_shape() {
  bpftool -j map show pinned "$1" \
    | grep -o '"\(type\|bytes_key\|bytes_value\|max_entries\)":[^,}]*' | cut -d: -f2 | tr '\n' ' '
}

# pl_shared_map_args OBJECT: bpftool's "map name X pinned PATH" words, one a line, for each
# map the BPF object OBJECT declares that the node pins with the same shape, for loading OBJECT
# beside the node on its maps (the benchmarks that compare builds). A map the node lacks (OBJECT
# added it) or lays out otherwise (OBJECT changed the connection state's layout, say) stays
# OBJECT's own, named on stderr: its parse then picks each connection up at its next request,
# as after a controller restart.
pl_shared_map_args() {
  local probe=$PL_BPFFS/map_probe map pin
  bpftool prog loadall "$1" "$probe" type tc pinmaps "$probe/maps" >/dev/null \
    || pl_die "could not load $1"
  for map in "$probe"/maps/pl_*; do
    pin=$PL_BPFFS/dataplane/${map##*/}
    if [ -e "$pin" ] && [ "$(pl_map_shape "$pin")" = "$(pl_map_shape "$map")" ]; then
      printf 'map\nname\n%s\npinned\n%s\n' "${map##*/}" "$pin"
    else
      pl_log "${1##*/} keeps its own ${map##*/} (not on the node, or laid out otherwise)"
    fi
  done
  rm -rf "$probe"
}

# pl_pod_document POD NAMESPACE [LABEL=VALUE,...]: a Pod's metadata as YAML (standalone label
# documents, and the start of the Pod objects of the control-plane e2e).
pl_pod_document() {
  local pair
  echo "apiVersion: v1"
  echo "kind: Pod"
  echo "metadata:"
  echo "  namespace: $2"
  echo "  name: $1"
  echo "  labels:"
  for pair in ${3//,/ }; do echo "    ${pair%%=*}: \"${pair#*=}\""; done
  [ -n "${3:-}" ] || echo "    {}"
}

# pl_pod_add POD NAMESPACE [LABEL=VALUE,...]: a netns pod through the CNI chain, with its
# labels given to the standalone controller as a Pod document in the policy directory.
pl_pod_add() {
  local pod=$1 namespace=$2 labels=${3:-} result
  mkdir -p "$PL_DIR/pods/$pod"
  echo "$namespace" >"$PL_DIR/pods/$pod/namespace"
  ip netns add "$PL_RUN-$pod"
  PL_PODS+=("$pod")
  ip netns exec "$PL_RUN-$pod" ip link set lo up
  result=$(pl_cni add "$pod") || pl_die "CNI ADD of $pod failed: $result"
  echo "$result" >"$PL_DIR/pods/$pod/result.json"
  sed -n 's/.*"address": *"\([0-9.]*\)\/.*/\1/p' <<<"$result" | head -1 >"$PL_DIR/pods/$pod/ip"
  pl_pod_document "$pod" "$namespace" "$labels" >"$PL_DIR/policies/pod-$pod.yaml"
  pl_log "pod $namespace/$pod up at $(pl_pod_ip "$pod")"
}

# pl_podlens_detach POD: takes podlens off a pod and leaves its network as it is, as a runtime
# does when it runs DEL for the chain's podlens-cni entry alone: no programs on the pod's veth,
# no record (the pod is as on a node without podlens). pl_node_down's DEL of the chain after it
# is fine: podlens-cni's DEL is idempotent.
pl_podlens_detach() {
  local netns=/var/run/netns/$PL_RUN-$1 record
  record=$(grep -l "\"netns\": *\"$netns\"" "$PL_DIR"/state/pods/*.json) \
    || pl_die "pod $1 has no podlens record"
  CNI_COMMAND=DEL CNI_NETNS=$netns CNI_PATH=$PL_DIR/cni-bin \
    CNI_CONTAINERID=$(sed -n 's/.*"containerId": *"\([^"]*\)".*/\1/p' "$record") \
    CNI_IFNAME=$(sed -n 's/.*"ifname": *"\([^"]*\)".*/\1/p' "$record") \
    "$PL_DIR/cni-bin/podlens-cni" >/dev/null \
    <<<"{\"cniVersion\": \"1.0.0\", \"name\": \"podlens-local\", $(pl_podlens_entry | cut -c2-)" \
    || pl_die "podlens-cni DEL of pod $1 failed"
  pl_log "pod $1: podlens detached"
}

# pl_pod_del POD: the pod goes away as a runtime removes it: CNI DEL, its processes, its netns.
pl_pod_del() {
  local pod=$1
  pl_cni del "$pod" >/dev/null || pl_log "CNI DEL of $pod failed (removing it anyway)"
  ip netns pids "$PL_RUN-$pod" 2>/dev/null | xargs -r kill -9 2>/dev/null
  ip netns del "$PL_RUN-$pod" 2>/dev/null
  rm -rf "$PL_DIR/pods/$pod" "$PL_DIR/policies/pod-$pod.yaml"
}

pl_pod_ip() { cat "$PL_DIR/pods/$1/ip"; }
pl_exec() { local pod=$1; shift; ip netns exec "$PL_RUN-$pod" "$@"; }

# pl_nginx [--port PORT]... POD [HTTP_CONF]: nginx serving a small site in the pod on port
# 8080, access log at pods/POD/access.log as "CLIENT_IP METHOD STATUS URI" lines (the ground
# truth of the accuracy test). Each --port PORT serves the same site (the same server block)
# on one more port: a benchmark that compares a selected port with unselected ones then
# compares the same work. HTTP_CONF, when given, is appended to the http block: more server
# blocks, which log in format truth too unless they say otherwise. A keep-alive connection
# stays open for 10,000,000 requests (keepalive_requests): the benchmarks' alternating phases
# send some 150,000 requests down one, and a close under a request costs that request.
pl_nginx() {
  local listen="listen 8080;"
  while [ "${1:-}" = --port ]; do
    listen+=" listen $2;"
    shift 2
  done
  local pod=$1 dir=$PL_DIR/pods/$1/nginx
  mkdir -p "$dir/html/static" "$dir/tmp"
  head -c 1024 /dev/zero | tr '\0' 'a' >"$dir/html/index.html"
  head -c 262144 /dev/urandom | base64 -w 100 >"$dir/html/static/large.txt"
  cat >"$dir/nginx.conf" <<CONF
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
daemon off;
events { worker_connections 1024; }
http {
  log_format truth '\$remote_addr \$request_method \$status \$request_uri';
  access_log $PL_DIR/pods/$pod/access.log truth;
  client_body_temp_path $dir/tmp/body; proxy_temp_path $dir/tmp/proxy;
  fastcgi_temp_path $dir/tmp/fcgi; uwsgi_temp_path $dir/tmp/uwsgi; scgi_temp_path $dir/tmp/scgi;
  keepalive_requests 10000000;
  server {
    $listen
    root $dir/html;
    location = / { index index.html; }
    location /static/ { }
    location ~ ^/api/users/[0-9]+\$ { default_type application/json; return 200 '{"user":1}'; }
    location ~ ^/api/orders/[^/]+/items\$ { default_type application/json; return 200 '[]'; }
    location = /api/checkout { client_max_body_size 1m; return 201 'created'; }
    location = /api/fail { return 500 'boom'; }
    location = /api/slow { return 200 'slow'; }
  }
${2:-}
}
CONF
  # its own output goes to a file: a server that outlived a test must not hold the test's
  # stdout (ctest waits for that pipe to close)
  pl_exec "$pod" nginx -c "$dir/nginx.conf" -e "$dir/error.log" >>"$dir/stdout.log" 2>&1 &
  echo $! >>"$PL_DIR/pids"
  local i
  for i in $(seq 50); do
    pl_exec "$pod" curl -s -o /dev/null "http://127.0.0.1:8080/" && break
    sleep 0.1
  done
  : >"$PL_DIR/pods/$pod/access.log"  # the readiness probe is not traffic under test
}

# pl_controller_start [SOURCE FLAGS...]: the controller on this run's pins and records, in
# standalone mode (--policy-dir) unless other policy-source flags are given (--kubeconfig ...).
pl_controller_start() {
  local source=("$@")
  [ ${#source[@]} -gt 0 ] || source=(--policy-dir "$PL_DIR/policies")
  "$(pl_bin podlens-controller)" "${source[@]}" --bpffs-root "$PL_BPFFS" \
    --state-dir "$PL_DIR/state" --metrics-addr "127.0.0.1:$PL_METRICS_PORT" \
    --pod-grace-period "${PL_GRACE:-5}" ${PL_CONTROLLER_FLAGS:-} \
    >>"$PL_DIR/controller.log" 2>&1 &
  echo $! >"$PL_DIR/controller.pid"
  echo $! >>"$PL_DIR/pids"
  local i
  for i in $(seq 200); do
    curl -sf "http://127.0.0.1:$PL_METRICS_PORT/readyz" >/dev/null && return 0
    kill -0 "$(cat "$PL_DIR/controller.pid")" 2>/dev/null || break
    sleep 0.1
  done
  tail -20 "$PL_DIR/controller.log" >&2
  pl_die "the controller did not become ready"
}

pl_metrics() { curl -sf "http://127.0.0.1:$PL_METRICS_PORT/metrics"; }

# pl_selector_ports: the ports of the kernel's pinned selector map, sorted, space-separated.
pl_selector_ports() {
  bpftool -j map dump pinned "$PL_BPFFS/dataplane/pl_selectors" 2>/dev/null \
    | grep -o '"port": *[0-9]*' | grep -o '[0-9]*$' | sort -n | tr '\n' ' '
}

pl_node_up() {
  [ "$(id -u)" -eq 0 ] || pl_die "the local node needs root (netns, veth, BPF)"
  mkdir -p "$PL_DIR/policies" "$PL_DIR/state" "$PL_DIR/pods"
  : >"$PL_DIR/pids"
  pl_write_conflist
  pl_controller_start
  pl_log "node $PL_RUN up: pins $PL_BPFFS, metrics http://127.0.0.1:$PL_METRICS_PORT/metrics"
}

# pl_node_down: removes everything the run made, whatever state it is in. Idempotent.
pl_node_down() {
  set +e  # best effort: one thing already gone must not stop the rest of the cleanup
  local pid pod
  if [ -f "$PL_DIR/pids" ]; then
    while read -r pid; do kill "$pid" 2>/dev/null; done <"$PL_DIR/pids"
    sleep 0.2
    while read -r pid; do kill -9 "$pid" 2>/dev/null; done <"$PL_DIR/pids"
  fi
  for pod in $(ls "$PL_DIR/pods" 2>/dev/null); do
    pl_pod_del "$pod" 2>/dev/null
  done
  ip link del "$PL_BRIDGE" 2>/dev/null
  rm -rf "$PL_BPFFS"
  rm -f "$PL_DIR/pids"
}

# pl_node_down_and_check: tears the node down, then fails (status 1) if anything of this
# run is left: netns, veth or bridge, pins, processes.
pl_node_down_and_check() {
  pl_node_down
  local left
  left=$(pl_leftovers)
  if [ -n "$left" ]; then
    pl_log "FAIL: left behind: $left"
    return 1
  fi
  pl_log "ok: nothing left behind (netns, links, pins, processes)"
}

# pl_leftovers: prints what a run left behind (empty when clean).
pl_leftovers() {
  ip netns list | grep -- "^$PL_RUN-" | sed 's/^/netns /'
  ip -o link show | grep -o -- "$PL_BRIDGE\|veth[^:@]*@if[0-9]*.*master $PL_BRIDGE" \
    | sed 's/^/link /'
  [ -e "$PL_BPFFS" ] && echo "pins $PL_BPFFS"
  pgrep -f -- "$PL_DIR" | grep -vx "$$" | sed 's/^/process /'
  true
}

# pl_counts METRIC POD: "METHOD STATUS ROUTE COUNT" for each series of METRIC (a histogram
# name without _count) that belongs to POD, read from the controller's /metrics.
pl_counts() {
  pl_metrics | awk -v metric="$1_count{" -v pod="$2" '
    function label(name,   start, len) {
      if (!match($0, "[{,]" name "=\"[^\"]*\"")) return ""
      start = RSTART + length(name) + 3; len = RLENGTH - length(name) - 4
      return substr($0, start, len)
    }
    index($0, metric) == 1 && label("k8s_pod_name") == pod {
      print label("http_request_method"), label("http_response_status_code"),
            label("http_route"), $NF
    }' | sort
}

# pl_metric_value SERIES_PREFIX: sum of the values of series starting with SERIES_PREFIX.
pl_metric_value() {
  pl_metrics | awk -v prefix="$1" 'index($0, prefix) == 1 { sum += $NF } END { printf "%.0f\n", sum }'
}

# pl_truth POD CLIENT_POD ROUTES_SED: the same "METHOD STATUS ROUTE COUNT" lines counted from
# nginx's own access log (requests from CLIENT_POD, or from anyone when it is ""), the query
# string cut and paths mapped to routes by the sed -E script ROUTES_SED.
pl_truth() {
  local client_ip=""
  [ -z "$2" ] || client_ip=$(pl_pod_ip "$2")
  awk -v ip="$client_ip" 'ip == "" || $1 == ip { sub(/\?.*/, "", $4); print $2, $3, $4 }' \
    "$PL_DIR/pods/$1/access.log" | sed -E "$3" | sort | uniq -c \
    | awk '{ print $2, $3, $4, $1 }' | sort
}

# pl_check_equal WHAT EXPECTED ACTUAL: "METHOD STATUS ROUTE COUNT" lists; logs the difference
# and returns 1 when they differ, else logs the total and the lines.
pl_check_equal() {
  if [ "$2" != "$3" ]; then
    pl_log "FAIL: $1"
    diff <(echo "$2") <(echo "$3") | sed 's/^/    /' >&2 || true
    return 1
  fi
  pl_log "ok: $1 ($(echo "$2" | awk '{ n += $4 } END { print n }') requests)"
  echo "$3" | awk '{ printf "    %-6s %s %-30s %5d\n", $1, $2, $3, $4 }' >&2
}

# pl_wait_stable CMD...: waits until CMD prints the same output twice 300 ms apart (the
# controller has drained the ring buffer), at most 10 s.
pl_wait_stable() {
  local last="" now i
  for i in $(seq 33); do
    now=$("$@")
    [ -n "$now" ] && [ "$now" = "$last" ] && return 0
    last=$now
    sleep 0.3
  done
}
