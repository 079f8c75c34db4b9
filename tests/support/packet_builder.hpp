// A small fluent builder of Ethernet/IPv4|IPv6/TCP frames for BPF_PROG_TEST_RUN, and TcpFlow,
// which keeps both sides' sequence numbers so tests read like a conversation.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace podlens::test {

enum TcpFlag : uint8_t { kFin = 0x01, kSyn = 0x02, kRst = 0x04, kPsh = 0x08, kAck = 0x10 };

class PacketBuilder {
 public:
  PacketBuilder& ipv4(std::string_view src, std::string_view dst);
  PacketBuilder& ipv6(std::string_view src, std::string_view dst);
  PacketBuilder& tcp(uint16_t srcPort, uint16_t dstPort);
  PacketBuilder& seq(uint32_t seq);
  PacketBuilder& ack(uint32_t ack);
  PacketBuilder& flags(uint8_t flags);
  PacketBuilder& payload(std::string_view bytes);
  // Ethernet + IP + TCP + payload, lengths and IP checksum filled in.
  std::vector<uint8_t> build() const;

 private:
  bool v6_ = false;
  uint8_t src_[16] = {};
  uint8_t dst_[16] = {};
  uint16_t srcPort_ = 0;
  uint16_t dstPort_ = 0;
  uint32_t seq_ = 0;
  uint32_t ack_ = 0;
  uint8_t flags_ = kAck;
  std::string payload_;
};

// One frame as the host-side veth sees it: fromPod frames go to the ingress program.
struct Segment {
  std::vector<uint8_t> frame;
  bool fromPod = false;
  uint32_t gsoSize = 0;  // > 0: an skb holding a GSO super-packet of this MSS
};

// A TCP connection between a client and a server, one of which is the observed pod.
class TcpFlow {
 public:
  struct Endpoint {
    std::string addr;
    uint16_t port;
  };
  // podIsServer: the pod serves (Inbound selectors); else it is the client (Outbound).
  TcpFlow(Endpoint client, Endpoint server, bool podIsServer, bool v6 = false);

  Segment clientSyn();
  Segment serverSynAck();
  // Payload segments; sequence numbers advance by the payload length.
  Segment client(std::string_view bytes, uint8_t flags = kAck | kPsh);
  Segment server(std::string_view bytes, uint8_t flags = kAck | kPsh);
  // Same payload as a segment at an explicit offset from the side's current sequence number,
  // without advancing it (for retransmissions and gaps).
  Segment clientAt(int64_t relativeSeq, std::string_view bytes);
  Segment serverAt(int64_t relativeSeq, std::string_view bytes);
  Segment clientFin();
  Segment serverFin();
  Segment serverRst();

  // Splits bytes at the given offsets into consecutive client segments.
  std::vector<Segment> clientSplit(std::string_view bytes, const std::vector<size_t>& cuts);
  std::vector<Segment> serverSplit(std::string_view bytes, const std::vector<size_t>& cuts);

  // The observed pod's end of the connection and its peer's.
  const Endpoint& podEnd() const { return podIsServer_ ? server_ : client_; }
  const Endpoint& peerEnd() const { return podIsServer_ ? client_ : server_; }
  bool v6() const { return v6_; }

  uint32_t clientSeq() const { return clientSeq_; }
  uint32_t serverSeq() const { return serverSeq_; }

 private:
  Segment make(bool fromClient, uint32_t seq, uint8_t flags, std::string_view bytes) const;

  Endpoint client_;
  Endpoint server_;
  bool podIsServer_;
  bool v6_;
  uint32_t clientSeq_ = 1000;
  uint32_t serverSeq_ = 500000;
};

}  // namespace podlens::test
