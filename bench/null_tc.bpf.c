/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Baseline for bench/bpf_packet_bench: a TC program that does nothing, so the cost of
 * BPF_PROG_TEST_RUN itself can be measured in the same run and set apart. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

SEC("tc")
int null_tc(struct __sk_buff *skb) { return TC_ACT_UNSPEC; }

char LICENSE[] SEC("license") = "Dual BSD/GPL";
