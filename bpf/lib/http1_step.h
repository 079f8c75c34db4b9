/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * One parse step over the current skb: skip a body span arithmetically, take whole lines
 * on the fast path, or feed the bytes of a split line to the byte-level state machine.
 */
#pragma once

#include "lib/http1_chunked.h"
#include "lib/http1_resync.h"

/*
 * One parse step: skips a body span, or hands a chunked body to http1__chunked_step(), or
 * loads the next PODLENS_PARSE_CHUNK bytes and takes the whole lines in them on the fast
 * path, or else feeds the bytes of the current line to the byte machine up to its end. A
 * global function so the verifier checks it once, not once per iteration of the caller's
 * loop. Returns 1 when there is more to do in this skb, 0 when done with it.
 */
__noinline int http1__parse_step(struct __sk_buff *skb, struct podlens_conn_state *conn,
                                 struct parse_cursor *cur) {
  if (!skb || !conn || !cur || cur->off >= cur->payload_len) {
    return 0;
  }
  struct podlens_stream_state *s = stream__of(conn, cur);
  __u32 avail = cur->payload_len - cur->off;
  switch (s->phase) {
  case PODLENS_PHASE_BODY_LENGTH:
    if (cursor__skip_body(cur, s, avail)) {
      message__body_end(conn, s, cur);
    }
    return 1;
  case PODLENS_PHASE_BODY_CHUNKED:
    return http1__chunked_step(skb, conn, cur);
  case PODLENS_PHASE_BODY_UNTIL_CLOSE:
  case PODLENS_PHASE_TUNNEL:
    cur->off = cur->payload_len;
    return 0;
  case PODLENS_PHASE_RESYNC:
    switch (http1__resync_chunk(skb, cur)) {
    case 1:
      s->phase = PODLENS_PHASE_IDLE;
      return 1;
    case 0:
      return 1;
    default:
      cur->off = cur->payload_len;
      return 0;
    }
  default:
    break;
  }

  struct podlens_scratch *scratch = scratch__get();
  if (!scratch) {
    return 0;
  }
  /* cursor__load() inline by hand: through it (off re-read from cur) the verifier walks
   * this function 26K instructions longer. */
  __u32 n = avail < PODLENS_PARSE_CHUNK ? avail : PODLENS_PARSE_CHUNK;
  barrier_var(n);
  n &= 2 * PODLENS_PARSE_CHUNK - 1; /* a bound the verifier can see; n <= CHUNK already */
  if (n == 0 || bpf_skb_load_bytes(skb, cur->payload_off + cur->off, scratch->chunk, n) < 0) {
    cur->off = cur->payload_len;
    return 0;
  }
  if (fast__applies(s)) {
    __u32 used = fast__lines(conn, s, cur, scratch, n);
    if (used > 0) {
      cur->off += used;
      return 1;
    }
  }
  /* Byte by byte up to the end of the current line; the next step tries the fast path. */
  __u32 used = 0;
  for (__u32 i = 0; i < PODLENS_PARSE_CHUNK; i++) {
    if (i >= n) {
      break;
    }
    used = i + 1;
    __u8 b = scratch->chunk[i];
    if (!http1__feed_byte(conn, cur, b) || b == '\n') {
      break;
    }
  }
  cur->off += used;
  return 1;
}
