/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Line-at-a-time fast path of the HTTP/1.x parser. When a whole line lies in the loaded
 * chunk, it is handled with word operations: one SWAR pass over the chunk marks newlines,
 * spaces and path terminators in bit masks (a bit per byte), and lines are classified by
 * comparing lower-cased words. Whatever it is not sure of (a line split across segments, anything
 * unusual) it leaves to the byte-level state machine of http1_parse.h, which stays the
 * reference: both must leave the stream in the same state.
 */
#pragma once

#include "lib/http1_parse.h"

#define SWAR_ONES 0x0101010101010101ULL
#define SWAR_LOW7 0x7f7f7f7f7f7f7f7fULL
#define SWAR_HIGH 0x8080808080808080ULL
#define SWAR_LOWER 0x2020202020202020ULL

/* Little-endian words of lower-case text (byte i of the text is byte i % 8 of word i / 8). */
#define WORD_CONTENT_ 0x2d746e65746e6f63ULL /* "content-" */
#define WORD_LENGTH_ 0x003a6874676e656cULL  /* "length:" */
#define WORD_TRANSFER 0x726566736e617274ULL /* "transfer" */
#define WORD_ENCODIN 0x6e69646f636e652dULL  /* "-encodin" */
#define WORD_G_ 0x3a67ULL                    /* "g:" */
#define WORD_CONNECTI 0x697463656e6e6f63ULL /* "connecti" */
#define WORD_ON_ 0x3a6e6fULL                 /* "on:" */
#define WORD_HTTP1_ 0x2e312f50545448ULL      /* "HTTP/1." (not lower-cased) */
#define MASK_BYTES(n) ((n) >= 8 ? ~0ULL : ((1ULL << (8 * (n))) - 1))

/* Index of the lowest set bit of v (v != 0), by de Bruijn multiplication. */
static const __u8 debruijn_ctz64[64] = {
    0,  1,  56, 2,  57, 49, 28, 3,  61, 58, 42, 50, 38, 29, 17, 4,  62, 47, 59, 36, 45, 43,
    51, 22, 53, 39, 33, 30, 24, 18, 12, 5,  63, 55, 48, 27, 60, 41, 37, 16, 46, 35, 44, 21,
    52, 32, 23, 11, 54, 26, 40, 15, 34, 20, 31, 10, 25, 14, 19, 9,  13, 8,  7,  6};

static __always_inline __u32 ctz64(__u64 v) {
  return debruijn_ctz64[((v & -v) * 0x03f79d71b4ca8b09ULL) >> 58];
}

/* One bit per byte of x (bit k = byte k) whose high bit is set in flags. */
static __always_inline __u64 swar__compress(__u64 flags) {
  return (((flags >> 7) & SWAR_ONES) * 0x0102040810204080ULL) >> 56;
}

/* High bit of each byte of x that equals c. Exact (no false positives). */
static __always_inline __u64 swar__eq(__u64 x, __u8 c) {
  __u64 y = x ^ (SWAR_ONES * c);
  return ~(((y & SWAR_LOW7) + SWAR_LOW7) | y | SWAR_LOW7);
}

/* High bit of each byte of x below n (n <= 0x80). Exact. */
static __always_inline __u64 swar__below(__u64 x, __u8 n) {
  return ~(((x & SWAR_LOW7) + SWAR_ONES * (0x80 - n)) | x) & SWAR_HIGH;
}

static __always_inline void mask__set_word(struct mask128 *m, int w, __u64 bits) {
  if (w < 8) {
    m->lo |= bits << (8 * w);
  } else {
    m->hi |= bits << (8 * (w - 8));
  }
}

static __always_inline void mask__limit(struct mask128 *m, __u32 n) {
  m->lo &= n >= 64 ? ~0ULL : ((1ULL << n) - 1);
  m->hi &= n >= 128 ? ~0ULL : (n > 64 ? ((1ULL << (n - 64)) - 1) : 0);
}

/* First index >= from whose bit is set, or PODLENS_PARSE_CHUNK. */
static __always_inline __u32 mask__next(const struct mask128 *m, __u32 from) {
  if (from < 64) {
    __u64 rest = m->lo >> from;
    if (rest) {
      return from + ctz64(rest);
    }
    from = 64;
  }
  __u64 rest = from < 128 ? m->hi >> (from - 64) : 0;
  return rest ? from + ctz64(rest) : PODLENS_PARSE_CHUNK;
}

/* Marks the newlines of the chunk in scratch->masks, and the request-line masks when a
 * request line comes next. */
static __always_inline void chunk__masks(struct podlens_scratch *scratch, __u32 n,
                                         int request_line, int keep_query) {
  const __u8 *chunk = scratch->chunk;
  struct chunk_masks *m = &scratch->masks;
  __builtin_memset(m, 0, sizeof(*m));
  /* Real loops, not unrolled: unrolled, their temporaries overflow the 512-byte stack. */
#pragma clang loop unroll(disable)
  for (int w = 0; w < PODLENS_PARSE_CHUNK / 8; w++) {
    __u64 x = *(const __u64 *)(chunk + 8 * w);
    mask__set_word(&m->newline, w, swar__compress(swar__eq(x, '\n')));
    mask__set_word(&m->carriage, w, swar__compress(swar__eq(x, '\r')));
  }
  mask__limit(&m->newline, n);
  mask__limit(&m->carriage, n);
  if (request_line) {
    /* Only the words up to the first newline: the request line is all these masks serve. */
    __u32 first_nl = mask__next(&m->newline, 0);
#pragma clang loop unroll(disable)
    for (int w = 0; w < PODLENS_PARSE_CHUNK / 8; w++) {
      if (8 * w > first_nl) {
        break;
      }
      __u64 x = *(const __u64 *)(chunk + 8 * w);
      __u64 control = swar__below(x, 0x21) | swar__eq(x, 0x7f);
      __u64 query = keep_query ? 0 : swar__eq(x, '?');
      mask__set_word(&m->space, w, swar__compress(swar__eq(x, ' ')));
      mask__set_word(&m->ends_path, w, swar__compress(control | query));
      mask__set_word(&m->ends_query, w, swar__compress(control));
    }
  }
  mask__limit(&m->space, n);
  mask__limit(&m->ends_path, n);
  mask__limit(&m->ends_query, n);
}

static __always_inline __u64 chunk__word(const __u8 *chunk, __u32 at) {
  return *(const __u64 *)(chunk + CHUNK_INDEX(at));
}

/* Request line [i, end) with no CR/LF. Returns 0 when handled, -1 to leave it to the bytes. */
static __always_inline int fast__request_line(struct podlens_conn_state *conn,
                                              struct parse_cursor *cur,
                                              struct podlens_scratch *scratch, __u32 i,
                                              __u32 end) {
  const struct chunk_masks *m = &scratch->masks;
  struct podlens_stream_state *s = stream__of(conn, cur);
  const __u8 *chunk = scratch->chunk;
  __u32 sp = mask__next(&m->space, i);
  __u32 method_len = sp - i;
  if (sp >= end || method_len < 3 || method_len > 7) {
    return -1;
  }
  __u64 token = __builtin_bswap64(chunk__word(chunk, i)) >> (8 * (8 - method_len));
  __u8 method = method__decode(token);
  __u32 path_from = sp + 1;
  __u32 path_end = mask__next(&m->ends_path, path_from);
  __u32 version_sp = path_end;
  if (path_end < end && chunk[CHUNK_INDEX(path_end)] == '?') {
    version_sp = mask__next(&m->ends_query, path_end);
  }
  if (method == PODLENS_METHOD_UNKNOWN || path_end == path_from ||
      chunk[CHUNK_INDEX(path_from)] != '/' || version_sp >= end ||
      chunk[CHUNK_INDEX(version_sp)] != ' ' || end - version_sp != 9) {
    return -1;
  }
  __u64 version = chunk__word(chunk, version_sp + 1);
  __u8 minor = version >> 56;
  if ((version & MASK_BYTES(7)) != WORD_HTTP1_ || minor < '0' || minor > '9') {
    return -1;
  }
  message__start(conn, s, cur);
  struct podlens_pending_request *slot = pending__writing(conn, s);
  slot->method = method;
  __u32 path_len = path_end - path_from;
  if (path_len > PODLENS_PATH_MAX) {
    path_len = PODLENS_PATH_MAX;
    slot->flags |= PODLENS_EVENT_PATH_TRUNCATED;
    loss__count(PODLENS_LOSS_PATH_TRUNCATED);
  }
  /* Whole words, the last one masked: the slot's path was zeroed by message__start. */
#pragma unroll
  for (__u32 w = 0; w < PODLENS_PATH_MAX / 8; w++) {
    if (8 * w < path_len) {
      __u32 left = path_len - 8 * w;
      *(__u64 *)(slot->path + 8 * w) = chunk__word(chunk, path_from + 8 * w) & MASK_BYTES(left);
    }
  }
  slot->path_len = path_len;
  if (minor == '0') {
    s->message_flags |= PODLENS_MSG_HTTP10;
    slot->flags |= PODLENS_EVENT_HTTP10;
  }
  s->phase = PODLENS_PHASE_HEADERS;
  line__reset_header(s);
  return 0;
}

/* Status line [i, end). Returns 0 when handled, -1 to leave it to the bytes. */
static __always_inline int fast__status_line(struct podlens_conn_state *conn,
                                             struct parse_cursor *cur,
                                             struct podlens_scratch *scratch, __u32 i,
                                             __u32 end) {
  struct podlens_stream_state *s = stream__of(conn, cur);
  const __u8 *chunk = scratch->chunk;
  if (end - i < 12) {
    return -1;
  }
  __u64 version = chunk__word(chunk, i);
  __u8 minor = version >> 56;
  __u64 status = chunk__word(chunk, i + 8); /* " SSS " */
  __u8 d0 = status >> 8, d1 = status >> 16, d2 = status >> 24, after = status >> 32;
  if ((version & MASK_BYTES(7)) != WORD_HTTP1_ || minor < '0' || minor > '9' ||
      (status & 0xff) != ' ' || d0 < '0' || d0 > '9' || d1 < '0' || d1 > '9' || d2 < '0' ||
      d2 > '9' || (end - i > 12 && after != ' ')) {
    return -1;
  }
  message__start(conn, s, cur);
  s->status = (d0 - '0') * 100 + (d1 - '0') * 10 + (d2 - '0');
  if (minor == '0') {
    s->message_flags |= PODLENS_MSG_HTTP10;
  }
  s->phase = PODLENS_PHASE_HEADERS;
  line__reset_header(s);
  return 0;
}

/* Which known header a line [i, end) starts with: its value state and value offset. */
static __always_inline __u32 fast__header_kind(const __u8 *chunk, __u32 i, __u32 end,
                                               __u32 *value_from) {
  __u32 len = end - i;
  if (len < 11) {
    return PODLENS_LINE_SKIP;
  }
  __u64 w0 = chunk__word(chunk, i) | SWAR_LOWER;
  __u64 w1 = chunk__word(chunk, i + 8) | SWAR_LOWER;
  if (w0 == WORD_CONTENT_ && len >= 15 && (w1 & MASK_BYTES(7)) == WORD_LENGTH_) {
    *value_from = i + 15;
    return PODLENS_LINE_CONTENT_LENGTH;
  }
  if (w0 == WORD_CONNECTI && (w1 & MASK_BYTES(3)) == WORD_ON_) {
    *value_from = i + 11;
    return PODLENS_LINE_CONNECTION;
  }
  if (w0 == WORD_TRANSFER && len >= 18 && w1 == WORD_ENCODIN &&
      ((chunk__word(chunk, i + 16) | SWAR_LOWER) & MASK_BYTES(2)) == WORD_G_) {
    *value_from = i + 18;
    return PODLENS_LINE_TRANSFER_ENCODING;
  }
  return PODLENS_LINE_SKIP;
}

/* Feeds the value bytes [from, to) of a known header to the byte machine. Global: runs
 * once per interesting header, verified once. */
__noinline int http1__feed_header_value(struct podlens_stream_state *s,
                                        struct podlens_scratch *scratch, __u32 from, __u32 to) {
  if (!s || !scratch) {
    return 0;
  }
  for (__u32 k = 0; k < PODLENS_PARSE_CHUNK; k++) {
    __u32 at = from + k;
    if (at >= to) {
      break;
    }
    header_line__feed(s, scratch->chunk[CHUNK_INDEX(at)]);
  }
  return 0;
}

/* A header line [i, end) that starts where the stream expects a header name. */
static __always_inline int fast__header_line(struct podlens_conn_state *conn,
                                             struct podlens_stream_state *s,
                                             struct parse_cursor *cur,
                                             struct podlens_scratch *scratch, __u32 i,
                                             __u32 end) {
  if (end == i) {
    http1__header_block_end(conn, cur);
    return 0;
  }
  __u32 total = s->header_bytes + (end - i);
  if (total >= PODLENS_HEADER_BLOCK_MAX) {
    http1__lose_sync(conn, s, cur->is_request, PODLENS_LOSS_HEADER_TOO_LONG);
    return 0;
  }
  s->header_bytes = total;
  __u32 value_from = 0;
  __u32 kind = fast__header_kind(scratch->chunk, i, end, &value_from);
  if (kind != PODLENS_LINE_SKIP) {
    s->line_state = kind;
    s->match_pos = 0;
    if (kind == PODLENS_LINE_CONTENT_LENGTH) {
      s->value = 0;
    } else if (kind == PODLENS_LINE_TRANSFER_ENCODING) {
      s->message_flags |= PODLENS_MSG_TRANSFER_ENCODING;
    }
    http1__feed_header_value(s, scratch, value_from, end);
    if (s->message_flags & PODLENS_MSG_BAD_LENGTH) {
      http1__lose_sync(conn, s, cur->is_request, PODLENS_LOSS_UNPARSABLE);
      return 0;
    }
  }
  line__reset_header(s);
  return 0;
}

/* Is the stream at a line start where the fast path can take over? */
static __always_inline int fast__applies(const struct podlens_stream_state *s) {
  if (s->phase == PODLENS_PHASE_IDLE) {
    return 1;
  }
  return s->phase == PODLENS_PHASE_HEADERS && s->line_len == 0 &&
         s->line_state == PODLENS_LINE_HEADER_NAME && s->match_pos == 0;
}

/* Header lines a fast step takes at most (a chunk holds few whole lines). */
#define PODLENS_FAST_LINES_MAX 16

/* The line ending at the first newline at or after i: [i, end), newline at *nl. */
static __always_inline int fast__next_line(struct podlens_scratch *scratch, __u32 i, __u32 n,
                                           __u32 *end, __u32 *nl) {
  __u32 at = mask__next(&scratch->masks.newline, i);
  if (at >= n) {
    return -1;
  }
  *nl = at;
  *end = at > i && scratch->chunk[CHUNK_INDEX(at - 1)] == '\r' ? at - 1 : at;
  /* A CR inside the line: the byte machine's rule (CRs are dropped) decides, not words. */
  return mask__next(&scratch->masks.carriage, i) < *end ? -1 : 0;
}

/*
 * Takes the whole lines at the start of the chunk (n bytes): a start line, then header
 * lines up to the end of the header block. Returns the bytes consumed: 0 when the first
 * line is not whole in the chunk or not plain enough for the fast path.
 */
static __always_inline __u32 fast__lines(struct podlens_conn_state *conn,
                                         struct podlens_stream_state *s,
                                         struct parse_cursor *cur,
                                         struct podlens_scratch *scratch, __u32 n) {
  int start_line = s->phase == PODLENS_PHASE_IDLE;
  chunk__masks(scratch, n, start_line && cur->is_request,
               conn->capture_flags & PODLENS_CAPTURE_KEEP_QUERY);
  __u32 i = 0, end, nl;
  if (start_line) {
    if (fast__next_line(scratch, 0, n, &end, &nl) < 0) {
      return 0;
    }
    int err = cur->is_request ? fast__request_line(conn, cur, scratch, 0, end)
                              : fast__status_line(conn, cur, scratch, 0, end);
    if (err < 0) {
      return 0;
    }
    i = nl + 1;
  }
  for (int line = 0; line < PODLENS_FAST_LINES_MAX; line++) {
    if (!fast__applies(s) || s->phase != PODLENS_PHASE_HEADERS ||
        fast__next_line(scratch, i, n, &end, &nl) < 0) {
      break;
    }
    fast__header_line(conn, s, cur, scratch, i, end);
    i = nl + 1;
  }
  return i;
}
