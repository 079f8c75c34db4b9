// BPF tier: random and adversarial byte streams through the real programs, from fixed seeds
// (a failure names its seed and connection, and replays the same way).
//
//   WellFormed   random keep-alive conversations (pipelining, Content-Length and chunked
//                bodies both ways with random chunk sizes, extensions and trailers, HEAD,
//                204/304, interim 1xx, bodies until FIN), cut at random: exactly the
//                transactions in the bytes, no loss.
//   Adversarial  random bytes, truncated headers, giant lines, broken chunk framing, byte
//                flips, random cuts: never more events than real responses, state bounded
//                by the table's size, every connection with malformed input counted in pl_losses,
//                and a well-formed conversation afterwards still parses exactly.
//   Latency      response_last_byte_ns is the time of the last body byte for each framing.
#include <gtest/gtest.h>

#include <time.h>

#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "support/bpf_harness.hpp"
#include "support/conversation.hpp"
#include "support/require_root.hpp"

namespace podlens::test {
namespace {

uint64_t total(const LossCounters& c) {
  uint64_t sum = 0;
  for (uint64_t v : c) {
    sum += v;
  }
  return sum;
}

std::string describe(const std::vector<podlens_http_event>& events) {
  std::string out;
  for (const podlens_http_event& e : events) {
    out += "  " + toString(e) + "\n";
  }
  return out;
}

class Fuzz : public ::testing::Test {
 protected:
  void SetUp() override { PODLENS_REQUIRE_ROOT(); }

  // Runs a conversation on a fresh connection; returns the events it produced.
  static std::vector<podlens_http_event> play(BpfHarness& h, ConversationGenerator& g,
                                              const Conversation& c, uint16_t clientPort,
                                              bool v6) {
    TcpFlow flow({v6 ? "fd00::2" : "10.8.0.2", clientPort}, {v6 ? "fd00::1" : "10.8.0.1", 8080},
                 true, v6);
    return playConversation(h, g, c, flow);
  }

  static void expectExactly(const std::vector<podlens_http_event>& got,
                            const std::vector<Txn>& want, const std::string& where) {
    ASSERT_EQ(got.size(), want.size()) << where << "\n" << describe(got);
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].method, want[i].method) << where << " event " << i;
      EXPECT_EQ(eventPath(got[i]), want[i].path) << where << " event " << i;
      EXPECT_EQ(got[i].status, want[i].status) << where << " event " << i;
      EXPECT_EQ(got[i].flags, want[i].flags) << where << " event " << i;
      EXPECT_LE(got[i].response_first_byte_ns, got[i].response_last_byte_ns) << where;
    }
  }
};

TEST_F(Fuzz, WellFormedRandomConversationsYieldExactlyTheirTransactions) {
  BpfHarness h;
  h.select(8080, PODLENS_DIR_INBOUND);
  size_t transactions = 0, chunked = 0;
  for (uint32_t seed = 1; seed <= 300; ++seed) {
    ConversationGenerator g(seed);
    Conversation c = g.conversation();
    transactions += c.expected.size();
    for (const std::vector<std::string>* side : {&c.clientBatches, &c.serverBatches}) {
      for (const std::string& batch : *side) {
        for (size_t at = batch.find("chunked\r\n"); at != std::string::npos;
             at = batch.find("chunked\r\n", at + 1)) {
          ++chunked;
        }
      }
    }
    LossCounters before = h.losses();
    std::vector<podlens_http_event> events =
        play(h, g, c, static_cast<uint16_t>(20000 + seed), seed % 3 == 0);
    std::string where = "seed " + std::to_string(seed);
    expectExactly(events, c.expected, where);
    LossCounters after = h.losses();
    for (size_t r = 0; r < after.size(); ++r) {
      EXPECT_EQ(after[r] - before[r], 0u) << where << ": " << lossReasonName(r);
    }
    if (HasFailure()) {
      return;  // one seed's story is enough to read
    }
  }
  std::printf("300 conversations: %zu transactions, %zu chunked bodies, all exact\n",
              transactions, chunked);
}

// Malformed input of one kind on one connection; `responses` bounds the events it may yield.
struct Adversary {
  std::vector<Segment> segments;
  size_t responses = 0;
  bool malformed = true;  // the parser must count something
};

Adversary adversary(ConversationGenerator& g, int kind, uint16_t clientPort) {
  bool v6 = g.chance(0.3);
  TcpFlow flow({v6 ? "fd00::12" : "10.8.1.2", clientPort}, {v6 ? "fd00::11" : "10.8.1.1", 8080},
               true, v6);
  Adversary a;
  auto add = [&a](std::vector<Segment> more) {
    a.segments.insert(a.segments.end(), more.begin(), more.end());
  };
  bool handshake = kind != 0 || g.chance(0.5);
  if (handshake) {
    add({flow.clientSyn(), flow.serverSynAck()});
  }
  const std::string validRequest = "GET /v HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n";
  switch (kind) {
    case 0: {  // random bytes both ways, random cuts
      std::string junk = g.bytes(g.pick(16, 3000));
      add(flow.clientSplit(junk, g.cuts(junk.size())));
      add({flow.server(g.bytes(g.pick(16, 1500)))});
      break;
    }
    case 1: {  // request headers cut short, then the connection ends
      std::string req = "POST /t HTTP/1.1\r\nHost: h\r\n" + g.extraHeaders() + "\r\n";
      std::string cut = req.substr(0, g.pick(1, req.size() - 2));
      add(flow.clientSplit(cut, g.cuts(cut.size())));
      add(g.chance(0.5) ? std::vector<Segment>{flow.clientFin(), flow.serverFin()}
                        : std::vector<Segment>{flow.serverRst()});
      break;
    }
    case 2: {  // a giant start line or header block
      std::string req =
          g.chance(0.5) ? "GET /" + std::string(PODLENS_START_LINE_MAX + 10, 'l') + " HTTP/1.1"
                        : "GET / HTTP/1.1\r\nX-Big: " + std::string(PODLENS_HEADER_BLOCK_MAX, 'h');
      add(flow.clientSplit(req, g.cuts(req.size())));
      break;
    }
    case 3: {  // a chunked response whose framing breaks
      static const std::vector<std::string> kBroken = {
          "zz\r\n", "5\r\nhello world\r\n", "12345678901234567\r\n", ";ext\r\n",
          "5\r\nhello\r\n0\r\n" + std::string(PODLENS_HEADER_BLOCK_MAX + 1, 't')};
      std::string resp = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" +
                         kBroken[g.pick(0, kBroken.size() - 1)];
      add({flow.client(validRequest)});
      add(flow.serverSplit(resp, g.cuts(resp.size())));
      a.responses = 1;
      break;
    }
    default: {  // a valid exchange with a few bytes flipped: detection is not promised
      std::string req = validRequest;
      std::string resp = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + g.chunkedBody();
      for (int i = g.pick(1, 3); i > 0; --i) {
        std::string& victim = g.chance(0.5) ? req : resp;
        victim[g.pick(0, victim.size() - 1)] = static_cast<char>(g.pick(0, 255));
      }
      add(flow.clientSplit(req, g.cuts(req.size())));
      add(flow.serverSplit(resp, g.cuts(resp.size())));
      a.responses = 1;
      a.malformed = false;
      break;
    }
  }
  return a;
}

TEST_F(Fuzz, AdversarialStreamsAreBoundedCountedAndForgotten) {
  constexpr uint32_t kMaxConnections = 64;
  DataPlaneOptions options;
  options.maxConnections = kMaxConnections;
  BpfHarness h(options);
  h.select(8080, PODLENS_DIR_INBOUND);
  ConversationGenerator g(20261125);
  size_t events = 0, bound = 0;
  for (int i = 0; i < 3000; ++i) {
    int kind = i % 5;
    Adversary a = adversary(g, kind, static_cast<uint16_t>(10000 + i));
    uint64_t before = total(h.losses());
    h.runAll(a.segments);
    size_t got = h.takeEvents().size();
    EXPECT_LE(got, a.responses) << "connection " << i << " kind " << kind;
    if (a.malformed) {
      EXPECT_GT(total(h.losses()), before) << "connection " << i << " kind " << kind;
    }
    events += got;
    bound += a.responses;
    if (HasFailure()) {
      return;
    }
  }
  EXPECT_LE(events, bound);
  EXPECT_LE(h.plane().countConnections(), kMaxConnections);
  LossCounters losses = h.losses();
  std::printf("3000 adversarial connections: %zu events (bound %zu), %zu states kept; losses:",
              events, bound, h.plane().countConnections());
  for (size_t r = 0; r < losses.size(); ++r) {
    if (losses[r] > 0) {
      std::printf(" %s=%llu", std::string(lossReasonName(r)).c_str(),
                  static_cast<unsigned long long>(losses[r]));
    }
  }
  std::printf("\n");
  EXPECT_EQ(h.losses()[PODLENS_LOSS_RINGBUF_FULL], 0u);

  // After all that, a well-formed conversation on a new connection parses exactly. Its
  // SYN may evict a garbage state from its set (the table is full of them, and where depends
  // on the table's random hash seed): what that state still waited for is counted
  // (conn__forget: message_truncated, request_unanswered), the only losses the conversation
  // may add.
  for (uint32_t seed = 1000; seed < 1010; ++seed) {
    ConversationGenerator fresh(seed);
    Conversation c = fresh.conversation();
    LossCounters before = h.losses();
    std::vector<podlens_http_event> got =
        play(h, fresh, c, static_cast<uint16_t>(60000 + seed), seed % 2 == 0);
    const std::string context = "after garbage, seed " + std::to_string(seed) +
                                ", table hash seed " +
                                std::to_string(h.plane().connectionHashSeed());
    expectExactly(got, c.expected, context);
    LossCounters after = h.losses();
    for (size_t r = 0; r < after.size(); ++r) {
      if (r != PODLENS_LOSS_MESSAGE_TRUNCATED && r != PODLENS_LOSS_REQUEST_UNANSWERED) {
        EXPECT_EQ(after[r], before[r]) << lossReasonName(r) << ", " << context;
      }
    }
  }
}

uint64_t monotonicNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + ts.tv_nsec;
}

// The body's last segment comes 2 ms after the first: the event's last-byte time must be
// after that pause for chunked, Content-Length and until-FIN bodies alike.
TEST(Latency, LastByteTimeIsTheEndOfTheBodyForEveryFraming) {
  PODLENS_REQUIRE_ROOT();
  BpfHarness h;
  h.select(8080, PODLENS_DIR_INBOUND);
  const std::vector<std::pair<std::string, std::string>> bodies = {
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", "0\r\n\r\n"},
      {"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234", "56789"},
      {"HTTP/1.0 200 OK\r\n\r\nuntil", " the end"},
  };
  uint16_t port = 45000;
  for (const auto& [head, tail] : bodies) {
    TcpFlow flow({"10.8.2.2", port++}, {"10.8.2.1", 8080}, true);
    h.runAll({flow.clientSyn(), flow.serverSynAck(), flow.client("GET /t HTTP/1.1\r\n\r\n"),
              flow.server(head)});
    uint64_t pause = monotonicNs();
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    h.runAll({flow.server(tail), flow.serverFin()});
    std::vector<podlens_http_event> events = h.takeEvents();
    ASSERT_EQ(events.size(), 1u) << head;
    EXPECT_LT(events[0].response_first_byte_ns, pause) << head;
    EXPECT_GT(events[0].response_last_byte_ns, pause + 2000000) << head;
  }
}

}  // namespace
}  // namespace podlens::test
