// BPF tier: answers (bpf/lib/answers.h). A response leaves its half of the transaction in its
// connection and writes no event; the request stream's next packet, a packet that ends the
// connection, or the sweep writes the event, once, and in the requests' order.
#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "support/bpf_harness.hpp"
#include "support/require_root.hpp"
#include "support/ring_watch.hpp"

namespace podlens::test {
namespace {

std::string requestFor(const std::string& path) {
  return "GET " + path + " HTTP/1.1\r\nHost: h\r\n\r\n";
}
const std::string kOk = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

std::string requestsFor(int first, int last) {
  std::string requests;
  for (int i = first; i <= last; ++i) {
    requests += requestFor("/" + std::to_string(i));
  }
  return requests;
}

std::string responses(int count) {
  std::string all;
  for (int i = 0; i < count; ++i) {
    all += kOk;
  }
  return all;
}

struct AnswersTest : ::testing::Test {
  void SetUp() override {
    PODLENS_REQUIRE_ROOT();
    harness.emplace();
    harness->select(8080, PODLENS_DIR_INBOUND);
    harness->runAll({flow.clientSyn(), flow.serverSynAck()});
    written.emplace(harness->plane().eventsFd());
    ASSERT_TRUE(written->ok());
  }
  // Bytes of records written to the ring since SetUp.
  uint64_t inRing() const { return written->bytes(); }
  // A record's bytes for an event of a path of len bytes.
  static constexpr uint64_t record(uint32_t len) {
    return PODLENS_EVENTS_RECORD_BYTES(PODLENS_EVENT_BYTES(len));
  }

  std::optional<ProducerPosition> written;
  TcpFlow flow{{"10.8.0.2", 43100}, {"10.8.0.1", 8080}, /*podIsServer=*/true};
  std::optional<BpfHarness> harness;
};

TEST_F(AnswersTest, TheNextRequestWritesTheEventOfTheResponseBeforeIt) {
  harness->runAll({flow.client(requestFor("/first")), flow.server(kOk)});
  EXPECT_EQ(inRing(), 0u) << "the response wrote an event";
  harness->run(flow.client(requestFor("/second")));
  EXPECT_EQ(inRing(), record(6));
  auto events = harness->takeEvents();  // the sweep finds /second unanswered: nothing more
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(eventPath(events[0]), "/first");
  EXPECT_EQ(events[0].status, 200);
  EXPECT_EQ(events[0].method, PODLENS_METHOD_GET);
  EXPECT_LE(events[0].request_start_ns, events[0].response_first_byte_ns);
  EXPECT_LE(events[0].response_first_byte_ns, events[0].response_last_byte_ns);
}

TEST_F(AnswersTest, TheSweepWritesAnIdleConnectionsLastAnswerOnce) {
  harness->runAll({flow.client(requestFor("/idle")), flow.server(kOk)});
  EXPECT_EQ(inRing(), 0u);
  harness->sweepAnswers();
  EXPECT_EQ(inRing(), record(5));
  harness->sweepAnswers();
  EXPECT_EQ(inRing(), record(5)) << "swept out twice";
  harness->run(flow.client(requestFor("/next")));
  EXPECT_EQ(inRing(), record(5)) << "the request stream wrote the swept answer's event again";
  auto events = harness->takeEvents();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(eventPath(events[0]), "/idle");
}

// The server resets the connection after its response: the reset's packet writes the event
// before the state goes, on the server's side.
TEST_F(AnswersTest, APacketThatEndsTheConnectionWritesItsAnswers) {
  harness->runAll({flow.client(requestFor("/reset")), flow.server(kOk), flow.serverRst()});
  EXPECT_FALSE(harness->connection(flow).has_value());
  EXPECT_EQ(inRing(), record(6));
  auto events = harness->takeEvents();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(eventPath(events[0]), "/reset");
  EXPECT_EQ(harness->losses()[PODLENS_LOSS_REQUEST_UNANSWERED], 0u);
}

TEST_F(AnswersTest, PipelinedAnswersGoOutInTheirRequestsOrder) {
  harness->runAll({flow.client(requestsFor(1, PODLENS_PENDING_MAX)),
                   flow.server(responses(PODLENS_PENDING_MAX))});
  EXPECT_EQ(inRing(), 0u);
  harness->run(flow.client(requestFor("/after")));  // takes a slot the answers freed
  EXPECT_EQ(inRing(), PODLENS_PENDING_MAX * record(2));
  harness->run(flow.server(kOk));
  auto events = harness->takeEvents();
  ASSERT_EQ(events.size(), static_cast<size_t>(PODLENS_PENDING_MAX + 1));
  for (int i = 0; i < PODLENS_PENDING_MAX; ++i) {
    EXPECT_EQ(eventPath(events[i]), "/" + std::to_string(i + 1));
  }
  EXPECT_EQ(eventPath(events.back()), "/after");
  EXPECT_EQ(harness->losses()[PODLENS_LOSS_PIPELINE_OVERFLOW], 0u);
}

// A request holds its FIFO slot until its event is out: the request stream's packet writes
// the events of the answers before it first, so a packet after four answered requests takes
// four more, and only a fifth in it overflows.
TEST_F(AnswersTest, AnsweredRequestsLeaveTheirSlotsWhenTheirEventsGoOut) {
  const int kMax = PODLENS_PENDING_MAX;
  harness->runAll({flow.client(requestsFor(1, kMax)), flow.server(responses(kMax))});
  harness->run(flow.client(requestsFor(kMax + 1, 2 * kMax + 1)));
  EXPECT_EQ(harness->losses()[PODLENS_LOSS_PIPELINE_OVERFLOW], 1u);
  harness->run(flow.server(responses(kMax + 1)));  // the overflowed one's answer goes unsent
  auto events = harness->takeEvents();
  ASSERT_EQ(events.size(), static_cast<size_t>(2 * kMax));
  for (int i = 0; i < 2 * kMax; ++i) {
    EXPECT_EQ(eventPath(events[i]), "/" + std::to_string(i + 1));
  }
}

// Requests dropped unanswered when the response stream loses its framing have no event (they
// are counted as such); the emitters step past them to the answers after.
TEST_F(AnswersTest, RequestsDroppedUnansweredAreSteppedPast) {
  harness->runAll({flow.client(requestFor("/a") + requestFor("/b")),
                   flow.server("not an HTTP response\r\n\r\n")});
  EXPECT_EQ(harness->losses()[PODLENS_LOSS_REQUEST_UNANSWERED], 2u);
  harness->runAll({flow.client(requestFor("/c")), flow.server(kOk),
                   flow.client(requestFor("/d"))});
  EXPECT_EQ(inRing(), record(2));
  auto events = harness->takeEvents();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(eventPath(events[0]), "/c");
}

}  // namespace
}  // namespace podlens::test
