/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * TC programs for a pod's host-side veth. Ingress sees what the pod sends, egress what it
 * receives. Observe only: every path returns TC_ACT_UNSPEC so the TC chain goes on.
 *
 * Both directions run one program body, podlens_parse: the two entry programs only note the
 * direction in skb->cb[0] and tail-call it. Two bodies (one per entry program, each with its
 * own copy of every subprogram) meant twice the JIT code a request and its response run
 * through, and that code evicted the rest of the network stack from the caches.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#include "lib/conn.h"

/* Parse steps allowed per skb; each takes the whole lines of a window, skips a body or a
 * line, or feeds one line's bytes to the byte machine (http1__parse_step). */
#define PODLENS_MAX_PARSE_STEPS 512

/* Could a selector name this packet? One array read answers "no" for most packets, also
 * those of unselected pods on ports selected elsewhere. Also reads the selectors' generation
 * (*generation), before any selector is looked up. */
static __always_inline int port_filter__may_match(__u32 ifindex, __u16 pod_port,
                                                  __u16 peer_port, __u32 *generation) {
  __u32 zero = 0;
  struct podlens_port_filter *filter = bpf_map_lookup_elem(&pl_ports, &zero);
  if (!filter) {
    return 0;
  }
  *generation = (__u32)filter->selectors_generation;
  if (podlens_port_filter_has(filter, ifindex, pod_port)) {
    return 1; /* a server pod's port: its clients' ports, spread over the bitmap, unread */
  }
  return podlens_port_filter_has(filter, ifindex, peer_port);
}

/* One selector lookup per direction the pod can play; most packets stop here. */
static __always_inline int selector__match(__u32 ifindex, __u16 pod_port, __u16 peer_port,
                                           struct selection *out) {
  struct podlens_selector_key key = {
      .ifindex = ifindex, .port = pod_port, .direction = PODLENS_DIR_INBOUND};
  struct podlens_selector_value *sel = bpf_map_lookup_elem(&pl_selectors, &key);
  out->direction = PODLENS_DIR_INBOUND;
  if (!sel) {
    key.port = peer_port;
    key.direction = PODLENS_DIR_OUTBOUND;
    out->direction = PODLENS_DIR_OUTBOUND;
    sel = bpf_map_lookup_elem(&pl_selectors, &key);
  }
  if (!sel || sel->protocol != PODLENS_PROTO_HTTP1) {
    return -1;
  }
  out->capture_flags = sel->capture_flags;
  out->policy_id = sel->policy_id;
  return 0;
}

/*
 * The selection of a packet whose connection's slot is slot (NULL when it has none). A state
 * that cached its selection at the current generation of pl_selectors answers without a
 * lookup; otherwise the selectors decide. Returns 1 when it looked the selector up, 0 when
 * the cache answered, -1 when no selector names the packet.
 */
static __always_inline int selection__of(const struct podlens_conn_slot *slot,
                                         __u32 generation, __u32 ifindex, __u16 pod_port,
                                         __u16 peer_port, struct selection *out) {
  if (slot && slot->state.selector_generation == generation) {
    out->direction = slot->state.direction;
    out->capture_flags = slot->state.capture_flags;
    out->policy_id = slot->state.policy_id;
    return 0;
  }
  return selector__match(ifindex, pod_port, peer_port, out) < 0 ? -1 : 1;
}

/*
 * Brings the connection's cached selection up to date, so policy changes reach open
 * connections too. Only a packet holding the request stream writes it: one writer at a time,
 * fields first and the generation last (a reader that sees the new generation sees them).
 */
static __always_inline void selection__cache(struct podlens_conn_state *conn,
                                             const struct selection *sel, __u32 generation) {
  conn->direction = sel->direction;
  conn->capture_flags = sel->capture_flags;
  conn->policy_id = sel->policy_id;
  barrier();
  *(volatile __u32 *)&conn->selector_generation = generation;
}

static __always_inline int decode_segment(struct __sk_buff *skb, struct tcp_segment *seg) {
  if (packet__decode(skb, seg) == 0) {
    return 0;
  }
  /* Headers outside the linear area (rare on veth): make them linear once and retry. */
  __u32 linear = skb->data_end - skb->data;
  if (skb->len <= linear) {
    return -1;
  }
  __u32 want = skb->len < PODLENS_HEADERS_MAX ? skb->len : PODLENS_HEADERS_MAX;
  if (bpf_skb_pull_data(skb, want) < 0) {
    return -1;
  }
  return packet__decode(skb, seg);
}

static __always_inline void parse_payload(struct __sk_buff *skb, struct podlens_conn_state *conn,
                                          struct parse_cursor *cur) {
  if (!cur->is_request && conn->resp.phase == PODLENS_PHASE_IDLE) {
    http1__response_from_memo(skb, conn, cur); /* a repeated block: one call, no steps */
  }
  for (int i = 0; i < PODLENS_MAX_PARSE_STEPS; i++) {
    if (cur->off >= cur->payload_len || !http1__parse_step(skb, conn, cur)) {
      return;
    }
  }
  if (cur->off < cur->payload_len) {
    http1__lose_sync(conn, stream__of(conn, cur), cur->is_request, PODLENS_LOSS_PARSE_BUDGET);
  }
}

#ifdef PODLENS_LEDGER_SPIN_NS
/* Spends about ns of CPU time on clock reads: a known cost, no data or code of the parse's
 * (a ledger build only: what a nanosecond of program run time costs the maximum). */
static __always_inline void ledger__spin(__u64 ns) {
  __u64 until = bpf_ktime_get_ns() + ns;
  for (int i = 0; i < 1024; i++) {
    if (bpf_ktime_get_ns() >= until) {
      break;
    }
  }
}
#endif

static __always_inline int handle_packet(struct __sk_buff *skb, int from_pod) {
  struct tcp_segment seg;
  if (decode_segment(skb, &seg) < 0) {
    return TC_ACT_UNSPEC;
  }
  if (seg.payload_len == 0 && !(seg.flags & (TCP_FLAG_SYN | TCP_FLAG_FIN | TCP_FLAG_RST))) {
    return TC_ACT_UNSPEC; /* a pure ACK: nothing for the parser, no lookup needed */
  }
  __u16 pod_port = from_pod ? seg.src_port : seg.dst_port;
  __u16 peer_port = from_pod ? seg.dst_port : seg.src_port;
  __u32 generation = 0;
  if (!port_filter__may_match(skb->ifindex, pod_port, peer_port, &generation)) {
    return TC_ACT_UNSPEC;
  }
  struct parse_cursor cur = {
      .payload_off = seg.payload_off,
      .payload_len = seg.payload_len,
      .scan_left = PODLENS_RESYNC_SCAN_MAX,
      .key = {.ifindex = skb->ifindex,
              .pod_port = pod_port,
              .peer_port = peer_port,
              .family = seg.family},
  };
  if (packet__conn_addrs(skb, &seg, from_pod, &cur.key) < 0) {
    return TC_ACT_UNSPEC;
  }
  struct podlens_conn_slot *slot = conn_table__find(&cur.key, conn_table__hash(&cur.key));
  struct selection sel;
  int looked_up = selection__of(slot, generation, skb->ifindex, pod_port, peer_port, &sel);
  if (looked_up < 0) {
    return TC_ACT_UNSPEC;
  }
  /* Requests flow towards a server pod and away from a client pod. */
  cur.is_request = (sel.direction == PODLENS_DIR_INBOUND) ? !from_pod : from_pod;
  slot = conn__existing_or_new(skb, slot, &seg, &sel, generation, &cur);
  if (!slot) {
    return TC_ACT_UNSPEC;
  }
  struct podlens_conn_state *conn = &slot->state;
  struct podlens_stream_state *s = stream__of(conn, &cur);
  if (!stream__take(s)) {
    loss__count(PODLENS_LOSS_CONCURRENT_SEGMENT);
    return TC_ACT_UNSPEC;
  }
#ifdef PODLENS_LEDGER_NO_PARSE /* a ledger build (bench/dataplane_ledger.sh) only */
#ifdef PODLENS_LEDGER_SPIN_NS
#ifdef PODLENS_LEDGER_SPIN_ON_REQUEST /* 1: request packets only, 0: response packets only */
  if (cur.is_request == PODLENS_LEDGER_SPIN_ON_REQUEST)
#endif
    ledger__spin(PODLENS_LEDGER_SPIN_NS);
#endif
  stream__release(s);
  return TC_ACT_UNSPEC;
#endif
  if (cur.is_request && answers__outstanding(conn)) {
    /* What the responses since its last packet left, under the selection they had */
    answers__emit(conn, &cur.key);
  }
  if (looked_up && cur.is_request) {
    selection__cache(conn, &sel, generation);
  }
  if (cur.is_request && conn->tunnel_open) {
    s->phase = PODLENS_PHASE_TUNNEL; /* the response stream saw the tunnel open */
  }
  if (conn__place_segment(conn, s, &seg, &cur) == 0) {
    cur.line_start_at = cur.off; /* the first new byte */
    parse_payload(skb, conn, &cur);
  }
  if (conn__on_close_flags(conn, s, &seg, &cur)) {
    conn__forget(conn, &cur.key);
    slot__free(slot);
    return TC_ACT_UNSPEC; /* the flag went with the state */
  }
  stream__release(s);
  return TC_ACT_UNSPEC;
}

/* skb->cb[0] as the entry programs leave it for podlens_parse. */
#define PODLENS_CB_FROM_POD 1
#define PODLENS_CB_TO_POD 2

SEC("tc")
int podlens_parse(struct __sk_buff *skb) {
  __u32 side = skb->cb[0];
  if (side != PODLENS_CB_FROM_POD && side != PODLENS_CB_TO_POD) {
    return TC_ACT_UNSPEC; /* not reached through an entry program */
  }
  return handle_packet(skb, side == PODLENS_CB_FROM_POD);
}

/* The one slot the entry programs tail-call. libbpf fills it at load; it is pinned with the
 * other maps, which keeps it filled (the kernel empties a PROG_ARRAY whose last user
 * reference goes). */
struct {
  __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
  __uint(max_entries, 1);
  __uint(key_size, sizeof(__u32)); /* no key BTF: the kernel takes none for a PROG_ARRAY */
  __array(values, int(void *));
} pl_tail SEC(".maps") = {
    .values = {[0] = (void *)&podlens_parse},
};

static __always_inline int enter(struct __sk_buff *skb, __u32 side) {
  skb->cb[0] = side;
  bpf_tail_call(skb, &pl_tail, 0);
  loss__count(PODLENS_LOSS_TAIL_CALL); /* reached only when the tail call failed */
  return TC_ACT_UNSPEC;
}

SEC("tc")
int podlens_ingress(struct __sk_buff *skb) { return enter(skb, PODLENS_CB_FROM_POD); }

SEC("tc")
int podlens_egress(struct __sk_buff *skb) { return enter(skb, PODLENS_CB_TO_POD); }

/* The sweep: writes out the events of answers that wait on connections no packet has come
 * to since (the last response of a connection left open and idle). Run by user space every
 * PODLENS_SWEEP_INTERVAL_MS through BPF_PROG_TEST_RUN (DataPlane::sweepAnswers), on any CPU;
 * never attached. */
static long sweep__slot(void *map, __u32 *index, struct podlens_conn_slot *slot, void *ctx) {
  if (slot->claim == PODLENS_SLOT_READY) {
    answers__emit(&slot->state, &slot->key);
  }
  return 0;
}

SEC("tc")
int podlens_sweep(struct __sk_buff *skb) {
  bpf_for_each_map_elem(&pl_conns, sweep__slot, NULL, 0);
  return TC_ACT_UNSPEC;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
