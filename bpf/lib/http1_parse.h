/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * HTTP/1.x byte-level state machine. It keeps all of its state in the connection's
 * podlens_stream_state, so a line or header split over any number of TCP segments
 * continues where the previous segment stopped. Bodies are never fed byte by byte:
 * http1__parse_step() skips them arithmetically.
 */
#pragma once

#include "lib/http1_message.h"

_Static_assert(PODLENS_PARSE_CHUNK == 64, "chunk size: resync masks are one u64");
#define CHUNK_INDEX(i) ((i) & (2 * PODLENS_PARSE_CHUNK - 1)) /* a bound the verifier sees */

/*
 * Lower-case names and value tokens, packed little-endian into u64 words (byte i of the text
 * is byte i % 8 of word i / 8) so they live in instructions, not in a .rodata map.
 */
struct packed_text {
  __u64 w0, w1, w2;
  __u32 len;
};
#define TEXT_CONTENT_LENGTH \
  ((struct packed_text){0x2d746e65746e6f63ULL, 0x003a6874676e656cULL, 0, 15})
#define TEXT_TRANSFER_ENCODING \
  ((struct packed_text){0x726566736e617274ULL, 0x6e69646f636e652dULL, 0x3a67ULL, 18})
#define TEXT_CHUNKED ((struct packed_text){0x0064656b6e756863ULL, 0, 0, 7})

/* Byte pos of a packed text, or 0 past its end. */
static __always_inline __u8 text__byte(struct packed_text t, __u32 pos) {
  if (pos >= t.len) {
    return 0;
  }
  __u64 word = pos < 8 ? t.w0 : (pos < 16 ? t.w1 : t.w2);
  return (word >> (8 * (pos & 7))) & 0xff;
}

/* "HTTP/1." packed big-endian: byte i is (>> 8 * (6 - i)). */
#define HTTP_VERSION_PREFIX 0x485454502f312eULL
#define HTTP_VERSION_PREFIX_LEN 7

static __always_inline __u8 version_prefix_byte(__u32 pos) {
  return (HTTP_VERSION_PREFIX >> (8 * (6 - pos))) & 0xff;
}

static __always_inline int is_digit(__u8 b) { return b >= '0' && b <= '9'; }

/* Method tokens packed big-endian into a u64, as the request line is read. */
static __always_inline __u8 method__decode(__u64 token) {
  switch (token) {
  case 0x474554ULL: return PODLENS_METHOD_GET;
  case 0x48454144ULL: return PODLENS_METHOD_HEAD;
  case 0x504f5354ULL: return PODLENS_METHOD_POST;
  case 0x505554ULL: return PODLENS_METHOD_PUT;
  case 0x44454c455445ULL: return PODLENS_METHOD_DELETE;
  case 0x434f4e4e454354ULL: return PODLENS_METHOD_CONNECT;
  case 0x4f5054494f4e53ULL: return PODLENS_METHOD_OPTIONS;
  case 0x5452414345ULL: return PODLENS_METHOD_TRACE;
  case 0x5041544348ULL: return PODLENS_METHOD_PATCH;
  default: return PODLENS_METHOD_UNKNOWN;
  }
}

/* Request line. Returns 0 to go on, -1 when the bytes are not a request line. */
static __always_inline int request_line__feed(struct podlens_conn_state *conn,
                                              struct podlens_stream_state *s, __u8 b) {
  struct podlens_pending_request *slot = pending__writing(conn, s);
  switch (s->line_state) {
  case PODLENS_LINE_METHOD:
    if (b == ' ' && s->line_len > 0) {
      slot->method = method__decode(s->value);
      s->line_state = PODLENS_LINE_PATH;
      return slot->method == PODLENS_METHOD_UNKNOWN ? -1 : 0;
    }
    if (b < 'A' || b > 'Z' || s->line_len >= PODLENS_METHOD_TOKEN_MAX) {
      return -1;
    }
    s->value = (s->value << 8) | b;
    return 0;
  case PODLENS_LINE_PATH:
    if (b == ' ') {
      s->line_state = PODLENS_LINE_VERSION;
      s->match_pos = 0;
      return 0;
    }
    if (b < 0x21 || b == 0x7f) {
      return -1;
    }
    if (slot->path_len == 0 && b != '/' &&
        (b != '?' || (conn->capture_flags & PODLENS_CAPTURE_KEEP_QUERY))) {
      /* Absolute URI, authority or '*': it may hold a host or credentials, so none of it
       * is captured (the query state skips to the version). */
      slot->flags |= PODLENS_EVENT_NOT_ORIGIN_FORM;
      s->line_state = PODLENS_LINE_QUERY;
      return 0;
    }
    if (b == '?' && !(conn->capture_flags & PODLENS_CAPTURE_KEEP_QUERY)) {
      s->line_state = PODLENS_LINE_QUERY;
      return 0;
    }
    __u32 len = slot->path_len;
    if (len < PODLENS_PATH_MAX) {
      slot->path[len] = b;
      slot->path_len = len + 1;
    } else if (!(slot->flags & PODLENS_EVENT_PATH_TRUNCATED)) {
      slot->flags |= PODLENS_EVENT_PATH_TRUNCATED;
      loss__count(PODLENS_LOSS_PATH_TRUNCATED);
    }
    return 0;
  case PODLENS_LINE_QUERY:
    if (b == ' ') {
      s->line_state = PODLENS_LINE_VERSION;
      s->match_pos = 0;
    }
    return 0;
  default: { /* PODLENS_LINE_VERSION: "HTTP/1." then the minor digit */
    __u32 pos = s->match_pos;
    s->match_pos = pos + 1;
    if (pos < HTTP_VERSION_PREFIX_LEN) {
      return b == version_prefix_byte(pos) ? 0 : -1;
    }
    if (pos == HTTP_VERSION_PREFIX_LEN && is_digit(b)) {
      if (b == '0') {
        s->message_flags |= PODLENS_MSG_HTTP10;
        slot->flags |= PODLENS_EVENT_HTTP10;
      }
      return 0;
    }
    return -1;
  }
  }
}

/* Status line "HTTP/1.x SSS reason". Returns 0 to go on, -1 when it is not one. */
static __always_inline int status_line__feed(struct podlens_stream_state *s, __u8 b) {
  __u32 pos = s->line_len;
  if (pos < HTTP_VERSION_PREFIX_LEN) {
    return b == version_prefix_byte(pos) ? 0 : -1;
  }
  if (pos == 7) {
    if (b == '0') {
      s->message_flags |= PODLENS_MSG_HTTP10;
    }
    return is_digit(b) ? 0 : -1;
  }
  if (pos == 8) {
    return b == ' ' ? 0 : -1;
  }
  if (pos <= 11) {
    if (!is_digit(b)) {
      return -1;
    }
    s->status = s->status * 10 + (b - '0');
    return 0;
  }
  if (pos == 12) {
    return b == ' ' ? 0 : -1;
  }
  return 0; /* reason phrase */
}

static __always_inline int start_line__complete(const struct podlens_stream_state *s,
                                                int is_request) {
  if (is_request) {
    return s->line_state == PODLENS_LINE_VERSION && s->match_pos == HTTP_VERSION_PREFIX_LEN + 1;
  }
  return s->line_len >= 12;
}

/* Narrows the candidate header names by one more byte of the name. */
static __always_inline void header_name__feed(struct podlens_stream_state *s, __u8 b) {
  __u8 lc = b | 0x20; /* names hold only lower-case letters, '-' and ':' */
  __u32 pos = s->match_pos;
  __u8 mask = s->match_mask;
  if ((mask & HDR_CONTENT_LENGTH) && text__byte(TEXT_CONTENT_LENGTH, pos) != lc) {
    mask &= ~HDR_CONTENT_LENGTH;
  }
  if ((mask & HDR_TRANSFER_ENCODING) && text__byte(TEXT_TRANSFER_ENCODING, pos) != lc) {
    mask &= ~HDR_TRANSFER_ENCODING;
  }
  pos++;
  s->match_mask = mask;
  s->match_pos = pos;
  if (mask == 0) {
    s->line_state = PODLENS_LINE_SKIP;
  } else if ((mask & HDR_CONTENT_LENGTH) && pos == TEXT_CONTENT_LENGTH.len) {
    s->line_state = PODLENS_LINE_CONTENT_LENGTH;
    s->match_pos = 0; /* from here: digits seen */
    s->value = 0;
  } else if ((mask & HDR_TRANSFER_ENCODING) && pos == TEXT_TRANSFER_ENCODING.len) {
    s->line_state = PODLENS_LINE_TRANSFER_ENCODING;
    s->match_pos = 0;
    s->message_flags |= PODLENS_MSG_TRANSFER_ENCODING;
  }
}

/* Content-Length: optional blanks, then digits; anything else makes the framing unknown. */
static __always_inline void content_length__feed(struct podlens_stream_state *s, __u8 b) {
  if (b == ' ' || b == '\t') {
    if (s->match_pos) {
      s->line_state = PODLENS_LINE_SKIP; /* trailing blanks */
    }
    return;
  }
  if (!is_digit(b) || s->value > 100000000000000ULL) {
    s->message_flags |= PODLENS_MSG_BAD_LENGTH;
    s->line_state = PODLENS_LINE_SKIP;
    return;
  }
  s->value = s->value * 10 + (b - '0');
  s->match_pos = 1;
  s->message_flags |= PODLENS_MSG_CONTENT_LENGTH;
}

/* Finds a token anywhere in a header value ("chunked", "close"); sets flag when found. */
static __always_inline void value_token__feed(struct podlens_stream_state *s, __u8 b,
                                              struct packed_text token, __u8 flag) {
  __u8 lc = b | 0x20;
  __u32 pos = s->match_pos;
  if (text__byte(token, pos) == lc) {
    pos++;
  } else {
    pos = text__byte(token, 0) == lc ? 1 : 0;
  }
  s->match_pos = pos;
  if (pos == token.len) {
    s->message_flags |= flag;
    s->line_state = PODLENS_LINE_SKIP;
  }
}

static __always_inline void header_line__feed(struct podlens_stream_state *s, __u8 b) {
  switch (s->line_state) {
  case PODLENS_LINE_HEADER_NAME:
    header_name__feed(s, b);
    break;
  case PODLENS_LINE_CONTENT_LENGTH:
    content_length__feed(s, b);
    break;
  case PODLENS_LINE_TRANSFER_ENCODING:
    value_token__feed(s, b, TEXT_CHUNKED, PODLENS_MSG_CHUNKED);
    break;
  default:
    break;
  }
}

/* The end of a non-empty line ('\n'). Returns 0 to go on, -1 on a broken start line. */
static __always_inline int line__end(struct podlens_conn_state *conn,
                                     struct podlens_stream_state *s,
                                     struct parse_cursor *cur) {
  if (s->phase == PODLENS_PHASE_START_LINE) {
    if (!start_line__complete(s, cur->is_request)) {
      return -1;
    }
    s->phase = PODLENS_PHASE_HEADERS;
    line__reset_header(s);
    return 0;
  }
  if (s->message_flags & PODLENS_MSG_BAD_LENGTH) {
    return -1;
  }
  line__reset_header(s);
  return 0;
}

/*
 * The blank line that ends the header block: commit the request or complete the
 * transaction. A global function: it runs once per message, and the verifier checks its
 * event-emitting paths once rather than at every byte position of its callers' loops.
 */
__noinline int http1__header_block_end(struct podlens_conn_state *conn,
                                       struct parse_cursor *cur) {
  if (!conn || !cur) {
    return 0;
  }
  struct podlens_stream_state *s = stream__of(conn, cur);
  if (cur->is_request) {
    message__request_headers_end(conn, s);
  } else {
    message__response_headers_end(conn, s, cur);
  }
  return 0;
}

/*
 * Feeds one byte of a start line or header block: the reference state machine, used for
 * lines the fast path does not take (split across segments, unusual). A global function,
 * verified once: it runs only for those lines, so a call per byte is affordable.
 * Returns 1 while the stream stays in byte-level phases, 0 when it has left them
 * (body, message end, lost sync) so the caller re-dispatches.
 */
__noinline int http1__feed_byte(struct podlens_conn_state *conn, struct parse_cursor *cur,
                                __u32 b) {
  if (!conn || !cur) {
    return 0;
  }
  struct podlens_stream_state *s = stream__of(conn, cur);
  if (s->phase == PODLENS_PHASE_IDLE) {
    if (b == '\r' || b == '\n') {
      return 1; /* empty lines before a message are to be ignored (RFC 9112 2.2) */
    }
    message__start(conn, s, cur);
  }
  if (b == '\r') {
    return 1;
  }
  if (b == '\n') {
    if (s->phase == PODLENS_PHASE_HEADERS && s->line_len == 0) {
      http1__header_block_end(conn, cur);
      return 0;
    }
    if (line__end(conn, s, cur) < 0) {
      http1__lose_sync(conn, s, cur->is_request, PODLENS_LOSS_UNPARSABLE);
      return 0;
    }
    return 1;
  }
  if (s->phase == PODLENS_PHASE_START_LINE) {
    int err = cur->is_request ? request_line__feed(conn, s, b) : status_line__feed(s, b);
    if (err < 0) {
      http1__lose_sync(conn, s, cur->is_request, PODLENS_LOSS_UNPARSABLE);
      return 0;
    }
    if (++s->line_len >= PODLENS_START_LINE_MAX) {
      http1__lose_sync(conn, s, cur->is_request, PODLENS_LOSS_HEADER_TOO_LONG);
      return 0;
    }
    return 1;
  }
  s->line_len++;
  if (++s->header_bytes >= PODLENS_HEADER_BLOCK_MAX) {
    http1__lose_sync(conn, s, cur->is_request, PODLENS_LOSS_HEADER_TOO_LONG);
    return 0;
  }
  header_line__feed(s, b);
  return 1;
}

