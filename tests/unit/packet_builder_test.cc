// Unit tier: the packet builder the BPF tier relies on must itself be right.
#include <gtest/gtest.h>

#include "support/packet_builder.hpp"

namespace podlens::test {
namespace {

uint16_t be16(const std::vector<uint8_t>& f, size_t at) { return (f[at] << 8) | f[at + 1]; }
uint32_t be32(const std::vector<uint8_t>& f, size_t at) {
  return (static_cast<uint32_t>(be16(f, at)) << 16) | be16(f, at + 2);
}

TEST(PacketBuilder, Ipv4FrameHasValidLengthsAndChecksum) {
  auto f =
      PacketBuilder().ipv4("10.0.0.1", "10.0.0.2").tcp(1234, 80).seq(77).payload("abc").build();
  ASSERT_EQ(f.size(), 14u + 20 + 20 + 3);
  EXPECT_EQ(be16(f, 12), 0x0800);
  EXPECT_EQ(be16(f, 14 + 2), 20 + 20 + 3);
  uint32_t sum = 0;
  for (size_t i = 14; i < 34; i += 2) {
    sum += be16(f, i);
  }
  while (sum >> 16) {
    sum = (sum & 0xffff) + (sum >> 16);
  }
  EXPECT_EQ(sum, 0xffffu) << "IPv4 header checksum";
  EXPECT_EQ(be16(f, 34), 1234);
  EXPECT_EQ(be16(f, 36), 80);
  EXPECT_EQ(be32(f, 38), 77u);
  EXPECT_EQ(std::string(f.end() - 3, f.end()), "abc");
}

TEST(PacketBuilder, Ipv6FrameCarriesPayloadLength) {
  auto f = PacketBuilder().ipv6("fd00::1", "fd00::2").tcp(1, 2).payload("hello").build();
  ASSERT_EQ(f.size(), 14u + 40 + 20 + 5);
  EXPECT_EQ(be16(f, 12), 0x86dd);
  EXPECT_EQ(be16(f, 14 + 4), 25);
  EXPECT_EQ(f[14 + 6], 6);
}

TEST(TcpFlow, SequenceNumbersAdvanceAndDirectionFollowsThePod) {
  TcpFlow flow({"10.0.0.2", 40000}, {"10.0.0.1", 8080}, /*podIsServer=*/true);
  Segment syn = flow.clientSyn();
  EXPECT_FALSE(syn.fromPod);  // to the serving pod: veth egress
  uint32_t start = flow.clientSeq();
  Segment req = flow.client("GET / HTTP/1.1\r\n\r\n");
  EXPECT_EQ(be32(req.frame, 38), start);
  EXPECT_EQ(flow.clientSeq(), start + 18);
  Segment resp = flow.server("HTTP/1.1 200 OK\r\n\r\n");
  EXPECT_TRUE(resp.fromPod);
  auto parts = flow.clientSplit("abcdef", {2, 4});
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(be32(parts[2].frame, 38), start + 18 + 4);
}

}  // namespace
}  // namespace podlens::test
