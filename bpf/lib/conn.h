/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Connection tracking for selected flows: state lookup/creation and TCP sequence placement. */
#pragma once

#include "lib/conn_table.h"
#include "lib/http1_step.h"
#include "lib/packet.h"

/* A request line in a segment of a connection with no state? Sets cur->off there and
 * returns 0, else -1. A global function: the rare path costs the entry program a call. */
__noinline int conn__find_request(struct __sk_buff *skb, struct parse_cursor *cur) {
  if (!skb || !cur) {
    return -1;
  }
  for (int c = 0; c < 2 * PODLENS_RESYNC_SCAN_MAX / PODLENS_PARSE_CHUNK; c++) {
    int r = http1__resync_chunk(skb, cur);
    if (r != 0) {
      return r > 0 ? 0 : -1;
    }
  }
  return -1;
}

static __always_inline int stream__inside_head(const struct podlens_stream_state *s) {
  return s->phase == PODLENS_PHASE_START_LINE || s->phase == PODLENS_PHASE_HEADERS;
}

/* The connection's state goes (close, RST, a new SYN on the tuple): the events of its
 * answers out, and what else it held counted. key is the connection's. A global function,
 * reached from every exit of the entry program's parse loop. */
__noinline int conn__forget(struct podlens_conn_state *conn, const struct podlens_conn_key *key) {
  if (!conn || !key) {
    return 0;
  }
  answers__emit(conn, key);
  if (stream__inside_head(&conn->req) ||
      (stream__inside_head(&conn->resp) && conn->head == conn->tail)) {
    loss__count(PODLENS_LOSS_MESSAGE_TRUNCATED);
  }
  pending__drop_all(conn);
  return 0;
}

/* What a selector says about a packet: the pod's role and the capture options. */
struct selection {
  __u8 direction;
  __u8 capture_flags;
  __u32 policy_id;
};

/* A state as a new connection starts it: the selection, both streams, head and tail zero
 * (conn__insert then gives them the connection's base). The FIFO's slots keep what an earlier
 * connection left: pending__answered() takes only a slot that holds the number tail,
 * pending__drop_all() counts only numbers between tail and head, and stale ones, of another
 * base, are neither. That leaves 4 of the slot's 13 cache lines to write: on a new connection
 * per request, the slot is usually out of the caches, and each line written is a miss. */
static __always_inline void conn__reset(struct podlens_conn_state *conn) {
  __builtin_memset(conn, 0, __builtin_offsetof(struct podlens_conn_state, pending));
  __builtin_memset(&conn->resp, 0,
                   __builtin_offsetof(struct podlens_conn_state, discarded) -
                       __builtin_offsetof(struct podlens_conn_state, resp));
}

/*
 * Gives cur->key a slot of pl_conns with a new state: replacing the key's own state
 * (replace, a new SYN; the caller forgot it) or only where the key has none. Returns the
 * slot's index, or -1 when the key's set has no slot to give (counted). A global function:
 * only a connection's first packet runs it, and the packets after it run through smaller
 * code.
 */
__noinline int conn__insert(const struct selection *sel, struct parse_cursor *cur,
                            __u32 generation, __u32 next_seq, __u32 replace) {
  if (!sel || !cur) {
    return -1;
  }
  __u32 hash = conn_table__hash(&cur->key);
  __u32 index = 0;
  int claimed = conn_table__claim(&cur->key, hash, replace, &index);
  if (claimed == CONN_CLAIM_NONE) {
    loss__count(PODLENS_LOSS_CONN_MAP_FULL);
    return -1;
  }
  struct podlens_conn_slot *slot = conn_table__slot(index);
  if (!slot) {
    return -1;
  }
  if (claimed == CONN_CLAIM_EXISTS) {
    return index; /* another CPU created it first */
  }
  if (claimed == CONN_CLAIM_EVICTED) {
    conn__forget(&slot->state, &slot->key); /* what the connection it held waited for is lost */
  }
  slot->hash = hash;
  __builtin_memcpy(&slot->key, &cur->key, sizeof(slot->key));
  struct podlens_conn_state *fresh = &slot->state;
  conn__reset(fresh);
  fresh->direction = sel->direction;
  fresh->capture_flags = sel->capture_flags;
  fresh->policy_id = sel->policy_id;
  fresh->selector_generation = generation;
  fresh->server_port =
      sel->direction == PODLENS_DIR_INBOUND ? cur->key.pod_port : cur->key.peer_port;
  fresh->req.seq_valid = 1;
  fresh->req.next_seq = next_seq;
  /* Request numbers start at a random base, odd: a FIFO slot or an answer that an earlier
   * connection left in the slot (or that no connection wrote: zero) then holds no number the
   * new one uses, also when its peer reuses the tuple with the same sequence numbers. */
  fresh->head = fresh->tail = fresh->emitted = bpf_get_prandom_u32() | 1;
  slot__publish(slot);
  return index;
}

/*
 * The slot of a selected connection: slot, the one the caller found, or a new one claimed
 * on SYN (also replacing slot's state) or on the first bytes of a request. Returns NULL when
 * the segment is not worth state (pure ACKs of unknown flows).
 */
static __always_inline struct podlens_conn_slot *
conn__existing_or_new(struct __sk_buff *skb, struct podlens_conn_slot *slot,
                      const struct tcp_segment *seg, const struct selection *sel,
                      __u32 generation, struct parse_cursor *cur) {
  int syn = seg->flags & TCP_FLAG_SYN;
  int fresh_syn = syn && !(seg->flags & TCP_FLAG_ACK) && cur->is_request;
  if (slot && !fresh_syn) {
    return slot;
  }
  if (slot) {
    conn__forget(&slot->state, &cur->key); /* a new connection on the tuple replaces it */
  }
  if (!fresh_syn) {
    if (seg->payload_len == 0 || (seg->flags & TCP_FLAG_RST)) {
      return NULL;
    }
    /* Picked up at the first request line found (it sets cur->off there). */
    if (!cur->is_request || conn__find_request(skb, cur) < 0) {
      loss__count(PODLENS_LOSS_NO_CONN_STATE);
      return NULL;
    }
    if (cur->off > 0) {
      loss__count(PODLENS_LOSS_NO_CONN_STATE); /* the bytes before it are lost */
    }
  }
  /* A new SYN replaces whatever a previous connection on the same tuple left. */
  int index = conn__insert(sel, cur, generation, fresh_syn ? seg->seq + 1 : seg->seq, fresh_syn);
  if (index < 0) {
    return NULL;
  }
  return conn_table__slot((__u32)index);
}

/*
 * One CPU at a time per stream. The segments of one flow can be processed on two CPUs at
 * once (a sender that migrated between CPUs leaves segments in two backlogs on veth), and
 * the parser state is not made for two writers. bpf_spin_lock cannot be held across the
 * helper calls of the parse (bpf_skb_load_bytes), so a flag taken with an atomic exchange
 * guards the stream, and a segment that finds it taken is skipped: its bytes become a gap
 * for the next segment, since next_seq does not move. The other stream of the connection is
 * not held back: each writes only its own fields (see struct podlens_conn_state).
 * Returns 1 when the stream is taken.
 */
static __always_inline int stream__take(struct podlens_stream_state *s) {
  return __sync_lock_test_and_set(&s->busy, 1) == 0;
}

/* Releases the stream: its state writes must be visible before the flag clears. x86 keeps
 * stores in order and never moves a store ahead of an earlier load, so there a plain store
 * after a compiler barrier releases (as the kernel's spin_unlock does) and saves a locked
 * instruction per packet; elsewhere the exchange's full barrier does it. */
static __always_inline void stream__release(struct podlens_stream_state *s) {
#if defined(__TARGET_ARCH_x86)
  barrier();
  *(volatile __u64 *)&s->busy = 0;
#else
  __sync_lock_test_and_set(&s->busy, 0);
#endif
}

/* A segment further behind than this is not a retransmission but a stream we lost track of
 * (state left from an earlier connection on the same tuple, say). */
#define PODLENS_SEQ_BEHIND_MAX (16u << 20)

/*
 * Places the segment in its stream by sequence number. Returns 0 when the payload from
 * cur->off on is new bytes to parse, -1 when there is nothing new.
 */
static __always_inline int conn__place_segment(struct podlens_conn_state *conn,
                                               struct podlens_stream_state *s,
                                               const struct tcp_segment *seg,
                                               struct parse_cursor *cur) {
  __u32 seq = seg->seq;
  if (seg->flags & TCP_FLAG_SYN) {
    s->next_seq = seq + 1; /* the SYN takes one sequence number */
    s->seq_valid = 1;
    seq += 1;
  }
  if (!s->seq_valid) {
    s->next_seq = seq; /* first segment seen of a stream picked up mid-connection */
    s->seq_valid = 1;
  }
  if (seg->payload_len == 0) {
    return -1;
  }
  __s32 ahead = (__s32)(seq - s->next_seq);
  __u32 end_seq = seq + seg->payload_len;
  if (ahead < 0 && (__u32)(-ahead) <= PODLENS_SEQ_BEHIND_MAX) {
    /* Retransmission: parse only what goes past what was already seen. */
    __u32 seen = (__u32)(-ahead);
    if (seen >= seg->payload_len) {
      return -1;
    }
    cur->off = seen;
  } else if (ahead != 0) {
    int in_data = s->phase == PODLENS_PHASE_BODY_LENGTH ||
                  (s->phase == PODLENS_PHASE_BODY_CHUNKED &&
                   s->line_state == PODLENS_LINE_CHUNK_DATA);
    if (ahead > 0 && in_data && (__u64)ahead <= s->body_remaining) {
      /* The missing bytes were body: framing survives (the step ends a body left at 0). */
      s->body_remaining -= ahead;
    } else if (s->phase != PODLENS_PHASE_RESYNC && s->phase != PODLENS_PHASE_BODY_UNTIL_CLOSE &&
               s->phase != PODLENS_PHASE_TUNNEL) {
      http1__lose_sync(conn, s, cur->is_request, PODLENS_LOSS_SEQ_GAP);
    }
  }
  s->next_seq = end_seq;
  return 0;
}

/* Has the stream's FIN come, and every byte before it? */
static __always_inline int stream__ended(const struct podlens_stream_state *s) {
  return s->fin_seen && s->next_seq == s->fin_seq;
}

/*
 * FIN/RST bookkeeping after the payload is parsed; returns 1 when the state can go. A body
 * until close ends when the stream has every byte up to its FIN, which is not always at the
 * FIN: the segments of one flow can be processed on two CPUs, and a FIN can overtake the
 * bytes before it. Then the late segment that reaches the FIN ends the body (its time is the
 * last byte's), and the state stays until both streams have ended so.
 */
static __always_inline int conn__on_close_flags(struct podlens_conn_state *conn,
                                                struct podlens_stream_state *s,
                                                const struct tcp_segment *seg,
                                                struct parse_cursor *cur) {
  if (seg->flags & TCP_FLAG_RST) {
    return 1;
  }
  if (seg->flags & TCP_FLAG_FIN) {
    s->fin_seen = 1;
    s->fin_seq = seg->seq + seg->payload_len; /* the FIN's own sequence number */
  }
  if (!stream__ended(s)) {
    return 0;
  }
  if (s->phase == PODLENS_PHASE_BODY_UNTIL_CLOSE) { /* response stream only */
    message__complete_response(conn, s, cur, PODLENS_EVENT_ENDED_BY_CLOSE);
    s->phase = PODLENS_PHASE_IDLE;
  }
  return stream__ended(cur->is_request ? &conn->resp : &conn->req);
}
