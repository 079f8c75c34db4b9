/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Answers: a transaction's event is written by the request side, not by its response.
 *
 * A response runs on the server's CPU, which at a keep-alive maximum is the bottleneck; the
 * request, on the client's, which has time to spare (docs/data-plane.md, Cost). So the
 * response stream only leaves its half, an answer (struct podlens_answer: its times, status
 * and flags) in a line of its own, and goes on. The event is written by whoever comes next:
 *   - the request stream's next packet (answers__emit, before it parses: the common case, a
 *     keep-alive connection's next request);
 *   - a packet that ends the connection, of either stream (conn__forget);
 *   - the sweep (podlens_sweep, run by user space every PODLENS_SWEEP_INTERVAL_MS):
 *     the last answer of a connection left open and idle.
 * Each of them may run on its own CPU at the same time. An emitter reads the request's slot
 * and its answer into the event, and only then claims the number with a compare-and-exchange
 * on conn->emitted: the emitter that moves it writes the event out, any other drops its copy.
 * A slot is reused only once emitted has moved past its number (pending__may_be_full), so
 * what the winner read was the slot's whole.
 */
#pragma once

#include "lib/events.h"
#include "lib/maps.h"

/* The captured path into an event: its whole words, the last one masked past path_len so
 * that no byte of an earlier request in the same slot rides along, and no word more (the event
 * is sent up to the end of its path, PODLENS_EVENT_BYTES). A branch per word the path holds,
 * where a loop over all twelve with a mask each took three (a cold response runs every one). */
static __always_inline void event__copy_path(struct podlens_http_event *e,
                                             const struct podlens_pending_request *req) {
  __u32 len = req->path_len;
  __u32 whole = len / 8;
#pragma clang loop unroll(disable)
  for (__u32 w = 0; w < PODLENS_PATH_MAX / 8; w++) {
    if (w >= whole) {
      break;
    }
    barrier_var(w); /* a word at a time: clang would make a stack copy a memcpy call */
    *(__u64 *)(e->path + 8 * w) = *(const __u64 *)(req->path + 8 * w);
  }
  __u32 rest = len % 8;
  barrier_var(whole); /* bounded itself below, not through len: 8 * whole <= 88 */
  if (rest && whole < PODLENS_PATH_MAX / 8) {
    __u64 word = *(const __u64 *)(req->path + 8 * whole);
    *(__u64 *)(e->path + 8 * whole) = word & ((1ULL << (8 * rest)) - 1);
  }
}

/* The event of request req answered by a: everything but the path's bytes past path_len. */
static __always_inline void event__fill(struct podlens_http_event *e,
                                        const struct podlens_conn_state *conn,
                                        const struct podlens_pending_request *req,
                                        const struct podlens_answer *a,
                                        const struct podlens_conn_key *key) {
  e->request_start_ns = req->start_ns;
  e->response_first_byte_ns = a->first_byte_ns;
  e->response_last_byte_ns = a->last_byte_ns;
  e->ifindex = key->ifindex;
  e->policy_id = conn->policy_id;
  e->status = a->status;
  e->method = req->method;
  e->direction = conn->direction;
  e->family = key->family;
  e->flags = req->flags | a->flags;
  e->path_len = req->path_len;
  e->pod_port = key->pod_port;
  e->peer_port = key->peer_port;
  e->pad0 = 0;
  __builtin_memcpy(e->pod_addr, key->pod_addr, sizeof(e->pod_addr));
  __builtin_memcpy(e->peer_addr, key->peer_addr, sizeof(e->peer_addr));
  event__copy_path(e, req);
}

/* What the oldest request whose event is not out (number k, below head) has come to. */
enum answer_state {
  ANSWER_WAITING = 0, /* its response has not completed: nothing to emit yet */
  ANSWER_READY = 1,   /* its answer is there: emit */
  ANSWER_NONE = 2,    /* it will have no event: discarded on overflow, or dropped unanswered
                         (each counted where that happened): step past it */
};

static __always_inline enum answer_state answer__state(struct podlens_conn_state *conn,
                                                       __u32 k) {
  const __u32 at = k & (PODLENS_PENDING_MAX - 1);
  if (*(volatile __u32 *)&conn->pending[at].number != k) {
    return ANSWER_NONE; /* parsed into `discarded`: its slot holds an older number */
  }
  if (*(volatile __u32 *)&conn->answers[at].number == k) {
    return ANSWER_READY;
  }
  /* The response side's line, read only here: it has gone past k without an answer (dropped
   * unanswered), or not yet reached it. It writes the answer before it moves tail. */
  if ((__s32)(*(volatile __u32 *)&conn->tail - k) > 0 &&
      *(volatile __u32 *)&conn->answers[at].number != k) {
    return ANSWER_NONE;
  }
  return ANSWER_WAITING;
}

/* Claims request k's event for this emitter: 1 when emitted moved from k (this emitter's to
 * write out), 0 when another emitter had it. */
static __always_inline int answer__claim(struct podlens_conn_state *conn, __u32 k) {
  return __sync_val_compare_and_swap(&conn->emitted, k, k + 1) == k;
}

/* Is there a request whose event is not out? emitted <= head, both on the request side's line. */
static __always_inline int answers__outstanding(const struct podlens_conn_state *conn) {
  return *(volatile const __u32 *)&conn->emitted != *(volatile const __u32 *)&conn->head;
}

/*
 * Writes the events of the answers waiting on the connection whose key is key, oldest first,
 * and steps past requests that will have none. Any emitter, on any CPU, at the same time as
 * others (the claim). A global function: the request stream runs it once per packet while a
 * request is outstanding.
 */
__noinline int answers__emit(struct podlens_conn_state *conn, const struct podlens_conn_key *key) {
  if (!conn || !key) {
    return 0;
  }
  for (int i = 0; i < PODLENS_PENDING_MAX; i++) {
    if (!answers__outstanding(conn)) {
      return 0;
    }
    __u32 k = *(volatile __u32 *)&conn->emitted;
    enum answer_state state = answer__state(conn, k);
    if (state == ANSWER_WAITING) {
      return 0;
    }
    if (state == ANSWER_NONE) {
      answer__claim(conn, k);
      continue;
    }
    const __u32 at = k & (PODLENS_PENDING_MAX - 1);
    struct podlens_http_event e;
    event__fill(&e, conn, &conn->pending[at], &conn->answers[at], key);
    if (answer__claim(conn, k)) {
      event__output(&e);
    }
  }
  return 0;
}
