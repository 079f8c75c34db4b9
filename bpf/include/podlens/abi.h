/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * podlens kernel/user ABI: every struct and enum shared by the BPF programs and C++.
 *
 * Plain C, included by the bpf/ programs and by lib/include/podlens/abi.hpp. Rules:
 *   - fixed-width types only, explicit padding, no implicit holes;
 *   - byte order is noted per field ("host" = CPU order, "net" = network order);
 *   - enums are append-only: never renumber, never reuse a retired value;
 *   - sizes and offsets are locked by static_assert in abi.hpp.
 */
#ifndef PODLENS_ABI_H
#define PODLENS_ABI_H

#include <linux/types.h> /* __u8..__u64: the UAPI's fixed-width types, for BPF and C++ alike */

/* Bumped by every change to what BPF and user space share (a layout, a map, a meaning). The
 * programs carry it in their read-only data (pl_abi_version), and user space opens pins of its
 * own version only: the controller replaces pins of another (docs/cni.md, Pin and state
 * layout). */
#define PODLENS_ABI_VERSION 14

/* Bytes of request path captured per transaction (query string excluded by default). */
#define PODLENS_PATH_MAX 96
/* Requests that may await their response on one connection (pipelining FIFO depth). */
#define PODLENS_PENDING_MAX 4
/* Longest request line or status line accepted, in bytes. */
#define PODLENS_START_LINE_MAX 8192
/* Longest header block (all header lines of one message) followed, in bytes. */
#define PODLENS_HEADER_BLOCK_MAX 16384
/* Longest method token accepted ("OPTIONS", "CONNECT" are 7). */
#define PODLENS_METHOD_TOKEN_MAX 8
/* Longest chunk-size line (hex size and extensions) accepted, in bytes. */
#define PODLENS_CHUNK_LINE_MAX 1024
/* Hex digits of a chunk size accepted (15: sizes below 2^60). */
#define PODLENS_CHUNK_DIGITS_MAX 15

/*
 * The TC programs wake the event reader once per this many bytes of events written to
 * pl_events: the event that takes the ring's producer position past a multiple of it forces
 * the wake-up. In between, the reader finds the events on its own poll timeout. A wake-up
 * costs the sending CPU an interrupt (irq_work) and the reader a context switch, so it stays
 * one per 1 MB whatever the reader does, also when it falls behind (stopped, throttled,
 * restarting). 1 MB is a quarter of pl_events: a reader woken has 3 MB (about 18,000 events,
 * 35,000 of short paths) of room left to get to its drain. At 64 KB the controller spent
 * 145 ns of CPU per event at 50,000 requests/s, 40% of it in wake-ups; at 1 MB, 72 ns
 * (docs/data-plane.md).
 */
#define PODLENS_EVENTS_WAKEUP_BYTES (1024 * 1024)

/* How often user space runs the sweep (podlens_sweep): the longest the event of a
 * connection's last response waits when no packet of the connection comes after it (a client
 * that keeps an idle connection open); other events go out with the request side's next
 * packet (bpf/lib/answers.h). */
#define PODLENS_SWEEP_INTERVAL_MS 250


/* Address families as the kernel numbers them (AF_INET, AF_INET6), for conn keys and events. */
#define PODLENS_AF_INET 2
#define PODLENS_AF_INET6 10

/* Which way the observed pod takes part in a flow. */
enum podlens_direction {
  PODLENS_DIR_INBOUND = 0,  /* the pod is the server */
  PODLENS_DIR_OUTBOUND = 1, /* the pod is the client */
};

enum podlens_protocol {
  PODLENS_PROTO_NONE = 0,
  PODLENS_PROTO_HTTP1 = 1,
};

/* Capture options of a selector (bit flags). */
enum podlens_capture_flags {
  PODLENS_CAPTURE_KEEP_QUERY = 1 << 0, /* keep "?query" in the captured path */
};

enum podlens_http_method {
  PODLENS_METHOD_UNKNOWN = 0,
  PODLENS_METHOD_GET = 1,
  PODLENS_METHOD_HEAD = 2,
  PODLENS_METHOD_POST = 3,
  PODLENS_METHOD_PUT = 4,
  PODLENS_METHOD_DELETE = 5,
  PODLENS_METHOD_CONNECT = 6,
  PODLENS_METHOD_OPTIONS = 7,
  PODLENS_METHOD_TRACE = 8,
  PODLENS_METHOD_PATCH = 9,
};

/*
 * Why the kernel lost (part of) a transaction. Index of the per-CPU podlens_losses array.
 * Exported as podlens_kernel_losses_total{reason="..."}; names live in abi.hpp.
 */
enum podlens_loss_reason {
  PODLENS_LOSS_RINGBUF_FULL = 0,      /* event dropped: ring buffer had no room */
  PODLENS_LOSS_CONN_MAP_FULL = 1,     /* connection state could not be inserted */
  PODLENS_LOSS_NO_CONN_STATE = 2,     /* mid-stream bytes of a selected flow with no state
                                         (evicted from the LRU, or opened before selection) */
  PODLENS_LOSS_PATH_TRUNCATED = 3,    /* path longer than PODLENS_PATH_MAX (event still sent) */
  PODLENS_LOSS_HEADER_TOO_LONG = 4,   /* start line or header block over its bound */
  PODLENS_LOSS_SEQ_GAP = 5,           /* bytes missing (lost or out-of-order segment) */
  PODLENS_LOSS_UNPARSABLE = 6,        /* bytes that are not HTTP/1.x where a message starts */
  PODLENS_LOSS_PIPELINE_OVERFLOW = 7, /* more than PODLENS_PENDING_MAX requests in flight */
  PODLENS_LOSS_UNMATCHED_RESPONSE = 8, /* a response with no pending request */
  PODLENS_LOSS_PARSE_BUDGET = 9,      /* one skb needed more parse steps than allowed */
  PODLENS_LOSS_UNSUPPORTED_FRAMING = 10, /* request body framing that cannot be followed
                                           (Transfer-Encoding without chunked last) */
  PODLENS_LOSS_REQUEST_UNANSWERED = 11, /* requests dropped before their response: the
                                           response stream lost its framing, or the
                                           connection closed or was replaced first */
  PODLENS_LOSS_CHUNK_FRAMING = 12,    /* malformed chunked body (size line, CRLF after
                                         data, trailers): framing lost, resynchronised */
  PODLENS_LOSS_MESSAGE_TRUNCATED = 13, /* the connection closed or was replaced inside a
                                         start line or header block no other reason counts
                                         (a request's, or a response's with none waiting) */
  PODLENS_LOSS_CONCURRENT_SEGMENT = 14, /* a segment found its stream being processed by
                                           another CPU: skipped (a gap for the next one) */
  PODLENS_LOSS_TAIL_CALL = 15,        /* an entry program could not reach podlens_parse
                                         (its PROG_ARRAY slot empty): the packet unseen */
  PODLENS_LOSS__COUNT = 16,
};

/* podlens_selectors key. Written only by user space, read by BPF. */
struct podlens_selector_key {
  __u32 ifindex; /* host: ifindex of the pod's host-side veth */
  __u16 port;    /* host: the flow's server port (the pod's own port when Inbound,
                    the peer's port when Outbound) */
  __u8 direction; /* enum podlens_direction */
  __u8 pad0;
};

/* podlens_selectors value. */
struct podlens_selector_value {
  __u8 protocol;      /* enum podlens_protocol */
  __u8 capture_flags; /* enum podlens_capture_flags bits */
  __u16 pad0;
  __u32 policy_id; /* host: opaque id user space gives the selecting policy */
};

/*
 * pl_ports value: a bitmap with the bit podlens_port_filter_bit(ifindex, port) set for every
 * selector's (ifindex, port), so a packet whose bits are clear needs no selector lookup. The
 * bit mixes in the interface: a pod no selector names stays on the cheap path even on a port
 * selected on other pods (8080, say), unless its bit collides with one of theirs (each
 * selector has a 1 in 65,536 chance of it).
 */
struct podlens_port_filter {
  __u64 words[65536 / 64]; /* host: bit b is bit (b % 64) of words[b / 64] */
  __u64 selectors_generation; /* host: user space adds 1 after every change to pl_selectors.
                                 A connection whose state holds the current generation uses
                                 the selector it cached instead of looking it up again. */
  __u64 bit_layout; /* host: PODLENS_PORT_FILTER_BIT_LAYOUT, written by user space with every
                       write. The programs do not read it: it makes this value longer than
                       that of ABI 4 (bits by port alone), so pins of either layout fail the
                       other build's shape check instead of being read with the other meaning,
                       and it names the layout in a bpftool dump. */
};

/* 1: the bit of a port alone (ABI 4 and before, no field); 2: podlens_port_filter_bit. */
#define PODLENS_PORT_FILTER_BIT_LAYOUT 2

/* The port filter's bit of a selector's (ifindex, port): the port XOR a 16-bit mix of the
 * interface, so the ports of one interface never share a bit. */
static inline __u32 podlens_port_filter_bit(__u32 ifindex, __u16 port) {
  return (port ^ ((ifindex * 2654435761u) >> 16)) & 0xffff;
}

static inline int podlens_port_filter_has(const struct podlens_port_filter *filter,
                                          __u32 ifindex, __u16 port) {
  __u32 bit = podlens_port_filter_bit(ifindex, port);
  return (filter->words[bit >> 6] >> (bit & 63)) & 1;
}

static inline void podlens_port_filter_set(struct podlens_port_filter *filter, __u32 ifindex,
                                           __u16 port) {
  __u32 bit = podlens_port_filter_bit(ifindex, port);
  filter->words[bit >> 6] |= 1ULL << (bit & 63);
}

/*
 * podlens_conns key: one TCP connection as seen on one veth, oriented from the pod
 * (so both directions of the flow find the same entry). IPv4 addresses use the first 4 bytes
 * of the 16-byte fields, the rest zero.
 */
struct podlens_conn_key {
  __u32 ifindex;   /* host */
  __u16 pod_port;  /* host */
  __u16 peer_port; /* host */
  __u8 family;     /* AF_INET (2) or AF_INET6 (10) */
  __u8 pad0[3];
  __u8 pod_addr[16];  /* net */
  __u8 peer_addr[16]; /* net */
};

/* Phase of one byte stream (requests or responses) of a connection. */
enum podlens_stream_phase {
  PODLENS_PHASE_IDLE = 0,           /* between messages: the next byte starts one */
  PODLENS_PHASE_START_LINE = 1,     /* inside the request line or status line */
  PODLENS_PHASE_HEADERS = 2,        /* inside the header block */
  PODLENS_PHASE_BODY_LENGTH = 3,    /* skipping body_remaining bytes */
  PODLENS_PHASE_BODY_CHUNKED = 4,   /* chunked body; line_state says where (CHUNK_*) */
  PODLENS_PHASE_BODY_UNTIL_CLOSE = 5, /* body ends at FIN (no length given) */
  PODLENS_PHASE_RESYNC = 6,         /* lost framing: look for the start of a message */
  PODLENS_PHASE_TUNNEL = 7,         /* after 101 or a 2xx to CONNECT: not HTTP any more */
};

/* Where the parser is inside the current line (start line or header line). */
enum podlens_line_state {
  PODLENS_LINE_METHOD = 0,       /* request line: method token */
  PODLENS_LINE_PATH = 1,         /* request line: path */
  PODLENS_LINE_QUERY = 2,        /* request line: query string (not captured by default) */
  PODLENS_LINE_VERSION = 3,      /* request line: " HTTP/1.x" */
  PODLENS_LINE_STATUS = 4,       /* status line */
  PODLENS_LINE_HEADER_NAME = 5,  /* header line: matching the name against known headers */
  PODLENS_LINE_CONTENT_LENGTH = 6, /* header line: Content-Length value */
  PODLENS_LINE_TRANSFER_ENCODING = 7, /* header line: Transfer-Encoding value */
  PODLENS_LINE_CONNECTION = 8,   /* retired: the Connection value (nothing read the flag it
                                    set; the line is skipped like any other) */
  PODLENS_LINE_SKIP = 9,         /* rest of a line nobody needs */
  /* Inside a chunked body (PODLENS_PHASE_BODY_CHUNKED): */
  PODLENS_LINE_CHUNK_SIZE = 10,  /* hex digits of a chunk size (value, match_pos digits) */
  PODLENS_LINE_CHUNK_EXT = 11,   /* after the size: extensions up to the end of the line */
  PODLENS_LINE_CHUNK_DATA = 12,  /* skipping body_remaining bytes of chunk data */
  PODLENS_LINE_CHUNK_DATA_END = 13, /* the CRLF after chunk data */
  PODLENS_LINE_TRAILER = 14,     /* trailer lines after the last chunk, up to a blank line */
};

/* Facts learnt about the message being parsed (bit flags). */
enum podlens_message_flags {
  PODLENS_MSG_CONTENT_LENGTH = 1 << 0, /* a Content-Length header was read */
  PODLENS_MSG_CHUNKED = 1 << 1,        /* Transfer-Encoding: chunked */
  PODLENS_MSG_CONN_CLOSE = 1 << 2,     /* retired: was "Connection: close"; no longer set */
  PODLENS_MSG_HTTP10 = 1 << 3,         /* HTTP/1.0 */
  PODLENS_MSG_DISCARD = 1 << 4,        /* request parsed for framing only (FIFO full) */
  PODLENS_MSG_BAD_LENGTH = 1 << 5,     /* Content-Length not a number: framing lost */
  PODLENS_MSG_TRANSFER_ENCODING = 1 << 6, /* a Transfer-Encoding header was read */
};

/* Parser state of one direction of a connection. Written only by that direction's packets,
 * one CPU at a time (busy). */
struct podlens_stream_state {
  __u64 body_remaining; /* host: body bytes still to skip (PHASE_BODY_LENGTH) */
  __u64 value;          /* host: number being read (Content-Length) */
  __u64 message_start_ns; /* host: CLOCK_MONOTONIC of the message's first byte */
  __u32 next_seq;       /* host: TCP sequence number of the next byte expected */
  __u16 line_len;       /* host: bytes of the current line so far, CR excluded */
  __u16 header_bytes;   /* host: bytes of the header block so far */
  __u8 phase;           /* enum podlens_stream_phase */
  __u8 line_state;      /* enum podlens_line_state */
  __u8 match_pos;       /* bytes of the header name (or value token) matched so far */
  __u8 match_mask;      /* candidate header names still matching (bit per name) */
  __u8 message_flags;   /* enum podlens_message_flags */
  __u8 seq_valid;       /* next_seq is known */
  __u8 fin_seen;        /* this direction sent FIN (at fin_seq) */
  __u8 pad0;
  __u16 status;         /* host: response status code being read */
  __u16 pad1;
  __u32 fin_seq;        /* host: sequence number of the FIN, where this direction's bytes end
                           (valid when fin_seen; next_seq can still be behind it) */
  __u64 busy;           /* 1 while a CPU processes a segment of this stream (atomic exchange;
                           64 bits: 32-bit BPF atomics need clang -mcpu=v3): one flow's
                           segments can be processed on two CPUs at once */
};

/* A request waiting for its response (one pipelining FIFO slot). */
struct podlens_pending_request {
  __u64 start_ns; /* host: first byte of the request */
  __u8 method;    /* enum podlens_http_method */
  __u8 flags;     /* enum podlens_event_flags bits gathered while parsing */
  __u16 path_len; /* host: bytes used in path */
  __u32 number;   /* host: the request's number on the connection (conn head when it began),
                     written last, when its headers end: a slot holds the number answered
                     only once that request is complete (http1_message.h, the FIFO) */
  __u8 path[PODLENS_PATH_MAX];
};

/* A response's half of a transaction, left by the response stream for the request stream to
 * emit as the event (lib/answers.h): the server's CPU writes it and goes on, and
 * the request's slot and the event are the client side's to read and write. */
struct podlens_answer {
  __u64 first_byte_ns; /* host: CLOCK_MONOTONIC of the response's first byte */
  __u64 last_byte_ns;  /* host: and of its last */
  __u16 status;        /* host */
  __u8 flags;          /* enum podlens_event_flags the response adds (ENDED_BY_CLOSE) */
  __u8 pad0;
  __u32 number;        /* host: the request number it answers, written last: the answer is
                          complete once it holds the number the request side waits for */
  __u64 pad1;
};

/* Bytes of a header block a memo holds: the fast path's window (PODLENS_WINDOW). */
#define PODLENS_MEMO_BYTES 256
/* Memos per CPU (pl_memos): a server's responses go to the slot of its pod's interface and
 * port (podlens_memo_slot). */
#define PODLENS_MEMO_SLOTS_LOG2 6
#define PODLENS_MEMO_SLOTS (1u << PODLENS_MEMO_SLOTS_LOG2)

/*
 * A response header block taken whole by the fast path, and what it left in the stream at its
 * blank line, so that the next block that repeats it is taken by one compare (http1_fast.h).
 * A server answers with the same header lines, response after response and connection after
 * connection; their only changes (a Date) lie inside lines nobody needs. What a block leaves
 * in a stream depends on its bytes alone, so one memo serves every connection of a server.
 * pl_memos value (per CPU). Written by BPF; user space reads it in tests.
 */
struct podlens_header_memo {
  __u16 len;          /* host: bytes of the block, status line to blank line; 0: no memo */
  __u16 header_bytes; /* host: the stream's header_bytes at the blank line */
  __u16 status;       /* host: the status code read */
  __u8 message_flags; /* enum podlens_message_flags at the blank line */
  __u8 length_body;   /* 1: a final status whose body Content-Length alone frames (value > 0):
                         it follows unless a HEAD or CONNECT asked (http1_fast.h) */
  __u32 free_words;   /* host: bit w: bytes [8w, 8w + 8) lie inside lines nobody needs, past
                         the bytes that tell a line's name (any change there is taken) */
  __u32 pad1;
  __u64 value;        /* host: the number read (Content-Length) */
  __u8 bytes[PODLENS_MEMO_BYTES]; /* the block; its last word zero past len, the rest unread */
};

/*
 * podlens_conns value, laid out by writer. The request stream's packets and the response
 * stream's run on the CPUs of the client and of the server, often two: a cache line both
 * write moves between them at every packet. So each writer's fields come in a block of their
 * own, kept apart by at least 56 bytes nobody writes often (the state starts at byte 56 of
 * its slot, struct podlens_conn_slot; blocks nearer than that could share a line):
 *   - the selection, read by every packet and written seldom (the request stream on a new
 *     pl_selectors generation, the response stream once when a tunnel opens), then padding;
 *   - the request stream: req, head, and the FIFO slots it fills (the response stream reads
 *     a slot once per response; the path's tail bytes are rarely used);
 *   - the response stream: resp and tail, then the slot of discarded requests (written only
 *     on FIFO overflow), between it and the next entry of the map.
 * head and tail count every request, also those discarded on FIFO overflow (they are parsed
 * into the slot `discarded`), so each response is matched to the right request number. They
 * start at the connection's first sequence number, a random base: a slot left by an earlier
 * connection then holds no number the new one answers. Of the other side's lines, a packet
 * reads only what it needs: the response stream the slot of the request it answers (found by
 * the number in it, not by head), the request stream the answers of the responses it emits.
 *   - the answers, on lines of their own at the end: the response stream writes one per
 *     response, and the request stream reads it to emit the event (emitted counts those
 *     emitted or skipped, and frees the FIFO slot: a request's slot is reused only once its
 *     event is out). So the server's CPU writes no event and reads no line the client's wrote
 *     but the slot of the request it answers.
 */
struct podlens_conn_state {
  __u32 selector_generation; /* host: the pl_ports generation direction, capture_flags and
                                policy_id were read at */
  __u32 policy_id;    /* host */
  __u8 direction;     /* enum podlens_direction (from the selector) */
  __u8 capture_flags; /* enum podlens_capture_flags (from the selector) */
  __u16 server_port;  /* host */
  __u8 tunnel_open;   /* the response stream saw a tunnel open (101, 2xx to CONNECT) */
  __u8 pad0[3];
  __u8 pad1[56];      /* keeps the selection's cache line free of the request stream */
  struct podlens_stream_state req;
  __u32 head; /* host: requests committed (request side), discarded ones included */
  __u32 emitted; /* host: requests whose event is out, or that have none (discarded on
                    overflow, dropped unanswered): the FIFO's slots up to head are in use.
                    Advanced by compare-and-exchange, after the event is written: the request
                    stream, a closing packet of either stream and the sweep all emit */
  struct podlens_pending_request pending[PODLENS_PENDING_MAX];
  struct podlens_stream_state resp;
  __u32 tail; /* host: requests answered or dropped (response side) */
  __u32 pad3;
  struct podlens_pending_request discarded;
  __u8 pad4[16]; /* the answers start a cache line of the slot */
  struct podlens_answer answers[PODLENS_PENDING_MAX]; /* by request number, modulo */
};

/*
 * pl_conns: a table of connection states in an array, set-associative. A key hashes
 * (podlens_conn_hash) to a set of PODLENS_CONN_WAYS slots, and its state is in one of them.
 * An array lookup is inlined by the verifier and the hash and compare are the programs' own:
 * 50-60 ns a packet less than the LRU hash map before it (a jhash of the 44-byte key and the
 * kernel's bucket walk, docs/data-plane.md). The table has 2^k sets (pl_conn_set_mask, set by
 * the loader from the map's size); a new connection takes a free slot of its set, or the
 * slot whose connection was least recently active, as an LRU map would have evicted it.
 */
#define PODLENS_CONN_WAYS 4

/* Where a slot stands; its claim moves with atomic compare-exchanges, so that two CPUs
 * never fill one slot, and a reader trusts a key only once its slot is ready. */
enum podlens_slot_claim {
  PODLENS_SLOT_FREE = 0,    /* no connection */
  PODLENS_SLOT_WRITING = 1, /* a CPU is filling it in */
  PODLENS_SLOT_READY = 2,   /* key and state are a connection's */
};

/* One slot of pl_conns: 15 cache lines, and the array's values are page-aligned
 * (BPF_F_MMAPABLE), so no two slots share a line. The key and its claim come first, in the
 * line every lookup reads, which only a new or closing connection writes. */
struct podlens_conn_slot {
  __u64 claim;                 /* enum podlens_slot_claim */
  __u32 hash;                  /* host: podlens_conn_hash(&key, seed), compared before the key */
  struct podlens_conn_key key; /* the connection's, when ready */
  struct podlens_conn_state state;
};

/* A hash of a connection key: six independent multiplies and a final mix (murmur3's), for
 * BPF and user space alike. Seeded: the loader draws seed at random for each pl_conns it
 * creates (pl_conn_hash_seed), and it goes into every word before its multiply, so a peer who
 * cannot read it cannot craft tuples that share a set with a connection and take its slot.
 * Not a cryptographic hash (the kernel's own tables use jhash with a random seed alike). */
static inline __u32 podlens_conn_hash(const struct podlens_conn_key *k, __u64 seed) {
  __u32 w[11]; /* the key's words; a copy, not a cast, which would break aliasing rules */
  __builtin_memcpy(w, k, sizeof(w));
  __u64 h = (((__u64)w[1] << 32 | w[0]) ^ seed) * 0x9e3779b97f4a7c15ull +
            (((__u64)w[3] << 32 | w[2]) ^ seed) * 0xc2b2ae3d27d4eb4full +
            (((__u64)w[5] << 32 | w[4]) ^ seed) * 0x165667b19e3779f9ull +
            (((__u64)w[7] << 32 | w[6]) ^ seed) * 0x85ebca77c2b2ae63ull +
            (((__u64)w[9] << 32 | w[8]) ^ seed) * 0x27d4eb2f165667c5ull +
            ((__u64)w[10] ^ seed) * 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  return (__u32)(h >> 32);
}

/* The first slot of the set a hash names, in a table of set_mask + 1 sets. */
static inline __u32 podlens_conn_set_first(__u32 hash, __u32 set_mask) {
  return (hash & set_mask) * PODLENS_CONN_WAYS;
}

/* The pl_memos slot of a server's responses: its pod's interface and its port, so that a CPU
 * keeps a memo for each of the servers whose responses it sees, not one they overwrite in
 * turns (slots shared by two servers only cost the compare). */
static inline __u32 podlens_memo_slot(__u32 ifindex, __u16 server_port) {
  __u32 mixed = (ifindex * 0x9e3779b1u) ^ ((__u32)server_port * 0x85ebca6bu);
  return mixed >> (32 - PODLENS_MEMO_SLOTS_LOG2); /* the top bits, the best mixed */
}

/* Facts about a transaction (bit flags of the event). */
enum podlens_event_flags {
  PODLENS_EVENT_PATH_TRUNCATED = 1 << 0, /* path longer than PODLENS_PATH_MAX */
  PODLENS_EVENT_HTTP10 = 1 << 1,         /* the request was HTTP/1.0 */
  PODLENS_EVENT_ENDED_BY_CLOSE = 1 << 2, /* response body ended at FIN (no length) */
  PODLENS_EVENT_NO_BODY_FRAMING = 1 << 3, /* sent before the body end could be found */
  PODLENS_EVENT_NOT_ORIGIN_FORM = 1 << 4, /* target was not a path (absolute URI, authority,
                                             '*'): nothing of it captured */
};

/* One completed HTTP transaction, sent through the podlens_events ring buffer: its first
 * PODLENS_EVENT_BYTES(path_len) bytes, the path's whole 8-byte words (the last one's bytes
 * past path_len zero). The rest of path is not sent; readers zero it. */
struct podlens_http_event {
  __u64 request_start_ns;        /* host: CLOCK_MONOTONIC, first request byte */
  __u64 response_first_byte_ns;  /* host: first response byte */
  __u64 response_last_byte_ns;   /* host: last response byte (headers end if unknown) */
  __u32 ifindex;     /* host */
  __u32 policy_id;   /* host */
  __u16 status;      /* host: HTTP status code */
  __u8 method;       /* enum podlens_http_method */
  __u8 direction;    /* enum podlens_direction */
  __u8 family;       /* AF_INET / AF_INET6 */
  __u8 flags;        /* enum podlens_event_flags */
  __u16 path_len;    /* host: bytes used in path */
  __u16 pod_port;    /* host */
  __u16 peer_port;   /* host */
  __u32 pad0;
  __u8 pod_addr[16];  /* net */
  __u8 peer_addr[16]; /* net */
  __u8 path[PODLENS_PATH_MAX];
};

/* The bytes an event takes in a record: all but the words of path past path_len. */
#define PODLENS_EVENT_HEAD_BYTES 80 /* offsetof(struct podlens_http_event, path) */
#define PODLENS_EVENT_BYTES(path_len) (PODLENS_EVENT_HEAD_BYTES + (((path_len) + 7) & ~7u))

/* The ring buffer bytes a record of event_bytes takes: the kernel's 8-byte record header
 * (BPF_RINGBUF_HDR_SZ) and the events, rounded up to 8. */
#define PODLENS_EVENTS_RECORD_BYTES(event_bytes) (((event_bytes) + 8 + 7) & ~7ull)

#endif /* PODLENS_ABI_H */
