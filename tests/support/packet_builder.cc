#include "packet_builder.hpp"

#include <arpa/inet.h>

#include <stdexcept>

namespace podlens::test {
namespace {

void put16(std::vector<uint8_t>& out, size_t at, uint16_t v) {
  out[at] = v >> 8;
  out[at + 1] = v & 0xff;
}

void put32(std::vector<uint8_t>& out, size_t at, uint32_t v) {
  put16(out, at, v >> 16);
  put16(out, at + 2, v & 0xffff);
}

uint16_t ipChecksum(const uint8_t* data, size_t len) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < len; i += 2) {
    sum += (data[i] << 8) | data[i + 1];
  }
  while (sum >> 16) {
    sum = (sum & 0xffff) + (sum >> 16);
  }
  return static_cast<uint16_t>(~sum);
}

void parseAddress(int af, std::string_view text, uint8_t* out) {
  std::string copy(text);
  if (inet_pton(af, copy.c_str(), out) != 1) {
    throw std::invalid_argument("bad address in test: " + copy);
  }
}

}  // namespace

PacketBuilder& PacketBuilder::ipv4(std::string_view src, std::string_view dst) {
  v6_ = false;
  parseAddress(AF_INET, src, src_);
  parseAddress(AF_INET, dst, dst_);
  return *this;
}

PacketBuilder& PacketBuilder::ipv6(std::string_view src, std::string_view dst) {
  v6_ = true;
  parseAddress(AF_INET6, src, src_);
  parseAddress(AF_INET6, dst, dst_);
  return *this;
}

PacketBuilder& PacketBuilder::tcp(uint16_t srcPort, uint16_t dstPort) {
  srcPort_ = srcPort;
  dstPort_ = dstPort;
  return *this;
}

PacketBuilder& PacketBuilder::seq(uint32_t seq) {
  seq_ = seq;
  return *this;
}

PacketBuilder& PacketBuilder::ack(uint32_t ack) {
  ack_ = ack;
  return *this;
}

PacketBuilder& PacketBuilder::flags(uint8_t flags) {
  flags_ = flags;
  return *this;
}

PacketBuilder& PacketBuilder::payload(std::string_view bytes) {
  payload_ = bytes;
  return *this;
}

std::vector<uint8_t> PacketBuilder::build() const {
  const size_t eth = 14;
  const size_t ipLen = v6_ ? 40 : 20;
  const size_t tcpLen = 20;
  std::vector<uint8_t> out(eth + ipLen + tcpLen + payload_.size(), 0);
  // Ethernet: locally administered MACs, then the EtherType.
  for (int i = 0; i < 6; ++i) {
    out[i] = 0x02;
    out[6 + i] = 0x04;
  }
  put16(out, 12, v6_ ? 0x86dd : 0x0800);
  size_t ip = eth;
  if (v6_) {
    out[ip] = 0x60;
    put16(out, ip + 4, static_cast<uint16_t>(tcpLen + payload_.size()));
    out[ip + 6] = 6;  // next header: TCP
    out[ip + 7] = 64;
    std::copy(src_, src_ + 16, out.begin() + ip + 8);
    std::copy(dst_, dst_ + 16, out.begin() + ip + 24);
  } else {
    out[ip] = 0x45;
    put16(out, ip + 2, static_cast<uint16_t>(ipLen + tcpLen + payload_.size()));
    put16(out, ip + 6, 0x4000);  // DF
    out[ip + 8] = 64;
    out[ip + 9] = 6;
    std::copy(src_, src_ + 4, out.begin() + ip + 12);
    std::copy(dst_, dst_ + 4, out.begin() + ip + 16);
    put16(out, ip + 10, ipChecksum(&out[ip], ipLen));
  }
  size_t tcp = ip + ipLen;
  put16(out, tcp, srcPort_);
  put16(out, tcp + 2, dstPort_);
  put32(out, tcp + 4, seq_);
  put32(out, tcp + 8, ack_);
  out[tcp + 12] = (tcpLen / 4) << 4;
  out[tcp + 13] = flags_;
  put16(out, tcp + 14, 65535);
  std::copy(payload_.begin(), payload_.end(), out.begin() + tcp + tcpLen);
  return out;
}

TcpFlow::TcpFlow(Endpoint client, Endpoint server, bool podIsServer, bool v6)
    : client_(std::move(client)), server_(std::move(server)), podIsServer_(podIsServer), v6_(v6) {}

Segment TcpFlow::make(bool fromClient, uint32_t seq, uint8_t flags, std::string_view bytes) const {
  const Endpoint& src = fromClient ? client_ : server_;
  const Endpoint& dst = fromClient ? server_ : client_;
  PacketBuilder builder;
  if (v6_) {
    builder.ipv6(src.addr, dst.addr);
  } else {
    builder.ipv4(src.addr, dst.addr);
  }
  builder.tcp(src.port, dst.port)
      .seq(seq)
      .ack(fromClient ? serverSeq_ : clientSeq_)
      .flags(flags)
      .payload(bytes);
  // The pod sends what its side sends: the server's bytes when it serves, else the client's.
  bool fromPod = podIsServer_ ? !fromClient : fromClient;
  return Segment{builder.build(), fromPod, 0};
}

Segment TcpFlow::clientSyn() { return make(true, clientSeq_++, kSyn, {}); }
Segment TcpFlow::serverSynAck() { return make(false, serverSeq_++, kSyn | kAck, {}); }

Segment TcpFlow::client(std::string_view bytes, uint8_t flags) {
  Segment s = make(true, clientSeq_, flags, bytes);
  clientSeq_ += bytes.size() + ((flags & kFin) ? 1 : 0);
  return s;
}

Segment TcpFlow::server(std::string_view bytes, uint8_t flags) {
  Segment s = make(false, serverSeq_, flags, bytes);
  serverSeq_ += bytes.size() + ((flags & kFin) ? 1 : 0);
  return s;
}

Segment TcpFlow::clientAt(int64_t relativeSeq, std::string_view bytes) {
  return make(true, static_cast<uint32_t>(clientSeq_ + relativeSeq), kAck | kPsh, bytes);
}

Segment TcpFlow::serverAt(int64_t relativeSeq, std::string_view bytes) {
  return make(false, static_cast<uint32_t>(serverSeq_ + relativeSeq), kAck | kPsh, bytes);
}

Segment TcpFlow::clientFin() { return client({}, kFin | kAck); }
Segment TcpFlow::serverFin() { return server({}, kFin | kAck); }
Segment TcpFlow::serverRst() { return make(false, serverSeq_, kRst | kAck, {}); }

std::vector<Segment> TcpFlow::clientSplit(std::string_view bytes,
                                          const std::vector<size_t>& cuts) {
  std::vector<Segment> out;
  size_t from = 0;
  for (size_t cut : cuts) {
    out.push_back(client(bytes.substr(from, cut - from)));
    from = cut;
  }
  out.push_back(client(bytes.substr(from)));
  return out;
}

std::vector<Segment> TcpFlow::serverSplit(std::string_view bytes,
                                          const std::vector<size_t>& cuts) {
  std::vector<Segment> out;
  size_t from = 0;
  for (size_t cut : cuts) {
    out.push_back(server(bytes.substr(from, cut - from)));
    from = cut;
  }
  out.push_back(server(bytes.substr(from)));
  return out;
}

}  // namespace podlens::test
