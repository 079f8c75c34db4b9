#include <podlens/abi.hpp>

#include <arpa/inet.h>

#include <array>
#include <cstring>
#include <sstream>

namespace podlens {
namespace {

constexpr std::array<std::string_view, 10> kMethodNames = {
    "_OTHER", "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"};

constexpr std::array<std::string_view, PODLENS_LOSS__COUNT> kLossReasonNames = {
    "ringbuf_full",      "conn_map_full",    "no_conn_state",      "path_truncated",
    "header_too_long",   "seq_gap",          "unparsable",         "pipeline_overflow",
    "unmatched_response", "parse_budget",    "unsupported_framing", "request_unanswered",
    "chunk_framing",     "message_truncated", "concurrent_segment", "tail_call"};

constexpr std::array<std::string_view, 8> kPhaseNames = {
    "idle",           "start_line",       "headers", "body_length",
    "body_chunked",   "body_until_close", "resync",  "tunnel"};

template <typename T>
bool bytesEqual(const T& a, const T& b) {
  return std::memcmp(&a, &b, sizeof(T)) == 0;
}

}  // namespace

std::string_view methodName(uint8_t method) {
  return method < kMethodNames.size() ? kMethodNames[method] : kMethodNames[0];
}

std::string_view directionName(uint8_t direction) {
  return direction == PODLENS_DIR_OUTBOUND ? "outbound" : "inbound";
}

std::string_view lossReasonName(uint32_t reason) {
  return reason < kLossReasonNames.size() ? kLossReasonNames[reason] : "unknown";
}

std::string_view phaseName(uint8_t phase) {
  return phase < kPhaseNames.size() ? kPhaseNames[phase] : "unknown";
}

std::string addressToString(uint8_t family, const uint8_t (&addr)[16]) {
  char text[INET6_ADDRSTRLEN] = {};
  int af = family == PODLENS_AF_INET6 ? AF_INET6 : AF_INET;
  if (inet_ntop(af, addr, text, sizeof(text)) == nullptr) {
    return "?";
  }
  return text;
}

std::string_view eventPath(const podlens_http_event& event) {
  size_t len = event.path_len < PODLENS_PATH_MAX ? event.path_len : PODLENS_PATH_MAX;
  return {reinterpret_cast<const char*>(event.path), len};
}

std::string toString(const podlens_selector_key& key) {
  std::ostringstream out;
  out << "ifindex=" << key.ifindex << " port=" << key.port
      << " direction=" << directionName(key.direction);
  return out.str();
}

std::string toString(const podlens_conn_key& key) {
  std::ostringstream out;
  out << "ifindex=" << key.ifindex << " pod=" << addressToString(key.family, key.pod_addr) << ":"
      << key.pod_port << " peer=" << addressToString(key.family, key.peer_addr) << ":"
      << key.peer_port;
  return out.str();
}

std::string toString(const podlens_http_event& event) {
  std::ostringstream out;
  out << directionName(event.direction) << " " << methodName(event.method) << " "
      << eventPath(event) << " -> " << event.status << " ifindex=" << event.ifindex
      << " pod=" << addressToString(event.family, event.pod_addr) << ":" << event.pod_port
      << " peer=" << addressToString(event.family, event.peer_addr) << ":" << event.peer_port
      << " ttfb_ns=" << (event.response_first_byte_ns - event.request_start_ns)
      << " total_ns=" << (event.response_last_byte_ns - event.request_start_ns)
      << " flags=0x" << std::hex << static_cast<int>(event.flags);
  return out.str();
}

}  // namespace podlens

bool operator==(const podlens_selector_key& a, const podlens_selector_key& b) {
  return podlens::bytesEqual(a, b);
}
bool operator==(const podlens_selector_value& a, const podlens_selector_value& b) {
  return podlens::bytesEqual(a, b);
}
bool operator==(const podlens_conn_key& a, const podlens_conn_key& b) {
  return podlens::bytesEqual(a, b);
}
bool operator==(const podlens_http_event& a, const podlens_http_event& b) {
  return podlens::bytesEqual(a, b);
}
