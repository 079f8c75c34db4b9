// BPF tier: what the data plane does with hostile input and exhausted resources.
#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>

#include "support/bpf_harness.hpp"
#include "support/ring_watch.hpp"
#include "support/require_root.hpp"

namespace podlens::test {
namespace {

std::string simpleRequest(const std::string& path) {
  return "GET " + path + " HTTP/1.1\r\nHost: h\r\n\r\n";
}
const char* kOkResponse = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

TEST(Robustness, UnselectedPortLeavesNoEventAndNoState) {
  PODLENS_REQUIRE_ROOT();
  BpfHarness h;
  h.select(8080, PODLENS_DIR_INBOUND);
  TcpFlow flow({"10.2.0.2", 41000}, {"10.2.0.1", 8081}, /*podIsServer=*/true);
  h.runAll({flow.clientSyn(), flow.serverSynAck(), flow.client(simpleRequest("/x")),
            flow.server(kOkResponse)});
  EXPECT_TRUE(h.takeEvents().empty());
  EXPECT_EQ(h.plane().countConnections(), 0u);
  LossCounters losses = h.losses();
  for (uint64_t v : losses) {
    EXPECT_EQ(v, 0u);
  }
}

TEST(Robustness, SelectorOnAnotherInterfaceDoesNotMatch) {
  PODLENS_REQUIRE_ROOT();
  BpfHarness h;
  h.selectOn(kTestIfindex + 1000, 8080, PODLENS_DIR_INBOUND);
  TcpFlow flow({"10.2.0.2", 41001}, {"10.2.0.1", 8080}, true);
  h.runAll({flow.clientSyn(), flow.client(simpleRequest("/x")), flow.server(kOkResponse)});
  EXPECT_TRUE(h.takeEvents().empty());
  EXPECT_EQ(h.plane().countConnections(), 0u);
}

// The port filter tells interfaces apart: a pod no selector names stays on the one-read path
// even on a port selected on another pod.
TEST(Robustness, PortFilterKeepsEachSelectorToItsInterface) {
  PODLENS_REQUIRE_ROOT();
  BpfHarness h;
  const uint32_t other = kTestIfindex + 1000;
  ASSERT_NE(podlens_port_filter_bit(kTestIfindex, 8080), podlens_port_filter_bit(other, 8080));
  auto filterHas = [&](uint32_t ifindex, uint16_t port) {
    podlens_port_filter filter{};
    const uint32_t zero = 0;
    EXPECT_EQ(bpf_map_lookup_elem(h.plane().portsFd(), &zero, &filter), 0);
    return podlens_port_filter_has(&filter, ifindex, port) != 0;
  };
  podlens_selector_key elsewhere = h.selectOn(other, 8080, PODLENS_DIR_INBOUND);
  h.select(9090, PODLENS_DIR_INBOUND);
  EXPECT_TRUE(filterHas(other, 8080));
  EXPECT_TRUE(filterHas(kTestIfindex, 9090));
  EXPECT_FALSE(filterHas(kTestIfindex, 8080));
  EXPECT_FALSE(filterHas(other, 9090));

  ASSERT_TRUE(h.plane().deleteSelector(elsewhere).ok());  // rebuilt from what is left
  EXPECT_FALSE(filterHas(other, 8080));
  EXPECT_TRUE(filterHas(kTestIfindex, 9090));
}

TEST(Robustness, TenThousandRandomPayloadsMakeNoEventAndBoundedState) {
  PODLENS_REQUIRE_ROOT();
  DataPlaneOptions options;
  options.maxConnections = 256;
  BpfHarness h(options);
  h.select(8080, PODLENS_DIR_INBOUND);
  std::mt19937 rng(20261125);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<int> length(1, 1400);
  for (int i = 0; i < 10000; ++i) {
    uint16_t clientPort = static_cast<uint16_t>(20000 + i % 1000);
    TcpFlow flow({"10.3.0.2", clientPort}, {"10.3.0.1", 8080}, true);
    std::string junk(static_cast<size_t>(length(rng)), '\0');
    for (char& c : junk) {
      c = static_cast<char>(byte(rng));
    }
    if (i % 2 == 0) {
      h.run(flow.clientSyn());  // half on established connections, half mid-stream
    }
    h.run(flow.client(junk));
    h.run(flow.server(junk));
  }
  EXPECT_TRUE(h.takeEvents().empty());
  EXPECT_LE(h.plane().countConnections(), 256u);
  LossCounters losses = h.losses();
  EXPECT_EQ(losses[PODLENS_LOSS_RINGBUF_FULL], 0u);
  // Every connection that got random bytes where a request should start counted them.
  EXPECT_GE(losses[PODLENS_LOSS_UNPARSABLE] + losses[PODLENS_LOSS_NO_CONN_STATE], 10000u);
}

TEST(Robustness, RingBufferFullIsCounted) {
  PODLENS_REQUIRE_ROOT();
  DataPlaneOptions options;
  options.ringBufferBytes = 4096;  // room for about 20 events
  BpfHarness h(options);
  h.select(8080, PODLENS_DIR_INBOUND);
  constexpr int kTransactions = 60;
  TcpFlow flow({"10.4.0.2", 42000}, {"10.4.0.1", 8080}, true);
  h.runAll({flow.clientSyn(), flow.serverSynAck()});
  for (int i = 0; i < kTransactions; ++i) {
    h.runAll({flow.client(simpleRequest("/r")), flow.server(kOkResponse)});
  }
  size_t delivered = h.takeEvents().size();
  uint64_t dropped = h.losses()[PODLENS_LOSS_RINGBUF_FULL];
  EXPECT_GT(delivered, 0u);
  EXPECT_GT(dropped, 0u);
  EXPECT_EQ(delivered + dropped, static_cast<uint64_t>(kTransactions));
}

// irq_work interrupts taken so far, all CPUs (/proc/interrupts' IWI row): a ring buffer
// wake-up raises one. nullopt where the kernel has no such row.
std::optional<uint64_t> irqWorkInterrupts() {
  std::ifstream in("/proc/interrupts");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string name;
    words >> name;
    if (name != "IWI:") {
      continue;
    }
    uint64_t total = 0, n = 0;
    while (words >> n) {
      total += n;
    }
    return total;
  }
  return std::nullopt;
}

struct EpollFd {
  int fd = epoll_create1(EPOLL_CLOEXEC);
  ~EpollFd() {
    if (fd >= 0) {
      close(fd);
    }
  }
};

// Is the reader of the ring buffer in epollFd woken? epoll puts the ring on its ready list
// only when the ring buffer wakes its waiters (or at EPOLL_CTL_ADD, if it has data then):
// events written without a wake-up leave it off.
bool woken(int epollFd) {
  epoll_event ready{};
  return epoll_wait(epollFd, &ready, 1, 0) == 1;
}

// The reader is woken once per PODLENS_EVENTS_WAKEUP_BYTES of events written, by the record
// that passes each multiple, also when it falls behind (a stopped, throttled or restarting
// controller): never at every record, since a wake-up costs the writing CPU an interrupt.
TEST(Robustness, TheReaderIsWokenOncePerWakeupThresholdOfEvents) {
  PODLENS_REQUIRE_ROOT();
  BpfHarness h;
  h.select(8080, PODLENS_DIR_INBOUND);
  TcpFlow flow({"10.4.0.3", 42001}, {"10.4.0.1", 8080}, true);
  h.runAll({flow.clientSyn(), flow.serverSynAck()});
  auto transaction = [&] {
    h.runAll({flow.client(simpleRequest("/r")), flow.server(kOkResponse)});
  };
  EpollFd epoll;
  epoll_event interest{};
  interest.events = EPOLLIN;
  ASSERT_EQ(epoll_ctl(epoll.fd, EPOLL_CTL_ADD, h.plane().eventsFd(), &interest), 0);
  ASSERT_FALSE(woken(epoll.fd));
  ProducerPosition written(h.plane().eventsFd());
  ASSERT_TRUE(written.ok()) << std::strerror(errno);
  StayOnThisCpu stay;

  // Events, a record each, until the first multiple.
  constexpr uint64_t kEventBytes = PODLENS_EVENT_BYTES(2);  // "/r"
  constexpr int kAtMost = 2 * PODLENS_EVENTS_WAKEUP_BYTES / kEventBytes;
  int transactions = 0;
  while (written.bytes() < PODLENS_EVENTS_WAKEUP_BYTES) {
    ASSERT_FALSE(woken(epoll.fd)) << "woken at " << written.bytes() << " bytes";
    ASSERT_LT(transactions, kAtMost) << "the events do not reach the ring";
    transaction();
    ++transactions;
  }
  EXPECT_TRUE(woken(epoll.fd)) << "not woken by the record that passed the threshold";

  // Nothing reads meanwhile: each further threshold wakes it once more, counted as the interrupts
  // (irq_work) the wake-ups raise, beside those of the rest of the machine over as long again.
  auto irqWork = irqWorkInterrupts();
  if (!irqWork) {
    GTEST_SKIP() << "no IWI row in /proc/interrupts to count the wake-ups";
  }
  constexpr uint64_t kThresholds = 2;  // with the first, 3 of the 4 that fill the ring
  constexpr int kTransactions =
      kThresholds * PODLENS_EVENTS_WAKEUP_BYTES / kEventBytes;
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kTransactions; ++i) {
    transaction();
  }
  uint64_t wakeups = *irqWorkInterrupts() - *irqWork;
  uint64_t idleBefore = *irqWorkInterrupts();
  std::this_thread::sleep_for(std::chrono::steady_clock::now() - start);
  uint64_t others = *irqWorkInterrupts() - idleBefore;
  EXPECT_GE(wakeups + 1, kThresholds);  // (another pending irq_work can take one's place)
  EXPECT_LE(wakeups, kThresholds + others + 20) << "woken at every record";
  EXPECT_EQ(h.takeEvents().size(), static_cast<size_t>(transactions + kTransactions));
  EXPECT_EQ(h.losses()[PODLENS_LOSS_RINGBUF_FULL], 0u);
}

TEST(Robustness, ConnectionTableFullEvictsAndCountsTheLoss) {
  PODLENS_REQUIRE_ROOT();
  DataPlaneOptions options;
  options.maxConnections = 8;
  BpfHarness h(options);
  h.select(8080, PODLENS_DIR_INBOUND);
  constexpr int kFlows = 64;
  std::vector<TcpFlow> flows;
  const std::string req = simpleRequest("/evict");
  for (int i = 0; i < kFlows; ++i) {
    flows.emplace_back(TcpFlow::Endpoint{"10.5.0.2", static_cast<uint16_t>(43000 + i)},
                       TcpFlow::Endpoint{"10.5.0.1", 8080}, true);
    h.run(flows.back().clientSyn());
    h.run(flows.back().client(req.substr(0, 10)));  // half a request line each
  }
  EXPECT_LE(h.plane().countConnections(), 8u);
  for (TcpFlow& f : flows) {
    h.run(f.client(req.substr(10)));
    h.run(f.server(kOkResponse));
  }
  size_t events = h.takeEvents().size();
  uint64_t lost = h.losses()[PODLENS_LOSS_NO_CONN_STATE];
  EXPECT_GT(lost, 0u);
  // An evicted flow loses its request tail and its response: two counts per flow.
  EXPECT_EQ(events + lost / 2, static_cast<uint64_t>(kFlows));
  EXPECT_EQ(lost % 2, 0u);
}

TEST(Robustness, Ipv4TotalLengthZeroTakesTheLengthFromTheSkb) {
  PODLENS_REQUIRE_ROOT();
  BpfHarness h;
  h.select(8080, PODLENS_DIR_INBOUND);
  TcpFlow flow({"10.6.0.2", 44000}, {"10.6.0.1", 8080}, true);
  h.runAll({flow.clientSyn(), flow.serverSynAck()});
  Segment big = flow.client(simpleRequest("/big-tcp"));
  big.frame[14 + 2] = 0;  // IPv4 total length 0, as BIG TCP GSO packets carry it
  big.frame[14 + 3] = 0;
  h.runAll({big, flow.server(kOkResponse)});
  std::vector<podlens_http_event> events = h.takeEvents();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(eventPath(events[0]), "/big-tcp");
}

TEST(Robustness, SelectorChangesReachOpenConnections) {
  PODLENS_REQUIRE_ROOT();
  BpfHarness h;
  h.select(8080, PODLENS_DIR_INBOUND, PODLENS_CAPTURE_KEEP_QUERY, /*policyId=*/1);
  TcpFlow flow({"10.6.0.2", 44001}, {"10.6.0.1", 8080}, true);
  h.runAll({flow.clientSyn(), flow.serverSynAck(), flow.client(simpleRequest("/s?q=1")),
            flow.server(kOkResponse)});
  h.select(8080, PODLENS_DIR_INBOUND, 0, /*policyId=*/2);  // the policy stops keeping queries
  h.runAll({flow.client(simpleRequest("/s?q=2")), flow.server(kOkResponse)});
  std::vector<podlens_http_event> events = h.takeEvents();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(eventPath(events[0]), "/s?q=1");
  EXPECT_EQ(events[0].policy_id, 1u);
  EXPECT_EQ(eventPath(events[1]), "/s");
  EXPECT_EQ(events[1].policy_id, 2u);
}

// Open connections cache their selection until pl_selectors changes: a removed selector
// silences them from their next packet on, and a selector put back is seen again (after the
// gap the unobserved transaction left: counted, then resynchronised).
TEST(Robustness, RemovedSelectorSilencesOpenConnections) {
  PODLENS_REQUIRE_ROOT();
  BpfHarness h;
  h.select(8080, PODLENS_DIR_INBOUND, 0, /*policyId=*/3);
  TcpFlow flow({"10.6.0.2", 44002}, {"10.6.0.1", 8080}, true);
  h.runAll({flow.clientSyn(), flow.serverSynAck(), flow.client(simpleRequest("/a")),
            flow.server(kOkResponse)});
  ASSERT_EQ(h.takeEvents().size(), 1u);

  podlens_selector_key key{};
  key.ifindex = kTestIfindex;
  key.port = 8080;
  key.direction = PODLENS_DIR_INBOUND;
  ASSERT_TRUE(h.plane().deleteSelector(key).ok());
  h.runAll({flow.client(simpleRequest("/b")), flow.server(kOkResponse)});
  EXPECT_TRUE(h.takeEvents().empty());

  h.select(8080, PODLENS_DIR_INBOUND, 0, /*policyId=*/4);
  h.runAll({flow.client(simpleRequest("/c")), flow.server(kOkResponse),
            flow.client(simpleRequest("/d")), flow.server(kOkResponse)});
  std::vector<podlens_http_event> events = h.takeEvents();
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(eventPath(events.back()), "/d");
  EXPECT_EQ(events.back().policy_id, 4u);
  EXPECT_EQ(h.losses()[PODLENS_LOSS_SEQ_GAP], 2u);  // one per stream
}

}  // namespace
}  // namespace podlens::test
