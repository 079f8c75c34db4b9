// C++ companion of bpf/include/podlens/abi.h: layout locks, names, equality and printing.
#pragma once

#include <podlens/abi.h>

#include <cstddef>
#include <string>
#include <string_view>

namespace podlens {

// ---- Layout locks: a change here is an ABI change (bump PODLENS_ABI_VERSION). ----
static_assert(sizeof(podlens_selector_key) == 8);
static_assert(offsetof(podlens_selector_key, port) == 4);
static_assert(offsetof(podlens_selector_key, direction) == 6);
static_assert(sizeof(podlens_selector_value) == 8);
static_assert(sizeof(podlens_port_filter) == 8208);
static_assert(offsetof(podlens_port_filter, selectors_generation) == 8192);
static_assert(offsetof(podlens_port_filter, bit_layout) == 8200);
static_assert(offsetof(podlens_selector_value, policy_id) == 4);
static_assert(sizeof(podlens_conn_key) == 44);
static_assert(offsetof(podlens_conn_key, family) == 8);
static_assert(offsetof(podlens_conn_key, pod_addr) == 12);
static_assert(offsetof(podlens_conn_key, peer_addr) == 28);
static_assert(sizeof(podlens_stream_state) == 56);
static_assert(offsetof(podlens_stream_state, next_seq) == 24);
static_assert(offsetof(podlens_stream_state, phase) == 32);
static_assert(offsetof(podlens_stream_state, status) == 40);
static_assert(offsetof(podlens_stream_state, fin_seq) == 44);
static_assert(offsetof(podlens_stream_state, busy) == 48);  // 8-aligned: a BPF atomic
static_assert(sizeof(podlens_pending_request) == 16 + PODLENS_PATH_MAX);
static_assert(offsetof(podlens_pending_request, path) == 16);
// The connection state's blocks by writer (see abi.h): at least 56 bytes between the
// selection's and the request stream's, and between the request stream's FIFO header and the
// response stream's, so that no cache line holds fields of two writers.
static_assert(offsetof(podlens_conn_state, tunnel_open) == 12);
static_assert(offsetof(podlens_conn_state, req) == 72);
static_assert(offsetof(podlens_conn_state, head) == 128);
static_assert(offsetof(podlens_conn_state, pending) == 136);
static_assert(offsetof(podlens_conn_state, resp) ==
              136 + PODLENS_PENDING_MAX * sizeof(podlens_pending_request));
// Where the request stream's writes to the last FIFO slot end for a path of up to 40 bytes.
constexpr size_t kLastSlotShortPathEnd =
    offsetof(podlens_conn_state, pending) +
    (PODLENS_PENDING_MAX - 1) * sizeof(podlens_pending_request) +
    offsetof(podlens_pending_request, path) + 40;
static_assert(offsetof(podlens_conn_state, resp) - kLastSlotShortPathEnd >= 56);
static_assert(offsetof(podlens_conn_state, tail) == offsetof(podlens_conn_state, resp) + 56);
static_assert(offsetof(podlens_conn_state, discarded) ==
              offsetof(podlens_conn_state, tail) + 8);
static_assert(offsetof(podlens_conn_state, answers) ==
              offsetof(podlens_conn_state, discarded) + sizeof(podlens_pending_request) + 16);
static_assert(sizeof(podlens_answer) == 32);
static_assert(offsetof(podlens_answer, number) == 20);
static_assert(sizeof(podlens_conn_state) ==
              offsetof(podlens_conn_state, answers) + PODLENS_PENDING_MAX * sizeof(podlens_answer));
static_assert(sizeof(podlens_conn_state) == 904);
// The answers start a cache line of the slot, and take two of their own.
static_assert((offsetof(podlens_conn_slot, state) + offsetof(podlens_conn_state, answers)) % 64 ==
              0);
static_assert(offsetof(podlens_conn_slot, claim) == 0);  // 8-aligned: a BPF atomic
static_assert(offsetof(podlens_conn_slot, key) == 12);
static_assert(offsetof(podlens_conn_slot, state) == 56);
static_assert(sizeof(podlens_conn_slot) == 15 * 64);  // whole cache lines: no line shared
static_assert(sizeof(podlens_header_memo) == 24 + PODLENS_MEMO_BYTES);
static_assert(sizeof(podlens_http_event) == 80 + PODLENS_PATH_MAX);
static_assert(offsetof(podlens_http_event, ifindex) == 24);
static_assert(offsetof(podlens_http_event, status) == 32);
static_assert(offsetof(podlens_http_event, path_len) == 38);
static_assert(offsetof(podlens_http_event, pod_addr) == 48);
static_assert(offsetof(podlens_http_event, path) == 80);
static_assert(offsetof(podlens_http_event, path) == PODLENS_EVENT_HEAD_BYTES);
static_assert(PODLENS_EVENT_BYTES(PODLENS_PATH_MAX) == sizeof(podlens_http_event));
static_assert((PODLENS_PENDING_MAX & (PODLENS_PENDING_MAX - 1)) == 0,
              "the FIFO index is a mask: PODLENS_PENDING_MAX must be a power of two");

// ---- Names (stable: they become metric label values). ----
std::string_view methodName(uint8_t method);         // "GET", ..., "_OTHER"
std::string_view directionName(uint8_t direction);   // "inbound" | "outbound"
std::string_view lossReasonName(uint32_t reason);    // "ringbuf_full", ...
std::string_view phaseName(uint8_t phase);            // "idle", "start_line", ...

// Address of a conn key / event in text form ("10.1.0.2", "fd00::2").
std::string addressToString(uint8_t family, const uint8_t (&addr)[16]);
// The captured path as text (path_len bytes).
std::string_view eventPath(const podlens_http_event& event);

std::string toString(const podlens_selector_key& key);
std::string toString(const podlens_conn_key& key);
std::string toString(const podlens_http_event& event);

}  // namespace podlens

bool operator==(const podlens_selector_key& a, const podlens_selector_key& b);
bool operator==(const podlens_selector_value& a, const podlens_selector_value& b);
bool operator==(const podlens_conn_key& a, const podlens_conn_key& b);
bool operator==(const podlens_http_event& a, const podlens_http_event& b);
