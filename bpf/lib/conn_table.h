/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * pl_conns, the connection table: an array of slots (struct podlens_conn_slot), a set of
 * PODLENS_CONN_WAYS of them per hash of a key (podlens_conn_hash, abi.h, with the table's seed).
 * Every packet of a selected flow finds its slot here; a connection's first packet claims one.
 *
 * Who writes a slot: its claim moves FREE -> WRITING -> READY -> FREE (or READY -> WRITING when
 * a new connection takes it), each step an atomic compare-exchange but the last of a fill, so
 * only one CPU fills a slot. Readers trust a slot's key only when its claim reads READY, and
 * the key is written before it. A reader that looks while a slot is evicted or freed can
 * still hold it for one packet; the LRU hash map before this table reused entries the same
 * way, and the streams' busy flags keep two CPUs from parsing into one stream at once.
 */
#pragma once

#include "lib/maps.h"

static __always_inline struct podlens_conn_slot *conn_table__slot(__u32 index) {
  return bpf_map_lookup_elem(&pl_conns, &index);
}

/* The hash of a key in this table: seeded with the table's own seed. */
static __always_inline __u32 conn_table__hash(const struct podlens_conn_key *key) {
  return podlens_conn_hash(key, pl_conn_hash_seed);
}

/* Are a and b the same connection? The eleven words of the keys, one branch. */
static __always_inline int conn_key__same(const struct podlens_conn_key *a,
                                          const struct podlens_conn_key *b) {
  __u32 x[11], y[11];
  __builtin_memcpy(x, a, sizeof(x));
  __builtin_memcpy(y, b, sizeof(y));
  __u32 diff = 0;
#pragma unroll
  for (int i = 0; i < 11; i++) {
    diff |= x[i] ^ y[i];
  }
  return diff == 0;
}

/* Does the slot hold the connection of key (hash its hash)? */
static __always_inline int slot__holds(const struct podlens_conn_slot *slot,
                                       const struct podlens_conn_key *key, __u32 hash) {
  return *(volatile const __u64 *)&slot->claim == PODLENS_SLOT_READY && slot->hash == hash &&
         conn_key__same(&slot->key, key);
}

/* The way of the set that begins at first whose slot holds the state of key (its hash
 * given), or PODLENS_CONN_WAYS when none does. */
static __always_inline __u32 conn_table__way_of(const struct podlens_conn_key *key, __u32 hash,
                                                __u32 first) {
  __u32 way = 0;
#pragma clang loop unroll(disable)
  for (; way < PODLENS_CONN_WAYS; way++) {
    struct podlens_conn_slot *slot = conn_table__slot(first + way);
    if (slot && slot__holds(slot, key, hash)) {
      break;
    }
  }
  return way;
}

/* The slot that holds the state of key (its hash given), or NULL. */
static __always_inline struct podlens_conn_slot *conn_table__find(const struct podlens_conn_key *key,
                                                                  __u32 hash) {
  __u32 first = podlens_conn_set_first(hash, pl_conn_set_mask);
  __u32 way = conn_table__way_of(key, hash, first);
  return way < PODLENS_CONN_WAYS ? conn_table__slot(first + way) : 0;
}

/* When the slot's connection last began a request or a response (0: never). */
static __always_inline __u64 slot__last_active(const struct podlens_conn_slot *slot) {
  __u64 req = slot->state.req.message_start_ns, resp = slot->state.resp.message_start_ns;
  return req > resp ? req : resp;
}

/* Is a CPU parsing a segment of the slot's connection? */
static __always_inline int slot__busy(const struct podlens_conn_slot *slot) {
  return *(volatile const __u64 *)&slot->state.req.busy ||
         *(volatile const __u64 *)&slot->state.resp.busy;
}

/* Takes the slot from claim `from` to WRITING; 1 when this CPU got it. */
static __always_inline int slot__claim(struct podlens_conn_slot *slot, __u64 from) {
  return __sync_val_compare_and_swap(&slot->claim, from, PODLENS_SLOT_WRITING) == from;
}

/* What conn_table__claim() took. */
enum conn_claim {
  CONN_CLAIM_NONE = 0,    /* every slot of the set busy, or lost to another CPU */
  CONN_CLAIM_FREE = 1,    /* a free slot */
  CONN_CLAIM_OWN = 2,     /* the key's own slot, to replace its state (a new SYN) */
  CONN_CLAIM_EXISTS = 3,  /* the key's own slot, ready: another CPU created it first */
  CONN_CLAIM_EVICTED = 4, /* the slot of the set's least recently active connection */
};

/*
 * A slot of the set that begins at first for the connection of key (hash its hash), claimed
 * for writing unless it is CONN_CLAIM_EXISTS; its index in *index. The key's own slot first
 * (replaced when replace, else left as it is), then a free one, then the one whose connection
 * was least recently active and is not being parsed on another CPU.
 */
static __always_inline int conn_table__claim(const struct podlens_conn_key *key, __u32 hash,
                                             __u32 replace, __u32 *index) {
  __u32 first = podlens_conn_set_first(hash, pl_conn_set_mask);
  __u32 own = conn_table__way_of(key, hash, first);
  struct podlens_conn_slot *slot;
  if (own < PODLENS_CONN_WAYS) {
    *index = first + own;
    if (!replace) {
      return CONN_CLAIM_EXISTS;
    }
    slot = conn_table__slot(first + own);
    return slot && slot__claim(slot, PODLENS_SLOT_READY) ? CONN_CLAIM_OWN : CONN_CLAIM_NONE;
  }
  __u32 victim = PODLENS_CONN_WAYS;
  __u64 victim_active = ~0ull;
#pragma clang loop unroll(disable)
  for (__u32 way = 0; way < PODLENS_CONN_WAYS; way++) {
    slot = conn_table__slot(first + way);
    if (!slot) {
      continue;
    }
    __u64 claim = *(volatile __u64 *)&slot->claim;
    if (claim == PODLENS_SLOT_FREE && slot__claim(slot, PODLENS_SLOT_FREE)) {
      *index = first + way;
      return CONN_CLAIM_FREE;
    }
    if (claim == PODLENS_SLOT_READY && !slot__busy(slot) &&
        slot__last_active(slot) < victim_active) {
      victim = way;
      victim_active = slot__last_active(slot);
    }
  }
  if (victim >= PODLENS_CONN_WAYS) {
    return CONN_CLAIM_NONE;
  }
  slot = conn_table__slot(first + victim);
  if (!slot || !slot__claim(slot, PODLENS_SLOT_READY)) {
    return CONN_CLAIM_NONE;
  }
  *index = first + victim;
  return CONN_CLAIM_EVICTED;
}

/* The slot claimed for writing is filled in: readers may take it. Its stores before this
 * one are visible first (x86 keeps stores in order; elsewhere the exchange is a barrier). */
static __always_inline void slot__publish(struct podlens_conn_slot *slot) {
#if defined(__TARGET_ARCH_x86)
  barrier();
  *(volatile __u64 *)&slot->claim = PODLENS_SLOT_READY;
#else
  __sync_lock_test_and_set(&slot->claim, PODLENS_SLOT_READY);
#endif
}

/* The connection of a ready slot is gone (close, RST): the slot is free for another. A slot
 * another CPU claimed meanwhile (a new connection evicting it) stays that CPU's. */
static __always_inline void slot__free(struct podlens_conn_slot *slot) {
  __sync_val_compare_and_swap(&slot->claim, PODLENS_SLOT_READY, PODLENS_SLOT_FREE);
}
