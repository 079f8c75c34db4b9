/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Chunked transfer coding (RFC 9112 7.1): chunk-size lines with their extensions, the CRLF
 * after each chunk's data, the last (zero) chunk, trailer lines and the blank line that ends
 * the message. Chunk data is never read: http1__parse_step() skips it arithmetically like a
 * Content-Length body, and so does this file when a chunk lies wholly in the loaded bytes.
 * All state lives in the stream (line_state CHUNK_*, value, match_pos, line_len,
 * header_bytes), so every line can be cut anywhere by TCP.
 */
#pragma once

#include "lib/http1_parse.h"

/* What one byte of chunk framing did. */
enum chunk_result {
  CHUNK_BAD = -1, /* not chunked framing: lose sync */
  CHUNK_MORE = 0, /* go on with the next byte */
  CHUNK_DATA = 1, /* a size line ended: body_remaining bytes of data follow */
  CHUNK_DONE = 2, /* the blank line after the trailers: the message is complete */
};

/* Value of a hex digit, or 16 when b is not one. */
static __always_inline __u32 hex_value(__u8 b) {
  if (is_digit(b)) {
    return b - '0';
  }
  __u8 lc = b | 0x20;
  return lc >= 'a' && lc <= 'f' ? lc - 'a' + 10 : 16;
}

/* The end of a chunk-size line: data follows, or the trailers when the size is 0. */
static __always_inline int chunk__size_end(struct podlens_stream_state *s) {
  if (s->value == 0) {
    s->line_state = PODLENS_LINE_TRAILER;
    s->line_len = 0;
    s->header_bytes = 0;
    return CHUNK_MORE;
  }
  s->line_state = PODLENS_LINE_CHUNK_DATA;
  s->body_remaining = s->value;
  return CHUNK_DATA;
}

/* Trailer lines are skipped like unknown headers; the blank line ends the message. */
static __always_inline int chunk__trailer_feed(struct podlens_stream_state *s, __u8 b) {
  if (b == '\n') {
    if (s->line_len == 0) {
      return CHUNK_DONE;
    }
    s->line_len = 0;
    return CHUNK_MORE;
  }
  s->line_len = 1; /* the line is not blank */
  return ++s->header_bytes >= PODLENS_HEADER_BLOCK_MAX ? CHUNK_BAD : CHUNK_MORE;
}

/*
 * One byte of chunk framing (never chunk data). CRs are dropped wherever they stand, as in
 * every other line (http1__feed_byte), so a CR cut from its LF by TCP changes nothing.
 */
static __always_inline int chunk__feed(struct podlens_stream_state *s, __u8 b) {
  if (b == '\r') {
    return CHUNK_MORE;
  }
  switch (s->line_state) {
  case PODLENS_LINE_CHUNK_SIZE: {
    __u32 digit = hex_value(b);
    if (digit < 16) {
      if (s->match_pos >= PODLENS_CHUNK_DIGITS_MAX) {
        return CHUNK_BAD;
      }
      s->value = (s->value << 4) | digit;
      s->match_pos++;
      break;
    }
    if (s->match_pos == 0) {
      return CHUNK_BAD; /* a size line starts with a hex digit */
    }
    if (b == '\n') {
      return chunk__size_end(s);
    }
    if (b != ';' && b != ' ' && b != '\t') {
      return CHUNK_BAD;
    }
    s->line_state = PODLENS_LINE_CHUNK_EXT; /* ";name=value" after optional blanks */
    break;
  }
  case PODLENS_LINE_CHUNK_EXT:
    if (b == '\n') {
      return chunk__size_end(s);
    }
    break;
  case PODLENS_LINE_CHUNK_DATA_END:
    if (b != '\n') {
      return CHUNK_BAD;
    }
    s->line_state = PODLENS_LINE_CHUNK_SIZE;
    s->value = 0;
    s->match_pos = 0;
    s->line_len = 0;
    return CHUNK_MORE;
  case PODLENS_LINE_TRAILER:
    return chunk__trailer_feed(s, b);
  default:
    return CHUNK_BAD;
  }
  /* Size and extensions: one bounded line. */
  return ++s->line_len >= PODLENS_CHUNK_LINE_MAX ? CHUNK_BAD : CHUNK_MORE;
}

/*
 * Feeds the chunk framing among the n bytes loaded in scratch->chunk from cur->off,
 * advancing cur->off (by 1 at least). Data of a chunk that ends inside them is jumped over;
 * data that goes on is left to the arithmetic skip of the next step. Completes the response
 * at the blank line after the trailers; on bad framing a response is still reported
 * (PODLENS_EVENT_NO_BODY_FRAMING: its status is known, its end is not) and the stream
 * resynchronises. A global function, verified once. The position is re-read from cur
 * (memory) each iteration: in a register, the verifier would track one state per offset.
 */
__noinline int http1__chunk_framing(struct podlens_conn_state *conn, struct parse_cursor *cur,
                                    struct podlens_scratch *scratch, __u32 n) {
  if (!conn || !cur || !scratch) {
    return 0;
  }
  __u32 base = cur->off;
  struct podlens_stream_state *s = stream__of(conn, cur);
  __u32 end = base + n;
  for (__u32 k = 0; k < PODLENS_PARSE_CHUNK; k++) {
    __u32 at = *(volatile __u32 *)&cur->off; /* a fresh load, not last iteration's value */
    if (at >= end) {
      break;
    }
    cur->off = at + 1;
    int r = chunk__feed(s, scratch->chunk[CHUNK_INDEX(at - base)]);
    if (r == CHUNK_DATA) {
      if (s->body_remaining > end - (at + 1)) {
        return 0; /* the data goes on past the loaded bytes */
      }
      cur->off = at + 1 + s->body_remaining;
      s->body_remaining = 0;
      s->line_state = PODLENS_LINE_CHUNK_DATA_END;
    } else if (r != CHUNK_MORE) {
      if (!cur->is_request) {
        message__complete_response(conn, s, cur,
                                   r == CHUNK_DONE ? 0 : PODLENS_EVENT_NO_BODY_FRAMING);
      }
      if (r == CHUNK_DONE) {
        s->phase = PODLENS_PHASE_IDLE;
      } else {
        http1__lose_sync(conn, s, cur->is_request, PODLENS_LOSS_CHUNK_FRAMING);
      }
      return 0;
    }
  }
  return 0;
}

/*
 * One parse step inside a chunked body: skips chunk data arithmetically, or loads the next
 * bytes and feeds their chunk framing. A global function: parse_step only dispatches here.
 * Returns 1 (more to do in this skb).
 */
__noinline int http1__chunked_step(struct __sk_buff *skb, struct podlens_conn_state *conn,
                                   struct parse_cursor *cur) {
  if (!skb || !conn || !cur || cur->off >= cur->payload_len) {
    return 0;
  }
  struct podlens_stream_state *s = stream__of(conn, cur);
  if (s->line_state == PODLENS_LINE_CHUNK_DATA) {
    if (cursor__skip_body(cur, s, cur->payload_len - cur->off)) {
      s->line_state = PODLENS_LINE_CHUNK_DATA_END;
    }
    return 1;
  }
  struct podlens_scratch *scratch = scratch__get();
  __u32 n = scratch ? cursor__load(skb, cur, cur->off, scratch) : 0;
  if (n == 0) {
    cur->off = cur->payload_len;
    return 0;
  }
  http1__chunk_framing(conn, cur, scratch, n); /* advances cur->off by 1 at least */
  return 1;
}
