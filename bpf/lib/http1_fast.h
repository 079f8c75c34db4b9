/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Line-at-a-time fast path of the HTTP/1.x parser. Up to PODLENS_WINDOW payload bytes are
 * loaded once into scratch (the window); each line's end is found by a SWAR search for its
 * first control byte, a word at a time, and every whole line is handled with word operations:
 * start lines, header names compared as lower-cased words, lines nobody needs skipped. Whatever
 * it is not sure of (a line split across segments, a control byte inside a line, anything
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
#define WORD_HTTP1_ 0x2e312f50545448ULL      /* "HTTP/1." (not lower-cased) */
#define MASK_BYTES(n) ((n) >= 8 ? ~0ULL : ((1ULL << (8 * (n))) - 1))

/* Bytes below this are line ends (LF, CR) or other controls the fast path leaves alone. */
#define FAST_CONTROL_BELOW 0x0e
/* Header names the fast path tells apart need this many bytes ("transfer-encoding:"). */
#define FAST_NAME_BYTES 18

/* Index of a window byte: a bound the verifier sees (a word read from it stays inside). */
#define WIN_INDEX(i) ((i) & (PODLENS_WINDOW - 1))

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

/* Index of the first byte flagged (high bit set, no other bit) in flags != 0. The lowest
 * flag moved to bit 0 of its byte k, times a constant whose byte 7 - k holds k, leaves k in
 * the top byte: one multiply, not a multiply and a dependent table load. */
static __always_inline __u32 swar__first(__u64 flags) {
  return (((flags & -flags) >> 7) * 0x0001020304050607ULL) >> 56;
}

/* The newlines among the first n (<= 64) bytes of a chunk, a bit per byte (resync). */
static __always_inline __u64 chunk__newlines(const __u8 *chunk, __u32 n) {
  __u64 bits = 0;
#pragma clang loop unroll(disable)
  for (int w = 0; w < 8; w++) {
    __u64 x = *(const __u64 *)(chunk + 8 * w);
    bits |= swar__compress(swar__eq(x, '\n')) << (8 * w);
  }
  return n >= 64 ? bits : bits & ((1ULL << n) - 1);
}

static __always_inline __u64 chunk__word(const __u8 *chunk, __u32 at) {
  return *(const __u64 *)(chunk + CHUNK_INDEX(at));
}

static __always_inline __u64 win__word(const struct podlens_window *win, __u32 at) {
  return *(const __u64 *)(win->bytes + WIN_INDEX(at));
}

static __always_inline __u8 win__byte(const struct podlens_window *win, __u32 at) {
  return win->bytes[WIN_INDEX(at)];
}

/* Bytes win__next_control() looks at per loop iteration: four words, unrolled. */
#define FAST_SCAN_BYTES 32

/*
 * First window index >= from and below n of a control byte (below FAST_CONTROL_BELOW), or
 * PODLENS_WINDOW when the loaded bytes from there hold none. A word at a time from from:
 * each byte of a line is read once, where its end is looked for, and bytes after the last
 * line taken (a body's) are never read. Bytes past n are stale, hence the bound (a word read
 * past the window's end wraps to its start, and whatever it finds is past n). Where the search
 * stopped goes through memory (cur): the verifier then meets one state after the loop, not
 * one per word the search can stop at (inside the header-line loop, those multiplied past
 * its budget).
 */
static __always_inline __u32 win__next_control(struct parse_cursor *cur,
                                               const struct podlens_window *win, __u32 from,
                                               __u32 n) {
  __u32 at = from;
  __u64 hit = 0;
#pragma clang loop unroll(disable)
  for (int block = 0; block < PODLENS_WINDOW / FAST_SCAN_BYTES; block++) {
    if (at >= n) {
      break;
    }
    __u32 k = 0;
#pragma unroll
    for (; k < FAST_SCAN_BYTES; k += 8) {
      hit = swar__below(win__word(win, at + k), FAST_CONTROL_BELOW);
      if (hit) {
        break;
      }
    }
    if (hit) {
      at += k;
      break;
    }
    at += FAST_SCAN_BYTES;
  }
  cur->scan_at = at;
  cur->scan_hit = hit;
  at = *(volatile __u32 *)&cur->scan_at;
  hit = *(volatile __u64 *)&cur->scan_hit;
  if (!hit) {
    return PODLENS_WINDOW;
  }
  __u32 p = at + swar__first(hit);
  return p < n ? p : PODLENS_WINDOW;
}

/*
 * Makes the window hold cur->off, loading it when it does not. Returns the window index of
 * cur->off, or -1 when the bytes cannot be loaded.
 */
static __always_inline int window__cover(struct __sk_buff *skb, struct parse_cursor *cur,
                                         struct podlens_window *win) {
  __u32 off = cur->off;
  if (cur->win_len && off >= cur->win_base && off - cur->win_base < cur->win_len) {
    return off - cur->win_base;
  }
  __u32 n = cur->payload_len - off;
  if (n > PODLENS_WINDOW) {
    n = PODLENS_WINDOW;
  }
  barrier_var(n);
  n &= 2 * PODLENS_WINDOW - 1; /* a bound the verifier can see; n <= PODLENS_WINDOW already */
  if (n == 0 || bpf_skb_load_bytes(skb, cur->payload_off + off, win->bytes, n) < 0) {
    cur->win_len = 0;
    return -1;
  }
  cur->win_base = off;
  cur->win_len = n;
  return 0;
}

/* Why fast__next_line() found no line. */
#define FAST_NO_LINE_END (-1)  /* no control byte in the loaded bytes: the line goes on */
#define FAST_ODD_CONTROL (-2)  /* a control byte that does not end the line comes first */

/*
 * The line at window index i: [i, *end), its LF at *lf. FAST_NO_LINE_END when the window
 * holds no line end there; FAST_ODD_CONTROL when a control byte other than a CRLF or LF comes
 * first (a bare CR, a tab: the byte machine decides those). The line's ends go through
 * memory (cur): the verifier then follows one unknown value instead of a state per range the
 * search can return.
 */
static __always_inline int fast__next_line(struct parse_cursor *cur,
                                           const struct podlens_window *win, __u32 i, __u32 n,
                                           __u32 *end, __u32 *lf) {
  __u32 at = win__next_control(cur, win, i, n);
  if (at >= n) {
    return FAST_NO_LINE_END;
  }
  __u8 b = win__byte(win, at);
  if (b == '\n') {
    cur->line_end = at;
    cur->line_lf = at;
  } else if (b == '\r' && at + 1 < n && win__byte(win, at + 1) == '\n') {
    cur->line_end = at;
    cur->line_lf = at + 1;
  } else {
    return FAST_ODD_CONTROL;
  }
  *end = *(volatile __u32 *)&cur->line_end;
  *lf = *(volatile __u32 *)&cur->line_lf;
  return 0;
}

/* First byte in [from, end) of a request target that ends the path, or end. keep_query: '?'
 * does not end it. The byte at end is a control byte, so the scan stops there. */
static __always_inline __u32 fast__path_end(const struct podlens_window *win, __u32 from,
                                            __u32 end, int keep_query) {
  __u32 at = from;
#pragma clang loop unroll(disable)
  for (int w = 0; w < PODLENS_WINDOW / 8; w++) {
    if (at >= end) {
      return end;
    }
    __u64 x = win__word(win, at);
    __u64 stop = swar__below(x, 0x21) | swar__eq(x, 0x7f) | (keep_query ? 0 : swar__eq(x, '?'));
    if (stop) {
      __u32 p = at + swar__first(stop);
      return p < end ? p : end;
    }
    at += 8;
  }
  return end;
}

/* Request line [i, end), no control byte in it. Returns 0 when handled, -1 to leave it to
 * the bytes. */
static __always_inline int fast__request_line(struct podlens_conn_state *conn,
                                              struct parse_cursor *cur,
                                              const struct podlens_window *win, __u32 i,
                                              __u32 end) {
  struct podlens_stream_state *s = stream__of(conn, cur);
  __u64 head = win__word(win, i);
  __u64 spaces = swar__eq(head, ' ') & MASK_BYTES(end - i);
  if (!spaces) {
    return -1;
  }
  __u32 method_len = swar__first(spaces);
  if (method_len < 3 || method_len > 7) {
    return -1;
  }
  __u8 method = method__decode(__builtin_bswap64(head) >> (8 * (8 - method_len)));
  __u32 path_from = i + method_len + 1;
  int keep_query = conn->capture_flags & PODLENS_CAPTURE_KEEP_QUERY;
  __u32 path_end = fast__path_end(win, path_from, end, keep_query);
  __u32 version_sp = path_end;
  if (path_end < end && win__byte(win, path_end) == '?') {
    version_sp = fast__path_end(win, path_end + 1, end, 1);
  }
  if (method == PODLENS_METHOD_UNKNOWN || path_end == path_from ||
      win__byte(win, path_from) != '/' || version_sp >= end ||
      win__byte(win, version_sp) != ' ' || end - version_sp != 9) {
    return -1;
  }
  __u64 version = win__word(win, version_sp + 1);
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
  /* Whole words, the last one masked (no byte of a stripped query stays in the map); the
   * words past path_len are stale and masked when the event is written. A loop, not twelve
   * unrolled copies: code the network stack evicts between packets is fetched again. */
#pragma clang loop unroll(disable)
  for (__u32 w = 0; w < PODLENS_PATH_MAX / 8; w++) {
    if (8 * w >= path_len) {
      break;
    }
    __u32 left = path_len - 8 * w;
    *(__u64 *)(slot->path + 8 * w) = win__word(win, path_from + 8 * w) & MASK_BYTES(left);
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

/* Status line [i, end), no control byte in it. Returns 0 when handled, -1 to leave it to
 * the bytes. */
static __always_inline int fast__status_line(struct podlens_conn_state *conn,
                                             struct parse_cursor *cur,
                                             const struct podlens_window *win, __u32 i,
                                             __u32 end) {
  struct podlens_stream_state *s = stream__of(conn, cur);
  if (end - i < 12) {
    return -1;
  }
  __u64 version = win__word(win, i);
  __u8 minor = version >> 56;
  __u64 status = win__word(win, i + 8); /* " SSS " */
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

/* Which known header the len bytes at i start with: its value state and value offset. The
 * bytes read are in the window (no control byte among them: the caller checked). Both names
 * start with 'c' or 't' (either case): most lines are rejected on that one byte. */
static __always_inline __u32 fast__header_kind(const struct podlens_window *win, __u32 i,
                                               __u32 len, __u32 *value_from) {
  __u8 first = win__byte(win, i) | 0x20;
  if (len < 11 || (first != 'c' && first != 't')) {
    return PODLENS_LINE_SKIP;
  }
  __u64 w0 = win__word(win, i) | SWAR_LOWER;
  __u64 w1 = win__word(win, i + 8) | SWAR_LOWER;
  if (w0 == WORD_CONTENT_ && len >= 15 && (w1 & MASK_BYTES(7)) == WORD_LENGTH_) {
    *value_from = i + 15;
    return PODLENS_LINE_CONTENT_LENGTH;
  }
  if (w0 == WORD_TRANSFER && len >= 18 && w1 == WORD_ENCODIN &&
      ((win__word(win, i + 16) | SWAR_LOWER) & MASK_BYTES(2)) == WORD_G_) {
    *value_from = i + 18;
    return PODLENS_LINE_TRANSFER_ENCODING;
  }
  return PODLENS_LINE_SKIP;
}

/* Feeds the value bytes [from, to) of a known header to the byte machine, PODLENS_PARSE_CHUNK
 * of them at most. Global: runs once per interesting header, verified once. */
__noinline int http1__feed_header_value(struct podlens_stream_state *s,
                                        struct podlens_window *win, __u32 from, __u32 to) {
  if (!s || !win) {
    return 0;
  }
  for (__u32 k = 0; k < PODLENS_PARSE_CHUNK; k++) {
    __u32 at = from + k;
    if (at >= to) {
      break;
    }
    header_line__feed(s, win__byte(win, at));
  }
  return 0;
}

/* A known header's line [i, end): its value goes through the byte machine. */
static __always_inline void fast__known_header(struct podlens_conn_state *conn,
                                               struct podlens_stream_state *s,
                                               struct parse_cursor *cur,
                                               struct podlens_window *win, __u32 kind,
                                               __u32 value_from, __u32 end) {
  s->line_state = kind;
  s->match_pos = 0;
  if (kind == PODLENS_LINE_CONTENT_LENGTH) {
    s->value = 0;
  } else if (kind == PODLENS_LINE_TRANSFER_ENCODING) {
    s->message_flags |= PODLENS_MSG_TRANSFER_ENCODING;
  }
#pragma unroll
  for (int part = 0; part < PODLENS_WINDOW / PODLENS_PARSE_CHUNK; part++) {
    __u32 from = value_from + part * PODLENS_PARSE_CHUNK;
    if (from < end) {
      http1__feed_header_value(s, win, from, end);
    }
  }
  if (s->message_flags & PODLENS_MSG_BAD_LENGTH) {
    http1__lose_sync(conn, s, cur->is_request, PODLENS_LOSS_UNPARSABLE);
    return;
  }
  line__reset_header(s);
}

/* What fast__header_line() tells its caller after taking a line. */
#define FAST_LINE_LEFT (-1)   /* not taken: the byte machine decides */
#define FAST_LINE_NEXT 0      /* taken; the stream expects the next header line */
#define FAST_LINE_LAST 1      /* taken; the header block ended or the framing was lost */
#define FAST_LINE_SKIPPED 2   /* taken, a line nobody needs; the next header line expected */

/*
 * A header line [i, end), no control byte in it, that starts where the stream expects a
 * header name (fast__at_header_start). A line that names no known header leaves the stream
 * as it found it: only its bytes are counted.
 */
static __always_inline int fast__header_line(struct podlens_conn_state *conn,
                                             struct podlens_stream_state *s,
                                             struct parse_cursor *cur,
                                             struct podlens_window *win, __u32 i, __u32 end) {
  if (end == i) {
    if (cur->is_request) {
      message__request_headers_end(conn, s); /* small: no call */
    } else {
      http1__header_block_end(conn, cur);
    }
    return FAST_LINE_LAST;
  }
  __u32 total = s->header_bytes + (end - i);
  if (total >= PODLENS_HEADER_BLOCK_MAX) {
    return FAST_LINE_LEFT; /* the byte machine counts the loss at its byte, and resyncs */
  }
  s->header_bytes = total;
  __u32 value_from = 0;
  __u32 kind = fast__header_kind(win, i, end - i, &value_from);
  if (kind == PODLENS_LINE_SKIP) {
    return FAST_LINE_SKIPPED;
  }
  fast__known_header(conn, s, cur, win, kind, value_from, end);
  return s->phase == PODLENS_PHASE_HEADERS ? FAST_LINE_NEXT : FAST_LINE_LAST;
}

/* Is the stream at the start of a header line (nothing of it fed yet, every known name
 * still a candidate)? */
static __always_inline int fast__at_header_start(const struct podlens_stream_state *s) {
  return s->phase == PODLENS_PHASE_HEADERS && s->line_len == 0 &&
         s->line_state == PODLENS_LINE_HEADER_NAME && s->match_pos == 0 &&
         s->match_mask == (HDR_CONTENT_LENGTH | HDR_TRANSFER_ENCODING);
}

/* Is the stream where the fast path can take a whole line: between messages, or at the
 * start of a header line? */
static __always_inline int fast__at_line_start(const struct podlens_stream_state *s) {
  return s->phase == PODLENS_PHASE_IDLE || fast__at_header_start(s);
}

/*
 * Repeated header blocks. A server answers with the same header lines, response after
 * response and connection after connection; what changes (a Date, the seconds of a time)
 * lies inside lines nobody needs. Each CPU keeps, per server (a slot of pl_memos, by its
 * pod's interface and port), the last response block the fast path took whole from its
 * status line to its blank line (struct podlens_header_memo), and a block whose bytes are
 * the memo's, except in words inside such lines and without a control byte, is taken by one
 * compare: the byte machine would leave the stream exactly as it did the memo's block, since
 * what a block leaves in a stream depends on its bytes alone. Such a block's free words go
 * into the memo, so that the responses of the same second are the same bytes as it, the
 * cheaper compare. A memo per CPU stays in that CPU's caches (one per connection was read
 * from memory at each response), and a connection's first response is taken too.
 */

/* This CPU's memo for the server that sends the response stream of conn. */
static __always_inline struct podlens_header_memo *
memo__of(const struct podlens_conn_state *conn, const struct parse_cursor *cur) {
  __u32 slot = podlens_memo_slot(cur->key.ifindex, conn->server_port);
  return bpf_map_lookup_elem(&pl_memos, &slot);
}

/* A bit per word of a block that bytes [from, to) (offsets from its start) hold whole. */
static __always_inline __u32 memo__words_inside(__u32 from, __u32 to) {
  __u32 first = (from + 7) / 8, last = to / 8;
  if (last <= first || last > PODLENS_MEMO_BYTES / 8) {
    return 0;
  }
  return (__u32)(((1ULL << last) - 1) & ~((1ULL << first) - 1));
}

/* Word w of the memo's block (an index the verifier sees inside it). */
static __always_inline __u64 memo__word(const struct podlens_header_memo *m, __u32 w) {
  return *(const __u64 *)(m->bytes + 8 * (w & (PODLENS_MEMO_BYTES / 8 - 1)));
}

/* Words a step of memo__same_bytes(): read at constant offsets from two pointers. */
#define MEMO_STEP_WORDS 4

/*
 * Are the len bytes of the block at window index i the memo's, every one? The common case:
 * the responses of one second are the same bytes (memo__repeats_but_free_words() brings a
 * changed Date into the memo). Four words a step, no branch each, from a pointer into the
 * window: it holds 2 * PODLENS_WINDOW bytes, so a read from i < PODLENS_WINDOW on stays
 * inside it. Then the rest a word at a time, the last one masked to len.
 */
static __always_inline int memo__same_bytes(const struct podlens_header_memo *m,
                                            const struct podlens_window *win, __u32 i,
                                            __u32 len) {
  barrier_var(i); /* the mask stays: the bound the verifier sees, whatever clang knows of i */
  const __u8 *at = win->bytes + WIN_INDEX(i);
  __u32 whole = len / 8;
  __u64 changed = 0;
  __u32 w = 0;
#pragma clang loop unroll(disable)
  for (int step = 0; step < PODLENS_MEMO_BYTES / 8 / MEMO_STEP_WORDS; step++) {
    if (w + MEMO_STEP_WORDS > whole) {
      break;
    }
    const __u64 *x = (const __u64 *)(at + 8 * w);
    const __u64 *y = (const __u64 *)(m->bytes + 8 * w);
    changed |= (x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3]);
    w += MEMO_STEP_WORDS;
  }
#pragma clang loop unroll(disable)
  for (int k = 0; k < MEMO_STEP_WORDS; k++) {
    if (8 * w >= len) {
      break;
    }
    __u64 x = *(const __u64 *)(at + 8 * (w & (PODLENS_MEMO_BYTES / 8 - 1)));
    changed |= (x & MASK_BYTES(len - 8 * w)) ^ memo__word(m, w);
    w++;
  }
  return changed == 0;
}

/*
 * Does the block at window index i repeat the memo but for words inside lines nobody needs
 * (the free words)? Then those words are written into the memo, so that the next block with
 * the same bytes is taken by memo__same_bytes(): once a second for a Date. A changed free
 * word must hold no control byte: one there could end a line.
 */
static __always_inline int memo__repeats_but_free_words(struct podlens_header_memo *m,
                                                         const struct podlens_window *win,
                                                         __u32 i, __u32 len) {
  /* Whole words, no branch each: a change outside the free words marks the block as no
   * repeat; a change inside one is gathered, and its words are looked at after the loop.
   * Then the last, partial word (never free: the block's blank line ends in it). */
  __u32 whole = len / 8;
  __u64 free_left = m->free_words;
  __u64 changed = 0, changed_free = 0;
#pragma clang loop unroll(disable)
  for (__u32 w = 0; w < PODLENS_MEMO_BYTES / 8; w++) {
    if (w >= whole) {
      break;
    }
    __u64 diff = win__word(win, i + 8 * w) ^ memo__word(m, w);
    __u64 fixed = (free_left & 1) - 1; /* all ones for a word that must not change */
    free_left >>= 1;
    changed |= diff & fixed;
    changed_free |= diff & ~fixed;
  }
  __u32 rest = len % 8;
  if (rest) {
    __u64 x = win__word(win, i + 8 * whole) & MASK_BYTES(rest);
    changed |= x ^ memo__word(m, whole);
  }
  if (changed || !changed_free) {
    return 0; /* not a repeat; or the same bytes, which memo__same_bytes() took */
  }
  __u32 free_words = m->free_words;
#pragma clang loop unroll(disable)
  for (__u32 w = 0; w < PODLENS_MEMO_BYTES / 8; w++) {
    if (((free_words >> w) & 1) &&
        swar__below(win__word(win, i + 8 * w), FAST_CONTROL_BELOW)) {
      return 0;
    }
  }
#pragma clang loop unroll(disable)
  for (__u32 w = 0; w < PODLENS_MEMO_BYTES / 8; w++) {
    if ((free_words >> w) & 1) {
      *(__u64 *)(m->bytes + 8 * (w & (PODLENS_MEMO_BYTES / 8 - 1))) = win__word(win, i + 8 * w);
    }
  }
  return 1;
}

/* Does the block at window index i (n bytes loaded) repeat the memo? */
static __always_inline int memo__repeats(struct podlens_header_memo *m,
                                         const struct podlens_window *win, __u32 i, __u32 n) {
  __u32 len = m->len;
  if (len == 0 || len > PODLENS_MEMO_BYTES || i >= PODLENS_WINDOW || n - i < len) {
    return 0;
  }
  return memo__same_bytes(m, win, i, len) || memo__repeats_but_free_words(m, win, i, len);
}

/* Does a block that repeats the memo open a body of m->value bytes for the request it
 * answers (req, NULL when none is waiting)? The memo's length_body answers for the block;
 * a HEAD or a CONNECT still goes through the block's whole end. */
static __always_inline int memo__opens_length_body(const struct podlens_header_memo *m,
                                                   const struct podlens_pending_request *req) {
  return m->length_body &&
         !(req && (req->method == PODLENS_METHOD_HEAD || req->method == PODLENS_METHOD_CONNECT));
}

/* Takes a response's header block at window index i when it repeats the memo: the stream
 * as the memo's block left it at its blank line, then the block's end, inline, a body of
 * known length framed in three branches when the memo says so, and the event of a body that
 * ends in the same packet, inline too (each a cut of a cold packet's code,
 * docs/data-plane.md). Returns 1 when taken. A global function, verified once, apart from the
 * line loop that calls it. */
__noinline int http1__memo_take(struct podlens_conn_state *conn, struct parse_cursor *cur,
                                struct podlens_window *win, __u32 i, __u32 n) {
#ifdef PODLENS_LEDGER_NO_MEMO /* a ledger build (bench/dataplane_ledger.sh) only */
  return 0;
#endif
  if (!conn || !cur || !win || cur->is_request || i >= n || n > PODLENS_WINDOW) {
    return 0;
  }
  if (cur->memo_missed_at == cur->off + 1) {
    return 0; /* http1__response_from_memo() compared this block already */
  }
  struct podlens_header_memo *m = memo__of(conn, cur);
  if (!m || !memo__repeats(m, win, i, n)) {
    return 0;
  }
  struct podlens_stream_state *s = &conn->resp;
  message__start(conn, s, cur);
  s->phase = PODLENS_PHASE_HEADERS;
  line__reset_header(s);
  s->status = m->status;
  s->message_flags = m->message_flags;
  s->value = m->value;
  s->header_bytes = m->header_bytes;
  cur->off = cur->win_base + i + m->len;
  if (memo__opens_length_body(m, pending__answered(conn))) {
    s->phase = PODLENS_PHASE_BODY_LENGTH; /* the common case, in three branches */
    s->body_remaining = s->value;
  } else {
    message__response_headers_end(conn, s, cur);
  }
  if (s->phase == PODLENS_PHASE_BODY_LENGTH && cur->off < cur->payload_len &&
      cursor__skip_body(cur, s, cur->payload_len - cur->off)) {
    /* message__skip_length_body(), with the event inline: a page in the same packet */
    message__answer(conn, s, cur, 0);
    s->phase = PODLENS_PHASE_IDLE;
  }
  return 1;
}

/*
 * A response that starts at cur->off, taken in one call when its header block repeats the
 * memo: a keep-alive server's common case, which otherwise goes through a parse step and the
 * line loop first. On a cold packet (its code and branch history out of L1, as on a node)
 * those two calls and their checks cost 50-110 ns (docs/data-plane.md, Cold packets).
 * Returns 1 when taken; otherwise the parse steps go on, with the window loaded and without
 * a second compare of the block (cur->memo_missed_at). A global function.
 */
__noinline int http1__response_from_memo(struct __sk_buff *skb, struct podlens_conn_state *conn,
                                         struct parse_cursor *cur) {
  if (!skb || !conn || !cur || cur->is_request || conn->resp.phase != PODLENS_PHASE_IDLE ||
      cur->off >= cur->payload_len) {
    return 0;
  }
  struct podlens_scratch *scratch = scratch__get();
  if (!scratch) {
    return 0;
  }
  int at = window__cover(skb, cur, &scratch->window);
  if (at < 0) {
    return 0;
  }
  if (http1__memo_take(conn, cur, &scratch->window, at, cur->win_len)) {
    return 1;
  }
  cur->memo_missed_at = cur->off + 1;
  return 0;
}

/* Keeps the response header block from cur->memo_start to window index end, taken whole by
 * the fast path, and the stream at its blank line, as the server's memo on this CPU. A block
 * too long for a memo leaves the memo as it was: still true of the block it holds. A global
 * function. */
__noinline int http1__memo_keep(struct podlens_conn_state *conn, struct parse_cursor *cur,
                                struct podlens_window *win, __u32 end) {
  if (!conn || !cur || !win) {
    return 0;
  }
  struct podlens_header_memo *m = memo__of(conn, cur);
  if (!m) {
    return 0;
  }
  __u32 start = cur->memo_start;
  __u32 len = end - start;
  if (start >= end || len > PODLENS_MEMO_BYTES) {
    return 0;
  }
#pragma clang loop unroll(disable)
  for (__u32 w = 0; w < PODLENS_MEMO_BYTES / 8; w++) {
    if (8 * w >= len) {
      break;
    }
    *(__u64 *)(m->bytes + 8 * w) = win__word(win, start + 8 * w) & MASK_BYTES(len - 8 * w);
  }
  m->header_bytes = conn->resp.header_bytes;
  m->status = conn->resp.status;
  m->message_flags = conn->resp.message_flags;
  m->length_body = response__frames_length_body(&conn->resp);
  m->value = conn->resp.value;
  m->free_words = cur->memo_free;
  m->len = len;
  return 0;
}

/* Header lines one call of http1__fast_lines() takes at most: the verifier walks each. */
#define PODLENS_FAST_LINES_MAX 12

/*
 * Takes the whole lines of the window (n bytes) from cur->off on: the start line when a
 * message starts there, then header lines up to the blank line that ends the block, until a
 * line is not whole or not plain enough. Advances cur->off past the lines taken (the caller
 * compares it; the return value is always 0, a global function returns a scalar). A global
 * function, verified once: a call per message (and per PODLENS_FAST_LINES_MAX header lines).
 * The position goes through memory (cur) each line: every path through a line then meets
 * the next one in the same verifier state, rather than one state per position range.
 */
__noinline int http1__fast_lines(struct podlens_conn_state *conn, struct parse_cursor *cur,
                                 struct podlens_window *win, __u32 n) {
  if (!conn || !cur || !win || n > PODLENS_WINDOW) {
    return 0;
  }
  struct podlens_stream_state *s = stream__of(conn, cur);
  __u32 end, lf;
  cur->memo_start = PODLENS_WINDOW;
  cur->memo_free = 0;
  if (s->phase == PODLENS_PHASE_IDLE) {
    __u32 i = cur->off - cur->win_base;
    if (i >= n || (!cur->is_request &&
                   http1__memo_take(conn, cur, win, i, n)) ||
        fast__next_line(cur, win, i, n, &end, &lf) < 0) {
      return 0;
    }
    int err = cur->is_request ? fast__request_line(conn, cur, win, i, end)
                              : fast__status_line(conn, cur, win, i, end);
    if (err < 0) {
      return 0;
    }
    cur->off = cur->win_base + lf + 1;
    if (!cur->is_request) {
      cur->memo_start = i; /* the block may become the memo: see http1__memo_take */
    }
  }
  if (!fast__at_header_start(s)) {
    return 0;
  }
  for (int line = 0; line < PODLENS_FAST_LINES_MAX; line++) {
    __u32 i = *(volatile __u32 *)&cur->off - cur->win_base;
    if (i >= n || fast__next_line(cur, win, i, n, &end, &lf) < 0) {
      return 0;
    }
    if (end == i && cur->memo_start < i) {
      http1__memo_keep(conn, cur, win, lf + 1);
    }
    int taken = fast__header_line(conn, s, cur, win, i, end);
    if (taken == FAST_LINE_LEFT) {
      return 0;
    }
    cur->off = cur->win_base + lf + 1;
    if (taken == FAST_LINE_LAST) {
      return 0;
    }
    if (taken == FAST_LINE_SKIPPED && cur->memo_start < i) {
      __u32 start = cur->memo_start;
      cur->memo_free |= memo__words_inside(i + FAST_NAME_BYTES - start, end - start);
    }
  }
  return 0;
}

/*
 * Bytes of a header line nobody needs, from window index i (n loaded): the line is either
 * one the stream already skips (mid-line) or one that starts at i and whose first
 * FAST_NAME_BYTES bytes name no known header. Counts the bytes up to the line end, or to the
 * end of the window, and at a line end finishes the line as the byte machine does. Returns
 * the window index it stopped at; i when the byte machine must decide (a control byte other
 * than the line end, or a bound reached).
 */
static __always_inline __u32 fast__skip_line(struct podlens_conn_state *conn,
                                             struct podlens_stream_state *s,
                                             struct parse_cursor *cur,
                                             const struct podlens_window *win, __u32 i,
                                             __u32 n) {
  __u32 end = n, lf = n;
  int found = fast__next_line(cur, win, i, n, &end, &lf);
  if (found == FAST_ODD_CONTROL) {
    return i; /* a control byte inside: the byte machine decides */
  }
  int whole = found == 0;
  if (fast__at_header_start(s)) {
    __u32 unused;
    if (end - i < FAST_NAME_BYTES ||
        fast__header_kind(win, i, end - i, &unused) != PODLENS_LINE_SKIP) {
      return i;
    }
  } else if (!(s->phase == PODLENS_PHASE_HEADERS && s->line_state == PODLENS_LINE_SKIP &&
               s->line_len > 0)) {
    return i;
  }
  __u32 bytes = end - i;
  __u32 total = s->header_bytes + bytes;
  if (total >= PODLENS_HEADER_BLOCK_MAX) {
    return i; /* the byte machine counts the loss at the byte it happens */
  }
  s->header_bytes = total;
  s->line_len += bytes;
  s->line_state = PODLENS_LINE_SKIP;
  if (!whole) {
    return n;
  }
  if (line__end(conn, s, cur) < 0) {
    http1__lose_sync(conn, s, cur->is_request, PODLENS_LOSS_UNPARSABLE);
  }
  return lf + 1;
}
