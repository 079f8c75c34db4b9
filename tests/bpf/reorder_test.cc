// BPF tier: what one TCP flow looks like when its segments are processed on two CPUs (a
// sender that migrated between CPUs mid-stream on veth): out of order, and at the same time.
// Needs root.
#include <gtest/gtest.h>

#include <time.h>

#include <string>
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

}  // namespace
}  // namespace podlens::test
