/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* A "foreign" TC program for the CNI tests: stands for another CNI's program on the same veth.
 * Counts the packets it sees and lets them go on (TC_ACT_UNSPEC). */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

/* Packets seen. Key 0. Written by BPF, read by the test. */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u64);
} seen SEC(".maps");

SEC("tc")
int foreign_counter(struct __sk_buff *skb) {
  __u32 zero = 0;
  __u64 *count = bpf_map_lookup_elem(&seen, &zero);
  if (count) {
    __sync_fetch_and_add(count, 1);
  }
  return TC_ACT_UNSPEC;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
