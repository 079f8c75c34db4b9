// Unit tier: the ABI companion. No root, no BPF.
#include <gtest/gtest.h>

#include <podlens/abi.hpp>

#include <arpa/inet.h>

#include <cstring>
#include <set>

namespace podlens {
namespace {

TEST(Abi, LossReasonNamesAreUniqueAndComplete) {
  std::set<std::string_view> names;
  for (uint32_t r = 0; r < PODLENS_LOSS__COUNT; ++r) {
    EXPECT_NE(lossReasonName(r), "unknown") << r;
    names.insert(lossReasonName(r));
  }
  EXPECT_EQ(names.size(), static_cast<size_t>(PODLENS_LOSS__COUNT));
  EXPECT_EQ(lossReasonName(PODLENS_LOSS__COUNT), "unknown");
  EXPECT_EQ(lossReasonName(PODLENS_LOSS_RINGBUF_FULL), "ringbuf_full");
  EXPECT_EQ(lossReasonName(PODLENS_LOSS_SEQ_GAP), "seq_gap");
  EXPECT_EQ(lossReasonName(PODLENS_LOSS_CHUNK_FRAMING), "chunk_framing");
  EXPECT_EQ(lossReasonName(PODLENS_LOSS_CONCURRENT_SEGMENT), "concurrent_segment");
  EXPECT_EQ(lossReasonName(PODLENS_LOSS_TAIL_CALL), "tail_call");
}

TEST(Abi, PhaseNamesCoverEveryPhase) {
  EXPECT_EQ(phaseName(PODLENS_PHASE_BODY_CHUNKED), "body_chunked");
  EXPECT_EQ(phaseName(PODLENS_PHASE_TUNNEL), "tunnel");
  EXPECT_EQ(phaseName(PODLENS_PHASE_TUNNEL + 1), "unknown");
}

TEST(Abi, MethodNamesFollowOpenTelemetry) {
  EXPECT_EQ(methodName(PODLENS_METHOD_GET), "GET");
  EXPECT_EQ(methodName(PODLENS_METHOD_PATCH), "PATCH");
  EXPECT_EQ(methodName(PODLENS_METHOD_UNKNOWN), "_OTHER");
  EXPECT_EQ(methodName(200), "_OTHER");
}

TEST(Abi, PrintsEventsWithAddressesAndPath) {
  podlens_http_event e{};
  e.method = PODLENS_METHOD_POST;
  e.status = 201;
  e.family = PODLENS_AF_INET;
  e.pod_port = 8080;
  e.peer_port = 40000;
  inet_pton(AF_INET, "10.0.0.1", e.pod_addr);
  inet_pton(AF_INET, "10.0.0.2", e.peer_addr);
  std::memcpy(e.path, "/items", 6);
  e.path_len = 6;
  e.request_start_ns = 100;
  e.response_first_byte_ns = 350;
  e.response_last_byte_ns = 900;
  std::string text = toString(e);
  EXPECT_NE(text.find("POST /items -> 201"), std::string::npos) << text;
  EXPECT_NE(text.find("pod=10.0.0.1:8080"), std::string::npos) << text;
  EXPECT_NE(text.find("ttfb_ns=250"), std::string::npos) << text;
  EXPECT_NE(text.find("total_ns=800"), std::string::npos) << text;
}

TEST(Abi, Ipv6AddressesPrint) {
  uint8_t addr[16] = {};
  inet_pton(AF_INET6, "fd00::1", addr);
  EXPECT_EQ(addressToString(PODLENS_AF_INET6, addr), "fd00::1");
}

TEST(Abi, PathIsBoundedByPathMax) {
  podlens_http_event e{};
  e.path_len = 60000;  // a corrupt length never reads past the array
  EXPECT_EQ(eventPath(e).size(), static_cast<size_t>(PODLENS_PATH_MAX));
}

TEST(Abi, EqualityComparesEveryByte) {
  podlens_conn_key a{};
  podlens_conn_key b{};
  EXPECT_TRUE(a == b);
  b.peer_addr[15] = 1;
  EXPECT_FALSE(a == b);
  podlens_selector_key s1{1, 80, PODLENS_DIR_INBOUND, 0};
  podlens_selector_key s2{1, 80, PODLENS_DIR_OUTBOUND, 0};
  EXPECT_FALSE(s1 == s2);
  EXPECT_EQ(toString(s2), "ifindex=1 port=80 direction=outbound");
}

}  // namespace
}  // namespace podlens
