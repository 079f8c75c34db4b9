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
 * takes the whole lines of the window (loaded when it does not hold cur->off) on the fast
 * path, or skips a line nobody needs, or else feeds the bytes of the current line to the byte
 * machine up to its end. A global function so the verifier checks it once, not once per
 * iteration of the caller's loop. Returns 1 when there is more to do in this skb, 0 when
 * done with it.
 */
__noinline int http1__parse_step(struct __sk_buff *skb, struct podlens_conn_state *conn,
                                 struct parse_cursor *cur) {
  if (!skb || !conn || !cur || cur->off >= cur->payload_len) {
    return 0;
  }
  struct podlens_stream_state *s = stream__of(conn, cur);
  switch (s->phase) {
  case PODLENS_PHASE_BODY_LENGTH:
    message__skip_length_body(conn, s, cur);
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
  struct podlens_window *win = &scratch->window;
  int at = window__cover(skb, cur, win);
  if (at < 0) {
    cur->off = cur->payload_len;
    return 0;
  }
  __u32 i = at, n = cur->win_len;
  if (n > PODLENS_WINDOW || i >= n) {
    cur->off = cur->payload_len;
    return 0;
  }
  __u32 from = cur->off;
  if (fast__at_line_start(s)) {
    http1__fast_lines(conn, cur, win, n);
    if (cur->off != from) {
      return 1;
    }
  }
  if (s->phase == PODLENS_PHASE_HEADERS) {
    __u32 next = fast__skip_line(conn, s, cur, win, i, n);
    if (next > i) {
      cur->off = cur->win_base + next;
      return 1;
    }
  }
  /* Byte by byte up to the end of the current line; the next step tries the fast path. */
  __u32 used = 0;
  for (__u32 k = 0; k < PODLENS_PARSE_CHUNK; k++) {
    if (i + k >= n) {
      break;
    }
    used = k + 1;
    __u8 b = win__byte(win, i + k);
    if (!http1__feed_byte(conn, cur, b) || b == '\n') {
      break;
    }
  }
  cur->off += used;
  return 1;
}
