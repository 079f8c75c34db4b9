/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * HTTP/1.x message framing: what happens when a message starts, when its header block ends
 * and when it is complete. The byte-level state machine is in http1_parse.h.
 */
#pragma once

#include "lib/answers.h"
#include "lib/maps.h"

/* Where one parse run stands in the current skb. Lives on the entry program's stack. */
struct parse_cursor {
  __u64 now_ns;      /* 0 until cursor__now() reads the clock (~30 ns on the test VM) */
  __u32 payload_off; /* skb offset of payload byte 0 */
  __u32 payload_len;
  __u32 off;         /* payload bytes consumed so far */
  __u8 is_request;   /* this skb carries the request stream of the connection */
  __u8 pad0[3];
  __u32 line_start_at; /* a payload offset known to start a line (resync candidate) */
  __u32 scan_left;     /* bytes the resync scan may still look at in this skb */
  __u32 win_base;      /* payload offset of the scratch window's first byte */
  __u32 win_len;       /* bytes in the scratch window; 0: none loaded for this skb */
  __u32 line_end;      /* window index of the end of the line found last (http1_fast.h) */
  __u32 line_lf;       /* window index of its LF */
  __u32 scan_at;       /* where the last control-byte search stopped (http1_fast.h) */
  __u32 memo_start;    /* window index of a response block that may become the memo, or
                          PODLENS_WINDOW (http1_fast.h) */
  __u64 scan_hit;      /* and the control bytes of the word there */
  __u32 memo_free;     /* its free words so far (struct podlens_header_memo) */
  __u32 memo_missed_at; /* payload offset + 1 of a block the memo did not take: not compared
                           again (http1_fast.h); 0: none */
  struct podlens_conn_key key;
};

/* CLOCK_MONOTONIC for this skb, read at most once and only by packets that need it. */
static __always_inline __u64 cursor__now(struct parse_cursor *cur) {
  if (!cur->now_ns) {
#ifdef PODLENS_LEDGER_NO_CLOCK /* a ledger build (bench/dataplane_ledger.sh) only */
    cur->now_ns = cur->payload_len + 1;
#else
    cur->now_ns = bpf_ktime_get_ns();
#endif
  }
  return cur->now_ns;
}

/* Loads up to PODLENS_PARSE_CHUNK payload bytes from off (< payload_len) into
 * scratch->chunk. Returns how many (a bound the verifier can see), 0 when the load fails. */
static __always_inline __u32 cursor__load(struct __sk_buff *skb, const struct parse_cursor *cur,
                                          __u32 off, struct podlens_scratch *scratch) {
  __u32 avail = cur->payload_len - off;
  __u32 n = avail < PODLENS_PARSE_CHUNK ? avail : PODLENS_PARSE_CHUNK;
  barrier_var(n);
  n &= 2 * PODLENS_PARSE_CHUNK - 1; /* n <= PODLENS_PARSE_CHUNK already */
  if (n == 0 || bpf_skb_load_bytes(skb, cur->payload_off + off, scratch->chunk, n) < 0) {
    return 0;
  }
  return n;
}

/* Skips body bytes (Content-Length body or chunk data) arithmetically, never reading them.
 * Returns 1 when the body or chunk has no byte left. */
static __always_inline int cursor__skip_body(struct parse_cursor *cur,
                                             struct podlens_stream_state *s, __u32 avail) {
  __u64 skip = s->body_remaining < avail ? s->body_remaining : avail;
  cur->off += skip;
  s->body_remaining -= skip;
  return s->body_remaining == 0;
}

static __always_inline struct podlens_stream_state *
stream__of(struct podlens_conn_state *conn, struct parse_cursor *cur) {
  return cur->is_request ? &conn->req : &conn->resp;
}

/* The FIFO slot the request being parsed writes to (the slot `discarded` when discarded). */
static __always_inline struct podlens_pending_request *
pending__writing(struct podlens_conn_state *conn, const struct podlens_stream_state *req) {
  if (req->message_flags & PODLENS_MSG_DISCARD) {
    return &conn->discarded;
  }
  return &conn->pending[conn->head & (PODLENS_PENDING_MAX - 1)];
}

/* The slot of the oldest request still waiting for its response (valid when head != tail). */
static __always_inline struct podlens_pending_request *
pending__oldest(struct podlens_conn_state *conn) {
  return &conn->pending[conn->tail & (PODLENS_PENDING_MAX - 1)];
}

/* The oldest waiting request, or NULL when there is none or it was discarded on overflow:
 * the slot holds the number tail only once that request's headers have ended (the request
 * side writes it last), so the response side reads no line of the request side's but the
 * slot it needs anyway, and head (that side's, written at every request) not at all. A slot
 * left by an earlier connection holds a number of another base (struct podlens_conn_state). */
static __always_inline struct podlens_pending_request *
pending__answered(struct podlens_conn_state *conn) {
  struct podlens_pending_request *req = pending__oldest(conn);
  if (req->number != conn->tail) {
    req = NULL;
  }
  barrier_var(req); /* callers test the pointer, not the compare again: the verifier follows
                       only the pointer from one to the other */
  return req;
}

/* Drops every request still waiting for a response. Those that had a slot are counted
 * here; those discarded on overflow were counted when they came. Response side only (it
 * owns tail), or when the connection's state goes away. A global function: the entry
 * program reaches it after its parse loop, from as many verifier states as loop exits. */
__noinline int pending__drop_all(struct podlens_conn_state *conn) {
  if (!conn) {
    return 0;
  }
  __u32 waiting = conn->head - conn->tail;
  if (!waiting) {
    return 0;
  }
  __u32 admitted = 0;
#pragma unroll
  for (__u32 k = 0; k < PODLENS_PENDING_MAX; k++) {
    __u32 number = conn->pending[k].number;
    /* In flight: number - tail < waiting, and the slot is the number's own (a slot no
     * request of this connection wrote holds a number outside that range). Sign bits of
     * 64-bit differences instead of compares: BPF has no set-on-condition, and a branch per
     * compare would be 256 paths for the verifier. */
    __u64 in_flight = ((__u64)(__u32)(number - conn->tail) - waiting) >> 63;
    __u64 own_slot = ((__u64)((number ^ k) & (PODLENS_PENDING_MAX - 1)) - 1) >> 63;
    admitted += in_flight & own_slot;
  }
  if (admitted) {
    loss__add(PODLENS_LOSS_REQUEST_UNANSWERED, admitted);
  }
  conn->tail = conn->head;
  return 0;
}

/*
 * Drops the framing of the current message: skip bytes until a segment starts a message.
 * When the response stream loses it, the requests waiting go too: the next response that
 * can be framed may answer any of them, and a wrong pairing would be worse than a loss.
 * A rare path: a global function, so its many call sites cost the verifier little.
 */
__noinline int http1__lose_sync(struct podlens_conn_state *conn, struct podlens_stream_state *s,
                                __u32 is_request, __u32 reason) {
  if (!conn || !s) {
    return 0;
  }
  loss__count(reason);
  s->phase = PODLENS_PHASE_RESYNC;
  if (!is_request) {
    pending__drop_all(conn);
  }
  return 0;
}

/* The header names the byte machine tells apart: bits of a stream's match_mask. */
#define HDR_CONTENT_LENGTH (1 << 0)
#define HDR_TRANSFER_ENCODING (1 << 1)

static __always_inline void line__reset_header(struct podlens_stream_state *s) {
  s->line_len = 0;
  s->line_state = PODLENS_LINE_HEADER_NAME;
  s->match_pos = 0;
  s->match_mask = HDR_CONTENT_LENGTH | HDR_TRANSFER_ENCODING; /* both still candidates */
}

/* Are PODLENS_PENDING_MAX requests waiting? Request side, on its own line: a slot is free
 * once its request's event is out (or it will have none), and the side emits what it can at
 * the start of each of its packets (answers__emit). Answers that complete while one packet
 * of pipelined requests is parsed free their slots for the next packet. */
static __always_inline int pending__may_be_full(const struct podlens_conn_state *conn) {
  return conn->head - conn->emitted >= PODLENS_PENDING_MAX;
}

/* First byte of a request or response. */
static __always_inline void message__start(struct podlens_conn_state *conn,
                                           struct podlens_stream_state *s,
                                           struct parse_cursor *cur) {
  s->phase = PODLENS_PHASE_START_LINE;
  s->line_len = 0;
  s->header_bytes = 0;
  s->message_flags = 0;
  s->value = 0;
  s->status = 0;
  s->match_pos = 0;
  s->match_mask = 0;
  s->body_remaining = 0;
  s->message_start_ns = cursor__now(cur);
  if (!cur->is_request) {
    s->line_state = PODLENS_LINE_STATUS;
    return;
  }
  s->line_state = PODLENS_LINE_METHOD;
  if (pending__may_be_full(conn)) {
    loss__count(PODLENS_LOSS_PIPELINE_OVERFLOW);
    s->message_flags |= PODLENS_MSG_DISCARD;
  }
  struct podlens_pending_request *slot = pending__writing(conn, s);
  slot->start_ns = cursor__now(cur);
  slot->method = PODLENS_METHOD_UNKNOWN;
  slot->flags = 0;
  slot->path_len = 0; /* path bytes past path_len are stale: events mask them */
}

/*
 * The response just completed (s, the response stream) answers the oldest pending request:
 * its answer goes in, number last, and tail moves past it. The request side writes the event
 * (lib/answers.h). Inlined only where a common response completes (a body's end after a block
 * the memo took); elsewhere through the global message__complete_response().
 */
static __always_inline void message__answer(struct podlens_conn_state *conn,
                                                         struct podlens_stream_state *s,
                                                         struct parse_cursor *cur,
                                                         __u32 extra_flags) {
  if (!pending__answered(conn)) {
    if (conn->head == conn->tail) { /* the request side's line, read on this rare path only */
      loss__count(PODLENS_LOSS_UNMATCHED_RESPONSE);
      return;
    }
    conn->tail++; /* answers a request discarded on overflow, counted when it came */
    return;
  }
#ifdef PODLENS_LEDGER_NO_EVENT /* a ledger build (bench/dataplane_ledger.sh) only */
  barrier_var(extra_flags); /* unused, it would not be passed: the verifier checks it is */
  conn->tail++;
  return;
#endif
  /* Its slot's earlier answer is out: the request it answered left the slot before this
   * one took it (pending__may_be_full). */
  struct podlens_answer *a = &conn->answers[conn->tail & (PODLENS_PENDING_MAX - 1)];
  a->first_byte_ns = s->message_start_ns;
  a->last_byte_ns = cursor__now(cur);
  a->status = s->status;
  a->flags = extra_flags;
  barrier(); /* the number last (x86 keeps stores in order; see stream__release) */
  *(volatile __u32 *)&a->number = conn->tail;
  conn->tail++;
}

/*
 * The event of a completed response, out of line. A global function: six places complete a
 * response (a body's end; a header block with no body, with a zero length, or opening a
 * tunnel; a close; the last chunk), and one copy of the event code, rather than one inlined
 * at each, keeps the code a transaction runs through small and warm in the instruction cache
 * (on real traffic the network stack evicts it between packets).
 */
__noinline int message__complete_response(struct podlens_conn_state *conn,
                                          struct podlens_stream_state *s,
                                          struct parse_cursor *cur, __u32 extra_flags) {
  if (!conn || !s || !cur) {
    return 0;
  }
  message__answer(conn, s, cur, extra_flags);
  return 0;
}

/* The headers announced a chunked body: its first chunk-size line comes next. */
static __always_inline void message__chunked_body(struct podlens_stream_state *s) {
  s->phase = PODLENS_PHASE_BODY_CHUNKED;
  s->line_state = PODLENS_LINE_CHUNK_SIZE;
  s->value = 0;
  s->match_pos = 0;
  s->line_len = 0;
  s->header_bytes = 0;
}

/* The blank line after the request headers: commit the request, then frame its body.
 * A discarded request is committed too: head counts every request, so the response to
 * it is recognised and dropped instead of being paired with a later request. */
static __always_inline void message__request_headers_end(struct podlens_conn_state *conn,
                                                         struct podlens_stream_state *s) {
  /* The number last, after every field of the slot: the response side takes the slot once it
   * holds its number (x86 keeps stores in order; see stream__release). */
  barrier();
  *(volatile __u32 *)&pending__writing(conn, s)->number = conn->head;
  conn->head++;
  if (s->message_flags & PODLENS_MSG_CHUNKED) {
    message__chunked_body(s);
  } else if (s->message_flags & PODLENS_MSG_TRANSFER_ENCODING) {
    /* A coding other than chunked last: the body length is unknowable (RFC 9112 6.3). */
    http1__lose_sync(conn, s, 1, PODLENS_LOSS_UNSUPPORTED_FRAMING);
  } else if ((s->message_flags & PODLENS_MSG_CONTENT_LENGTH) && s->value > 0) {
    s->phase = PODLENS_PHASE_BODY_LENGTH;
    s->body_remaining = s->value;
  } else {
    s->phase = PODLENS_PHASE_IDLE;
  }
}

static __always_inline int response__has_no_body(const struct podlens_pending_request *req,
                                                  const struct podlens_stream_state *s) {
  if (req && req->method == PODLENS_METHOD_HEAD) {
    return 1;
  }
  return s->status == 204 || s->status == 304 || (s->status >= 100 && s->status < 200);
}

/* 101 Switching Protocols, or a 2xx answer to CONNECT: what follows is not HTTP/1.x. */
static __always_inline int response__opens_tunnel(const struct podlens_pending_request *req,
                                                  const struct podlens_stream_state *s) {
  if (s->status == 101) {
    return 1;
  }
  return req && req->method == PODLENS_METHOD_CONNECT && s->status >= 200 && s->status < 300;
}

/* Does the header block just read (s at its blank line) frame a body by Content-Length alone,
 * value > 0 bytes, under a final status that has one? Then the body follows, unless the
 * request was a HEAD or a CONNECT (what message__response_headers_end() decides, in fewer
 * branches: http1__memo_keep() keeps the answer with the block, http1__memo_take() reads it). */
static __always_inline int response__frames_length_body(const struct podlens_stream_state *s) {
  __u8 framing = s->message_flags & (PODLENS_MSG_CHUNKED | PODLENS_MSG_TRANSFER_ENCODING |
                                     PODLENS_MSG_CONTENT_LENGTH);
  return framing == PODLENS_MSG_CONTENT_LENGTH && s->value > 0 && s->status >= 200 &&
         s->status != 204 && s->status != 304;
}

/* The blank line after the response headers: frame the body or complete the transaction. */
static __always_inline void message__response_headers_end(struct podlens_conn_state *conn,
                                                          struct podlens_stream_state *s,
                                                          struct parse_cursor *cur) {
  if (s->status >= 100 && s->status < 200 && s->status != 101) {
    s->phase = PODLENS_PHASE_IDLE; /* interim response: the final one follows */
    return;
  }
  struct podlens_pending_request *req = pending__answered(conn);
  if (response__opens_tunnel(req, s)) {
    message__complete_response(conn, s, cur, 0);
    pending__drop_all(conn); /* requests sent after it will never get an HTTP answer */
    s->phase = PODLENS_PHASE_TUNNEL;
    conn->tunnel_open = 1; /* for the request stream, which reads no field of this one */
  } else if (response__has_no_body(req, s)) {
    message__complete_response(conn, s, cur, 0);
    s->phase = PODLENS_PHASE_IDLE;
  } else if (s->message_flags & PODLENS_MSG_CHUNKED) {
    message__chunked_body(s);
  } else if (s->message_flags & PODLENS_MSG_TRANSFER_ENCODING) {
    s->phase = PODLENS_PHASE_BODY_UNTIL_CLOSE; /* no chunked last: until close (RFC 9112 6.3) */
  } else if (s->message_flags & PODLENS_MSG_CONTENT_LENGTH) {
    if (s->value == 0) {
      message__complete_response(conn, s, cur, 0);
      s->phase = PODLENS_PHASE_IDLE;
    } else {
      s->phase = PODLENS_PHASE_BODY_LENGTH;
      s->body_remaining = s->value;
    }
  } else {
    s->phase = PODLENS_PHASE_BODY_UNTIL_CLOSE;
  }
}

/* The last byte of a body of known length. */
static __always_inline void message__body_end(struct podlens_conn_state *conn,
                                              struct podlens_stream_state *s,
                                              struct parse_cursor *cur) {
  if (!cur->is_request) {
    message__complete_response(conn, s, cur, 0);
  }
  s->phase = PODLENS_PHASE_IDLE;
}

/* The bytes this skb holds of a body of known length, skipped; its last byte ends the
 * message. */
static __always_inline void message__skip_length_body(struct podlens_conn_state *conn,
                                                      struct podlens_stream_state *s,
                                                      struct parse_cursor *cur) {
  if (cursor__skip_body(cur, s, cur->payload_len - cur->off)) {
    message__body_end(conn, s, cur);
  }
}
