// Events reach the ring a CPU's batch at a time (bpf/lib/events.h): a full batch as one
// record, a batch that does not fill when its CPU's timer fires.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "support/bpf_harness.hpp"
#include "support/require_root.hpp"
#include "support/ring_watch.hpp"

namespace podlens::test {
namespace {

std::string requestFor(const std::string& path) {
  return "GET " + path + " HTTP/1.1\r\nHost: h\r\n\r\n";
}
const std::string kRequest = requestFor("/b");
const char* kResponse = "HTTP/1.1 204 No Content\r\n\r\n";
constexpr uint64_t kEventBytes = PODLENS_EVENT_BYTES(2);  // "/b": 88 bytes in a record

// Events of eventBytes each that a batch takes before it goes to the ring: it goes once it has
// no room left for a whole event.
constexpr int eventsPerBatch(uint64_t eventBytes) {
  return static_cast<int>((PODLENS_EVENT_BATCH_BYTES - sizeof(podlens_http_event)) / eventBytes +
                          1);
}

struct BatchTest : ::testing::Test {
  void SetUp() override {
    PODLENS_REQUIRE_ROOT();
    harness.emplace();
    harness->select(8080, PODLENS_DIR_INBOUND);
    harness->runAll({flow.clientSyn(), flow.serverSynAck()});
    written.emplace(harness->plane().eventsFd());
    ASSERT_TRUE(written->ok());
  }
  void transaction(const std::string& request = kRequest) {
    harness->runAll({flow.client(request), flow.server(kResponse)});
  }
  // Whether the runs since start took so long that the batch timer may have fired.
  static bool timerMayHaveFired(std::chrono::steady_clock::time_point start) {
    return std::chrono::steady_clock::now() - start >=
           std::chrono::nanoseconds(PODLENS_EVENT_BATCH_WAIT_NS / 2);
  }

  TcpFlow flow{{"10.6.0.2", 43000}, {"10.6.0.1", 8080}, true};
  std::optional<BpfHarness> harness;
  std::optional<ProducerPosition> written;

  // Fills a batch with the requests' events (path_len each) and checks that it went to the ring
  // as one record with the last.
  void fillABatch(const std::string& path) {
    StayOnThisCpu stay;
    const std::string request = requestFor(path);
    const uint64_t eventBytes = PODLENS_EVENT_BYTES(path.size());
    const int events = eventsPerBatch(eventBytes);
    auto start = std::chrono::steady_clock::now();
    for (int i = 1; i < events; ++i) {
      transaction(request);
    }
    uint64_t beforeTheLast = written->bytes();
    transaction(request);
    uint64_t afterTheLast = written->bytes();
    if (timerMayHaveFired(start)) {
      GTEST_SKIP() << "the machine stalled for half the batch wait: the timer may have fired";
    }
    EXPECT_EQ(beforeTheLast, 0u) << "an event went to the ring before its batch filled";
    EXPECT_EQ(afterTheLast, PODLENS_EVENTS_RECORD_BYTES(events * eventBytes));
    auto got = harness->takeEvents();
    ASSERT_EQ(got.size(), static_cast<size_t>(events));
    for (const auto& e : got) {
      EXPECT_EQ(e.status, 204);
      EXPECT_EQ(eventPath(e), path);
    }
  }
};

TEST_F(BatchTest, AFullBatchGoesToTheRingAsOneRecord) {
  static_assert(eventsPerBatch(kEventBytes) == 31, "short paths: 31 events to a record");
  fillABatch("/b");
}

TEST_F(BatchTest, ABatchOfTheLongestPathsHoldsSixteen) {
  static_assert(eventsPerBatch(sizeof(podlens_http_event)) == PODLENS_EVENT_BATCH_MAX);
  fillABatch("/" + std::string(PODLENS_PATH_MAX - 1, 'l'));
}

// An event is sent up to its path's last word, and that word's bytes past the path are zero:
// nothing of a longer path an earlier request left in the same FIFO slot rides along (the
// reader would drop it, but it would still reach the ring).
TEST_F(BatchTest, AnEventsLastWordHoldsNothingPastItsPath) {
  StayOnThisCpu stay;  // the events wait in this CPU's batch
  const int cpu = sched_getcpu();
  auto start = std::chrono::steady_clock::now();
  const std::string longer = "/" + std::string(14, 'x');  // 15 bytes: 96 in a record
  for (int i = 0; i < PODLENS_PENDING_MAX; ++i) {
    transaction(requestFor(longer));
  }
  // "/b", in the first slot again, split after its first byte: taken byte by byte (the fast
  // path masks the slot's last word itself)
  harness->runAll({flow.client("GET /"), flow.client("b HTTP/1.1\r\nHost: h\r\n\r\n"),
                   flow.server(kResponse)});
  std::vector<podlens_event_batch> batches(static_cast<size_t>(libbpf_num_possible_cpus()));
  uint32_t zero = 0;
  ASSERT_EQ(bpf_map_lookup_elem(harness->plane().eventBatchFd(), &zero, batches.data()), 0);
  if (timerMayHaveFired(start)) {
    GTEST_SKIP() << "the machine stalled for half the batch wait: the timer may have fired";
  }
  const podlens_event_batch& batch = batches[static_cast<size_t>(cpu)];
  const uint32_t lastAt = PODLENS_PENDING_MAX * PODLENS_EVENT_BYTES(longer.size());
  ASSERT_EQ(batch.count, static_cast<uint32_t>(PODLENS_PENDING_MAX + 1));
  ASSERT_EQ(batch.used, lastAt + kEventBytes);
  const unsigned char* lastPath = batch.bytes + lastAt + PODLENS_EVENT_HEAD_BYTES;
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(lastPath), 8),
            std::string("/b\0\0\0\0\0\0", 8));
}

TEST_F(BatchTest, TheTimerWritesOutABatchThatDoesNotFill) {
  StayOnThisCpu stay;
  auto start = std::chrono::steady_clock::now();
  transaction();
  transaction();
  uint64_t atOnce = written->bytes();
  bool mayHaveFired = timerMayHaveFired(start);
  harness->awaitBatchesWrittenOut();  // no packet, no write-out asked for: only the timer
  if (!mayHaveFired) {
    EXPECT_EQ(atOnce, 0u) << "the events did not wait in their batch";
  }
  EXPECT_EQ(written->bytes(), PODLENS_EVENTS_RECORD_BYTES(2 * kEventBytes));
  EXPECT_EQ(harness->takeEvents().size(), 2u);
  // The timer runs again for the next batch.
  transaction();
  harness->awaitBatchesWrittenOut();
  EXPECT_EQ(harness->takeEvents().size(), 1u);
  EXPECT_EQ(harness->losses()[PODLENS_LOSS_RINGBUF_FULL], 0u);
}

TEST_F(BatchTest, WritingOutEmptiesTheBatchOfEveryCpu) {
  cpu_set_t allowed;
  ASSERT_EQ(sched_getaffinity(0, sizeof(allowed), &allowed), 0);
  std::vector<int> cpus;
  for (int cpu = 0; cpu < CPU_SETSIZE && cpus.size() < 2; ++cpu) {
    if (CPU_ISSET(cpu, &allowed)) {
      cpus.push_back(cpu);
    }
  }
  if (cpus.size() < 2) {
    GTEST_SKIP() << "one CPU";
  }
  for (int cpu : cpus) {
    StayOnThisCpu stay(cpu);
    transaction();
  }
  EXPECT_EQ(harness->plane().eventsInBatches().value(), 2u);
  harness->writeOutBatches();
  EXPECT_EQ(harness->plane().eventsInBatches().value(), 0u);
  EXPECT_EQ(written->bytes(), 2 * PODLENS_EVENTS_RECORD_BYTES(kEventBytes));
  EXPECT_EQ(harness->takeEvents().size(), 2u);
}

// A CPU without a batch timer (a kernel before 6.7 refuses BPF_F_TIMER_CPU_PIN; the state is
// set here as such a CPU's would be) writes each event to the ring as its own record, at once.
TEST_F(BatchTest, WithoutATimerEachEventIsItsOwnRecord) {
  std::vector<podlens_event_batch> batches(static_cast<size_t>(libbpf_num_possible_cpus()));
  for (auto& batch : batches) {
    batch.timer_state = PODLENS_BATCH_TIMER_UNAVAILABLE;
  }
  uint32_t zero = 0;
  ASSERT_EQ(bpf_map_update_elem(harness->plane().eventBatchFd(), &zero, batches.data(), 0), 0);
  transaction();
  EXPECT_EQ(written->bytes(), PODLENS_EVENTS_RECORD_BYTES(kEventBytes));
  transaction();
  EXPECT_EQ(written->bytes(), 2 * PODLENS_EVENTS_RECORD_BYTES(kEventBytes));
  EXPECT_EQ(harness->plane().eventsInBatches().value(), 0u);
  auto events = harness->takeEvents();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].status, 204);
}

}  // namespace
}  // namespace podlens::test
