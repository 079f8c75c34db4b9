/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Events out to pl_events, a record each, written by the emitters of lib/answers.h: the
 * request stream's packets, the packets that end a connection, the sweep. None of them is a
 * response's packet in the common case, so the server's CPU, the one a keep-alive maximum
 * waits on, writes no event (docs/data-plane.md, Where the event is written).
 */
#pragma once

#include "lib/maps.h"

/* Writes the first PODLENS_EVENT_BYTES(path_len) bytes of e to pl_events as a record of its
 * own: a loss (counted) when the ring has no room. */
static __always_inline void event__output(struct podlens_http_event *e) {
  __u32 bytes = PODLENS_EVENT_BYTES(e->path_len);
  if (bytes > sizeof(*e)) {
    bytes = sizeof(*e); /* never: path_len <= PODLENS_PATH_MAX; a bound for the verifier */
  }
  __u64 record = PODLENS_EVENTS_RECORD_BYTES(bytes);
  __u64 end = bpf_ringbuf_query(&pl_events, BPF_RB_PROD_POS) + record;
  if (bpf_ringbuf_output(&pl_events, e, bytes, events__wakeup_flags(end, record)) < 0) {
    loss__count(PODLENS_LOSS_RINGBUF_FULL);
  }
}
