// BPF tier: what one TCP flow looks like when its segments are processed on two CPUs (a
// sender that migrated between CPUs mid-stream on veth): out of order, and at the same time.
// Needs root.
#include <gtest/gtest.h>

#include <time.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "support/bpf_harness.hpp"
#include "support/require_root.hpp"

namespace podlens::test {
namespace {

constexpr uint16_t kPort = 8080;

uint64_t monotonicNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);  // bpf_ktime_get_ns() reads the same clock
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

class Reorder : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() == 0) {
      harness_ = new BpfHarness();
      harness_->select(kPort, PODLENS_DIR_INBOUND);
    }
  }
  static void TearDownTestSuite() {
    delete harness_;
    harness_ = nullptr;
  }
  void SetUp() override { PODLENS_REQUIRE_ROOT(); }

  // A new connection to the pod, handshake done; losses are counted from here.
  TcpFlow open() {
    static uint16_t nextClientPort = 45000;
    TcpFlow flow({"10.1.0.20", nextClientPort++}, {"10.1.0.10", kPort}, true);
    run(flow.clientSyn());
    run(flow.serverSynAck());
    before_ = harness_->losses();
    return flow;
  }
  void run(const Segment& s) { EXPECT_EQ(harness_->run(s), -1 /* TC_ACT_UNSPEC */); }
  // Losses since open(), every reason: {reason, count} for the non-zero ones.
  std::vector<std::pair<std::string, uint64_t>> lossesSinceOpen() const {
    LossCounters now = harness_->losses();
    std::vector<std::pair<std::string, uint64_t>> out;
    for (uint32_t r = 0; r < PODLENS_LOSS__COUNT; ++r) {
      if (now[r] != before_[r]) {
        out.emplace_back(lossReasonName(r), now[r] - before_[r]);
      }
    }
    return out;
  }

  // Sets the request stream's busy flag, as another CPU holding it would.
  static void setRequestBusy(const TcpFlow& flow, __u64 busy) {
    std::optional<podlens_conn_state> state = harness_->connection(flow);
    ASSERT_TRUE(state);
    state->req.busy = busy;
    harness_->putConnection(flow, *state);
  }
  // Both busy flags of flow's connection, {req, resp}.
  using BusyFlags = std::pair<__u64, __u64>;
  static BusyFlags busyFlags(const TcpFlow& flow) {
    std::optional<podlens_conn_state> state = harness_->connection(flow);
    return state ? BusyFlags{state->req.busy, state->resp.busy} : BusyFlags{~0ull, ~0ull};
  }
  // The path of the one event since the last call ("" and a failure if not exactly one).
  static std::string onlyEventPath() {
    std::vector<podlens_http_event> events = harness_->takeEvents();
    EXPECT_EQ(events.size(), 1u);
    return events.size() == 1 ? std::string(eventPath(events[0])) : "";
  }

  static BpfHarness* harness_;
  LossCounters before_{};
};

BpfHarness* Reorder::harness_ = nullptr;

using Losses = std::vector<std::pair<std::string, uint64_t>>;

TEST_F(Reorder, FinBeforeTheLastBodySegmentEndsTheResponseAtThatSegment) {
  TcpFlow flow = open();
  run(flow.client("GET /late HTTP/1.0\r\n\r\n"));
  std::vector<Segment> resp =
      flow.serverSplit("HTTP/1.0 200 OK\r\n\r\n" + std::string(3000, 'u'), {1448, 2896});
  Segment fin = flow.serverFin();
  run(resp[0]);
  run(resp[1]);
  run(fin);
  uint64_t afterFin = monotonicNs();
  run(resp[2]);
  uint64_t afterLast = monotonicNs();

  std::vector<podlens_http_event> events = harness_->takeEvents();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].status, 200);
  EXPECT_EQ(eventPath(events[0]), "/late");
  EXPECT_EQ(events[0].flags, PODLENS_EVENT_HTTP10 | PODLENS_EVENT_ENDED_BY_CLOSE);
  EXPECT_GE(events[0].response_last_byte_ns, afterFin) << "the FIN's time, not the last byte's";
  EXPECT_LE(events[0].response_last_byte_ns, afterLast);
  EXPECT_EQ(lossesSinceOpen(), Losses{});
}

TEST_F(Reorder, InOrderFinEndsTheResponseAtTheFin) {
  TcpFlow flow = open();
  run(flow.client("GET /in-order HTTP/1.0\r\n\r\n"));
  for (const Segment& s : flow.serverSplit("HTTP/1.0 200 OK\r\n\r\nbody", {10})) {
    run(s);
  }
  uint64_t beforeFin = monotonicNs();
  run(flow.serverFin());
  std::vector<podlens_http_event> events = harness_->takeEvents();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(eventPath(events[0]), "/in-order");
  EXPECT_GE(events[0].response_last_byte_ns, beforeFin);
  EXPECT_EQ(lossesSinceOpen(), Losses{});
}

// Two CPUs on one stream: the second finds the stream busy. Staged by setting the flag from
// user space, as the first CPU would hold it.
TEST_F(Reorder, SegmentOfABusyStreamIsSkippedAndCountedTheNextResynchronises) {
  TcpFlow flow = open();
  std::string first = "GET /first HTTP/1.1\r\nHost: a\r\nAccept: */*\r\nX-Long: " +
                      std::string(200, 'x') + "\r\n\r\n";
  std::vector<Segment> parts = flow.clientSplit(first, {30, 120});
  run(parts[0]);
  std::optional<podlens_conn_state> held = harness_->connection(flow);
  ASSERT_TRUE(held);
  setRequestBusy(flow, 1);

  run(parts[1]);
  std::optional<podlens_conn_state> after = harness_->connection(flow);
  ASSERT_TRUE(after);
  EXPECT_EQ(after->req.next_seq, held->req.next_seq) << "a busy stream's state was touched";
  EXPECT_EQ(after->req.phase, held->req.phase);
  EXPECT_EQ(after->req.busy, 1u) << "released a flag another CPU holds";
  EXPECT_EQ(lossesSinceOpen(), (Losses{{"concurrent_segment", 1}}));

  setRequestBusy(flow, 0);  // the first CPU is done
  run(parts[2]);             // the skipped bytes are a gap: resynchronise
  run(flow.client("GET /second HTTP/1.1\r\nHost: a\r\n\r\n"));
  run(flow.server("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
  EXPECT_EQ(onlyEventPath(), "/second");
  EXPECT_EQ(lossesSinceOpen(), (Losses{{"seq_gap", 1}, {"concurrent_segment", 1}}));
  EXPECT_EQ(busyFlags(flow), (BusyFlags{0, 0}));
}

// The two streams of a connection are written by their own direction only (see abi.h), and
// a request and its response are often processed on two CPUs at once (ingress, egress): a
// busy request stream must not hold the response back.
TEST_F(Reorder, BusyRequestStreamDoesNotBlockTheResponseStream) {
  TcpFlow flow = open();
  run(flow.client("GET /both HTTP/1.1\r\nHost: a\r\n\r\n"));
  setRequestBusy(flow, 1);
  run(flow.server("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
  EXPECT_EQ(onlyEventPath(), "/both");
  EXPECT_EQ(lossesSinceOpen(), Losses{});
  EXPECT_EQ(busyFlags(flow), (BusyFlags{1, 0}));
}

// A pure ACK carries nothing to parse: it must neither take the flag nor be counted when the
// stream is busy (ACKs of one direction interleave with the other direction's data).
TEST_F(Reorder, PureAckOfABusyStreamIsNotALoss) {
  TcpFlow flow = open();
  run(flow.client("GET /ack HTTP/1.1\r\nHost: a\r\n\r\n"));
  setRequestBusy(flow, 1);
  run(flow.client("", kAck));
  EXPECT_EQ(lossesSinceOpen(), Losses{});
  EXPECT_EQ(busyFlags(flow), (BusyFlags{1, 0}));
  setRequestBusy(flow, 0);
  run(flow.server("HTTP/1.1 204 No Content\r\n\r\n"));
  EXPECT_EQ(onlyEventPath(), "/ack");
}

}  // namespace
}  // namespace podlens::test
