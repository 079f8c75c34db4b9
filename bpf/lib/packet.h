/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* L2-L4 decoding of one skb on a pod's host-side veth. */
#pragma once

#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <bpf/bpf_endian.h>

#include "podlens/abi.h"

#define TCP_FLAG_FIN 0x01
#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_RST 0x04
#define TCP_FLAG_ACK 0x10

/* A TCP segment as the parser needs it. Ports in host order. */
struct tcp_segment {
  __u32 payload_off; /* skb offset of the first payload byte */
  __u32 payload_len;
  __u32 seq;         /* host */
  __u16 src_port;
  __u16 dst_port;
  __u8 flags;        /* TCP_FLAG_* */
  __u8 family;
  __u16 l3_off;      /* skb offset of the IP header */
};

/* Max bytes of Ethernet+IP+TCP headers the fast path wants linear. */
#define PODLENS_HEADERS_MAX (14 + 40 + 60)

static __always_inline int packet__tcp(struct __sk_buff *skb, void *data, void *data_end,
                                       __u32 l4_off, __u32 ip_payload_len,
                                       struct tcp_segment *seg) {
  struct tcphdr *tcp = data + l4_off;
  if ((void *)(tcp + 1) > data_end) {
    return -1;
  }
  __u32 doff = tcp->doff * 4;
  if (doff < sizeof(*tcp) || (ip_payload_len && doff > ip_payload_len)) {
    return -1;
  }
  seg->src_port = bpf_ntohs(tcp->source);
  seg->dst_port = bpf_ntohs(tcp->dest);
  seg->seq = bpf_ntohl(tcp->seq);
  seg->flags = ((__u8 *)tcp)[13];
  seg->payload_off = l4_off + doff;
  /* The IP length can be 0 (BIG TCP/jumbo) or exceed what the skb holds (bad input). */
  __u32 skb_payload = skb->len > seg->payload_off ? skb->len - seg->payload_off : 0;
  __u32 ip_payload = ip_payload_len ? ip_payload_len - doff : 0;
  seg->payload_len = ip_payload && ip_payload < skb_payload ? ip_payload : skb_payload;
  return 0;
}

/* Decodes Ethernet + IPv4/IPv6 + TCP. Returns 0 for a TCP segment, -1 for anything else. */
static __always_inline int packet__decode(struct __sk_buff *skb, struct tcp_segment *seg) {
  void *data = (void *)(long)skb->data;
  void *data_end = (void *)(long)skb->data_end;
  struct ethhdr *eth = data;
  if ((void *)(eth + 1) > data_end) {
    return -1;
  }
  seg->l3_off = sizeof(*eth);
  if (eth->h_proto == bpf_htons(ETH_P_IP)) {
    struct iphdr *ip = data + sizeof(*eth);
    if ((void *)(ip + 1) > data_end || ip->protocol != IPPROTO_TCP) {
      return -1;
    }
    /* Only first fragments carry the TCP header. */
    if (ip->frag_off & bpf_htons(0x1fff)) {
      return -1;
    }
    __u32 ihl = ip->ihl * 4;
    __u32 tot_len = bpf_ntohs(ip->tot_len);
    if (ihl < sizeof(*ip) || (tot_len && tot_len < ihl)) {
      return -1;
    }
    seg->family = PODLENS_AF_INET;
    return packet__tcp(skb, data, data_end, sizeof(*eth) + ihl, tot_len ? tot_len - ihl : 0,
                       seg);
  }
  if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
    struct ipv6hdr *ip6 = data + sizeof(*eth);
    if ((void *)(ip6 + 1) > data_end || ip6->nexthdr != IPPROTO_TCP) {
      return -1;
    }
    seg->family = PODLENS_AF_INET6;
    return packet__tcp(skb, data, data_end, sizeof(*eth) + sizeof(*ip6),
                       bpf_ntohs(ip6->payload_len), seg);
  }
  return -1;
}

/* Fills the pod-oriented connection key's addresses from the IP header. */
static __always_inline int packet__conn_addrs(struct __sk_buff *skb, const struct tcp_segment *seg,
                                              int from_pod, struct podlens_conn_key *key) {
  void *data = (void *)(long)skb->data;
  void *data_end = (void *)(long)skb->data_end;
  if (seg->family == PODLENS_AF_INET) {
    struct iphdr *ip = data + sizeof(struct ethhdr);
    if ((void *)(ip + 1) > data_end) {
      return -1;
    }
    if (from_pod) {
      __builtin_memcpy(key->pod_addr, &ip->saddr, 4);
      __builtin_memcpy(key->peer_addr, &ip->daddr, 4);
    } else {
      __builtin_memcpy(key->pod_addr, &ip->daddr, 4);
      __builtin_memcpy(key->peer_addr, &ip->saddr, 4);
    }
    return 0;
  }
  struct ipv6hdr *ip6 = data + sizeof(struct ethhdr);
  if ((void *)(ip6 + 1) > data_end) {
    return -1;
  }
  if (from_pod) {
    __builtin_memcpy(key->pod_addr, &ip6->saddr, 16);
    __builtin_memcpy(key->peer_addr, &ip6->daddr, 16);
  } else {
    __builtin_memcpy(key->pod_addr, &ip6->daddr, 16);
    __builtin_memcpy(key->peer_addr, &ip6->saddr, 16);
  }
  return 0;
}
