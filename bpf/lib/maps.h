/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Maps of the TC data plane. Sizes are defaults; the loader may resize before load. */
#pragma once

#include "podlens/abi.h"

#ifndef barrier_var
/* Hides a value from the optimiser so a bound check on it stays where it is written. */
#define barrier_var(var) asm volatile("" : "+r"(var))
#endif

/* Bytes of payload copied to scratch per step of chunk framing or resync. */
#define PODLENS_PARSE_CHUNK 64

/* Which pod ports are observed. Key: ifindex+server port+direction. Written only by user
 * space (controller, podlens-cni bootstrap), read by BPF. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 65536);
  __type(key, struct podlens_selector_key);
  __type(value, struct podlens_selector_value);
} pl_selectors SEC(".maps");

/* A bit per selector's (ifindex, port) (podlens_port_filter_bit): lets an unselected packet
 * leave after one inlined array read instead of hash lookups. A superset is harmless (the
 * selector lookup decides); user space keeps it a superset of pl_selectors' keys. Written only
 * by user space. */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct podlens_port_filter);
} pl_ports SEC(".maps");

/* Parser state per TCP connection of a selected flow: a set-associative table of slots
 * (struct podlens_conn_slot, lib/conn_table.h), a connection's slot found by the hash of its
 * key (ifindex + pod-oriented 5-tuple). Written and read only by BPF; user space only reads it
 * for debugging. Mmapable: its values are page-aligned, so each slot takes whole lines. */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(map_flags, BPF_F_MMAPABLE);
  __uint(max_entries, 16384);
  __type(key, __u32);
  __type(value, struct podlens_conn_slot);
} pl_conns SEC(".maps");

/* pl_conns' sets less one: a power of two less one, set by the loader from the map's size
 * (max_entries / PODLENS_CONN_WAYS sets). */
const volatile __u32 pl_conn_set_mask = 16384 / PODLENS_CONN_WAYS - 1;

/* podlens_conn_hash()'s seed for this pl_conns: drawn at random by the loader, which creates
 * the table and these programs together (a constant to the verifier, like the mask). */
const volatile __u64 pl_conn_hash_seed = 0;

/* The ABI these programs and maps were built to (PODLENS_ABI_VERSION). No program reads it:
 * it is here, in the pinned read-only data, for user space, which opens pins of its own ABI
 * only (DataPlane::openPinned). */
const volatile __u32 pl_abi_version = PODLENS_ABI_VERSION;

/* Completed transactions: a record per event (its first PODLENS_EVENT_BYTES(path_len) bytes).
 * Written by BPF, read by user space. */
struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 4 << 20);
} pl_events SEC(".maps");

/* Loss counters. Key: enum podlens_loss_reason. Written by BPF, read by user space. */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, PODLENS_LOSS__COUNT);
  __type(key, __u32);
  __type(value, __u64);
} pl_losses SEC(".maps");

/* Each CPU's response header memos, a slot per server (podlens_memo_slot; http1_fast.h).
 * Written by BPF; tests read it. */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, PODLENS_MEMO_SLOTS);
  __type(key, __u32);
  __type(value, struct podlens_header_memo);
} pl_memos SEC(".maps");

/* Payload bytes loaded at once for the header fast path (http1_fast.h). */
#define PODLENS_WINDOW 256

/* Up to PODLENS_WINDOW payload bytes. Which payload bytes it holds is in the parse cursor
 * (win_base, win_len): valid for one skb only. */
struct podlens_window {
  /* Twice the window and a word, like chunk below: room for bounds the verifier can see. */
  __u8 bytes[2 * PODLENS_WINDOW + 8];
};

/* Per-CPU working memory too large for the 512-byte BPF stack. BPF only. */
struct podlens_scratch {
  /* Twice the chunk and a word: room for bounds the verifier can see, and for word reads
   * that start near the end of the loaded bytes. */
  __u8 chunk[2 * PODLENS_PARSE_CHUNK + 8];
  struct podlens_window window;
};

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct podlens_scratch);
} pl_scratch SEC(".maps");

static __always_inline struct podlens_scratch *scratch__get(void) {
  __u32 zero = 0;
  return bpf_map_lookup_elem(&pl_scratch, &zero);
}

static __always_inline void loss__add(__u32 reason, __u64 n) {
  __u64 *counter = bpf_map_lookup_elem(&pl_losses, &reason);
  if (counter) {
    *counter += n; /* per-CPU slot: no atomic needed */
  }
}

static __always_inline void loss__count(__u32 reason) { loss__add(reason, 1); }

/* Submit flags for a record that ends the ring's producer position at end and takes
 * record_bytes of it: wake the reader when the position has just passed a multiple of
 * PODLENS_EVENTS_WAKEUP_BYTES. It only grows, so that is one wake-up per that many bytes
 * written whatever the reader does. Two CPUs writing at once can both miss a multiple; the
 * next record, or the reader's poll timeout, makes up for it. */
static __always_inline __u64 events__wakeup_flags(__u64 end, __u64 record_bytes) {
  return end / PODLENS_EVENTS_WAKEUP_BYTES != (end - record_bytes) / PODLENS_EVENTS_WAKEUP_BYTES
             ? BPF_RB_FORCE_WAKEUP
             : BPF_RB_NO_WAKEUP;
}
