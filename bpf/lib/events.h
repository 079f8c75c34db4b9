/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Events out to pl_events, a CPU's batch at a time. A response writes its event into its
 * CPU's batch (pl_event_batch); the batch goes to the ring as one record when it is full, or
 * when the CPU's timer fires, PODLENS_EVENT_BATCH_WAIT_NS after the batch's first event.
 *
 * Why: a ring reservation touches cache lines the reader's CPU touched last (the ring's
 * positions, the record header), so on real traffic it costs a response packet more than a
 * replay shows. A record of 16 to 31 events pays it once: 5-8% off a response packet's BPF
 * time on real traffic, 20 ns in the replay (docs/data-plane.md, Event batches).
 *
 * Who writes a batch: the TC programs and the timer's callback, on the batch's own CPU only.
 * The timer is pinned to the CPU that starts it (BPF_F_TIMER_CPU_PIN, kernel 6.7), and on a
 * CPU a TC program and a timer callback do not interleave: both run in softirq or with bottom
 * halves off. A BPF_PROG_TEST_RUN runs a program with preemption off but softirqs on, so a
 * callback may interrupt it: `busy` makes the callback come back later. Without the pin flag
 * (older kernels) the timer could fire on another CPU, so there each event is written out as a
 * record of its own as soon as it is complete.
 */
#pragma once

#include "lib/maps.h"

#ifndef CLOCK_MONOTONIC
#define CLOCK_MONOTONIC 1
#endif
/* BPF_F_TIMER_CPU_PIN (linux/bpf.h of 6.7; Debian's headers may predate it). */
#define PODLENS_TIMER_CPU_PIN (1ULL << 1)
/* When the timer finds the batch busy (a test run it interrupted): try again this soon. */
#define PODLENS_BATCH_RETRY_NS (50 * 1000)

static __always_inline struct podlens_event_batch *batch__of_this_cpu(void) {
  __u32 zero = 0;
  return bpf_map_lookup_elem(&pl_event_batch, &zero);
}

/* Writes the batch's events to the ring as one record (a loss of each when it is full, or
 * when the batch's length is out of bounds, which event__open never lets it be). */
static __always_inline void batch__write_out(struct podlens_event_batch *b) {
  __u32 n = b->used;
  long err = -1;
  if (n - 1 < PODLENS_EVENT_BATCH_BYTES) { /* 1..the room: the size bound the verifier needs */
    __u64 end = bpf_ringbuf_query(&pl_events, BPF_RB_PROD_POS) + PODLENS_EVENTS_RECORD_BYTES(n);
    err = bpf_ringbuf_output(&pl_events, b->bytes, n,
                             events__wakeup_flags(end, PODLENS_EVENTS_RECORD_BYTES(n)));
  }
  if (err < 0) {
    loss__add(PODLENS_LOSS_RINGBUF_FULL, b->count);
  }
  b->count = 0;
  b->used = 0;
}

/* The timer's callback, on the batch's CPU: writes out what the batch holds. */
static int batch__on_timer(void *map, __u32 *key, struct podlens_event_timer *t) {
  struct podlens_event_batch *b = batch__of_this_cpu();
  if (!b) {
    return 0;
  }
  if (b->busy) {
    bpf_timer_start(&t->timer, PODLENS_BATCH_RETRY_NS, PODLENS_TIMER_CPU_PIN);
    return 0;
  }
  b->timer_state = PODLENS_BATCH_TIMER_IDLE;
  batch__write_out(b);
  return 0;
}

/* Starts the CPU's timer for a batch that has events. Where there is no timer, writes the
 * batch out now and marks the CPU as writing each event on its own. */
static __always_inline void batch__start_timer(struct podlens_event_batch *b) {
  __u32 cpu = bpf_get_smp_processor_id();
  struct podlens_event_timer *t = bpf_map_lookup_elem(&pl_event_timers, &cpu);
  if (t) {
    long err = 0;
    if (b->timer_state == PODLENS_BATCH_TIMER_NEW) {
      err = bpf_timer_init(&t->timer, &pl_event_timers, CLOCK_MONOTONIC);
      if (err == -16 /* EBUSY: set up by an earlier load of the programs */) {
        err = 0;
      }
      if (!err) {
        err = bpf_timer_set_callback(&t->timer, batch__on_timer);
      }
    }
    if (!err &&
        !bpf_timer_start(&t->timer, PODLENS_EVENT_BATCH_WAIT_NS, PODLENS_TIMER_CPU_PIN)) {
      b->timer_state = PODLENS_BATCH_TIMER_RUNNING;
      return;
    }
  }
  b->timer_state = PODLENS_BATCH_TIMER_UNAVAILABLE;
  batch__write_out(b);
}

/*
 * Where the next event goes: after the events of this CPU's batch (*batch set, and busy until
 * event__close), which always has room for a whole one. NULL only if the batch is missing,
 * which a per-CPU array's one entry never is.
 */
static __always_inline struct podlens_http_event *
event__open(struct podlens_event_batch **batch) {
  struct podlens_event_batch *b = batch__of_this_cpu();
  *batch = b;
  if (!b) {
    return 0;
  }
  b->busy = 1;
  barrier();
  __u32 at = b->used;
  if (at > PODLENS_EVENT_BATCH_BYTES - sizeof(struct podlens_http_event)) {
    /* Never: event__close writes out a batch without that room. Should it happen, the event
     * goes over the first, and the batch's length past its room has batch__write_out count
     * all its events lost. (Writing out here takes stack the verifier has not left.) */
    at = 0;
  }
  return (struct podlens_http_event *)(b->bytes + at);
}

/* The event e from event__open is complete, its first `bytes` to be sent: the batch takes it,
 * and goes to the ring once it has no room for another whole event, or at once on a CPU
 * without a batch timer. */
static __always_inline void event__close(struct podlens_event_batch *b, __u32 bytes) {
  b->used += bytes;
  b->count++;
  if (b->used > PODLENS_EVENT_BATCH_BYTES - sizeof(struct podlens_http_event) ||
      b->timer_state == PODLENS_BATCH_TIMER_UNAVAILABLE) {
    batch__write_out(b); /* a timer still running writes out the next batch's first events */
  } else if (b->timer_state != PODLENS_BATCH_TIMER_RUNNING) {
    batch__start_timer(b);
  }
  barrier();
  b->busy = 0;
}
