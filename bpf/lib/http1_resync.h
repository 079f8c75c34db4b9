/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Finding the start of a message after framing was lost (a gap, bad framing) or in a
 * connection with no state (evicted, or opened before its pod was selected).
 *
 * Candidates are the first new byte of a segment and every byte after a '\n', within the
 * first PODLENS_RESYNC_SCAN_MAX bytes from where the search starts. A candidate is taken
 * when it starts a known method and a space (requests) or "HTTP/1." (responses); when the
 * segment ends before that much is there, when the bytes present could still be one
 * (upper-case letters, a prefix of "HTTP/1."), and the byte machine decides with the next
 * segment. A line inside a body can look like a message start; the full request or status
 * line still has to parse before anything is reported.
 */
#pragma once

#include "lib/http1_fast.h"

#define PODLENS_RESYNC_SCAN_MAX 1024

/* Candidates looked at per chunk; past them, the next chunk starts at the next one. */
#define PODLENS_RESYNC_CANDIDATES 8

/* Is x (have bytes, have < 8) all upper-case letters? */
static __always_inline int swar__all_upper(__u64 x, __u32 have) {
  __u64 upper = swar__below(x, 'Z' + 1) & ~swar__below(x, 'A');
  __u64 want = (1ULL << have) - 1;
  return (swar__compress(upper) & want) == want;
}

/*
 * Could a message start at byte p of the n loaded bytes? more: the payload goes on past
 * them. Returns 1 yes, 0 no, -1 when a decision needs bytes not loaded yet.
 */
static __always_inline int resync__candidate(const __u8 *chunk, __u32 p, __u32 n, int more,
                                             int is_request) {
  __u32 have = n - p;
  __u64 x = chunk__word(chunk, p); /* bytes past n are stale: masked below */
  if (have < 8) {
    if (more) {
      return -1;
    }
    x &= MASK_BYTES(have);
  } else {
    have = 8;
  }
  if (!is_request) {
    __u32 k = have < HTTP_VERSION_PREFIX_LEN ? have : HTTP_VERSION_PREFIX_LEN;
    return (x & MASK_BYTES(k)) == (WORD_HTTP1_ & MASK_BYTES(k));
  }
  __u64 spaces = swar__compress(swar__eq(x, ' ')) & ((1ULL << have) - 1);
  if (!spaces) {
    return have < 8 && swar__all_upper(x, have); /* the segment ends inside the method */
  }
  __u32 len = ctz64(spaces);
  if (len < 3) {
    return 0;
  }
  return method__decode(__builtin_bswap64(x) >> (8 * (8 - len))) != PODLENS_METHOD_UNKNOWN;
}

/*
 * Looks for the start of a message of the cursor's stream in the next chunk from cur->off.
 * Returns 1 when found (cur->off is there), 0 when not yet (cur->off advanced past the
 * chunk, or to a candidate the next call decides), -1 when the payload or the scan window
 * (cur->scan_left) is used up. A global function, verified once; callers loop.
 */
__noinline int http1__resync_chunk(struct __sk_buff *skb, struct parse_cursor *cur) {
  if (!skb || !cur) {
    return -1;
  }
  struct podlens_scratch *scratch = scratch__get();
  __u32 off = cur->off;
  if (!scratch || off >= cur->payload_len || cur->scan_left == 0) {
    return -1;
  }
  __u32 avail = cur->payload_len - off;
  __u32 n = cursor__load(skb, cur, off, scratch);
  if (n == 0) {
    return -1;
  }
  __u64 newlines = chunk__newlines(scratch->chunk, n);
  __u64 candidates = (newlines << 1) | (off == cur->line_start_at);
  if (n < 64) {
    candidates &= (1ULL << n) - 1;
  }
  __u32 next = n; /* where the next call starts */
  for (int k = 0; k < PODLENS_RESYNC_CANDIDATES; k++) {
    if (!candidates) {
      break;
    }
    __u32 p = ctz64(candidates) & 63;
    candidates &= candidates - 1;
    int r = resync__candidate(scratch->chunk, p, n, avail > n, cur->is_request);
    if (r > 0) {
      cur->off = off + p;
      return 1;
    }
    if (r < 0) {
      next = p; /* decided by the next load, which starts at p */
      break;
    }
  }
  if (next == n && candidates) {
    next = ctz64(candidates) & 63; /* more candidates than one call looks at */
  }
  if (next == 0) {
    next = 1;
  }
  if (next < n || ((newlines >> (n - 1)) & 1)) {
    cur->line_start_at = off + next;
  }
  cur->off = off + next;
  cur->scan_left = cur->scan_left > next ? cur->scan_left - next : 0;
  return 0;
}
