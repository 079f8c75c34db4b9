// Events reach the ring a record each (bpf/lib/events.h), only as long as their path needs,
// and nothing of an earlier request's longer path rides along in the last word.
#include <bpf/libbpf.h>
#include <gtest/gtest.h>

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
const char* kResponse = "HTTP/1.1 204 No Content\r\n\r\n";

struct EventRingTest : ::testing::Test {
  void SetUp() override {
    PODLENS_REQUIRE_ROOT();
    harness.emplace();
    harness->select(8080, PODLENS_DIR_INBOUND);
    harness->runAll({flow.clientSyn(), flow.serverSynAck()});
    written.emplace(harness->plane().eventsFd());
    ASSERT_TRUE(written->ok());
  }
  // A request, its response, and the request's segment again (a retransmission): a packet of
  // the request stream, which writes the answer's event (lib/answers.h).
  void transaction(const std::string& request) {
    Segment sent = flow.client(request);
    harness->runAll({sent, flow.server(kResponse), sent});
  }

  TcpFlow flow{{"10.6.0.2", 43000}, {"10.6.0.1", 8080}, true};
  std::optional<BpfHarness> harness;
  std::optional<ProducerPosition> written;
};

TEST_F(EventRingTest, AnEventIsARecordAsLongAsItsPathNeeds) {
  transaction(requestFor("/b"));
  EXPECT_EQ(written->bytes(), PODLENS_EVENTS_RECORD_BYTES(PODLENS_EVENT_BYTES(2)));
  const std::string longest = "/" + std::string(PODLENS_PATH_MAX - 1, 'l');
  transaction(requestFor(longest));
  EXPECT_EQ(written->bytes(), PODLENS_EVENTS_RECORD_BYTES(PODLENS_EVENT_BYTES(2)) +
                                  PODLENS_EVENTS_RECORD_BYTES(sizeof(podlens_http_event)));
  auto events = harness->takeEvents();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(eventPath(events[1]), longest);
}

// The record's raw bytes, as the kernel holds them (the reader zeroes past path_len itself).
int keepRecord(void* ctx, void* data, size_t size) {
  auto* records = static_cast<std::vector<std::string>*>(ctx);
  records->emplace_back(static_cast<const char*>(data), size);
  return 0;
}

TEST_F(EventRingTest, AnEventsLastWordHoldsNothingPastItsPath) {
  const std::string longer = "/" + std::string(14, 'x');  // 15 bytes: 96 in a record
  for (int i = 0; i < PODLENS_PENDING_MAX; ++i) {
    transaction(requestFor(longer));
  }
  // "/b", in the first slot again, split after its first byte: taken byte by byte (the fast
  // path masks the slot's last word itself)
  Segment first = flow.client("GET /");
  Segment rest = flow.client("b HTTP/1.1\r\nHost: h\r\n\r\n");
  harness->runAll({first, rest, flow.server(kResponse), rest});
  std::vector<std::string> records;
  ring_buffer* ring =
      ring_buffer__new(harness->plane().eventsFd(), keepRecord, &records, nullptr);
  ASSERT_NE(ring, nullptr);
  ring_buffer__consume(ring);
  ring_buffer__free(ring);
  ASSERT_EQ(records.size(), static_cast<size_t>(PODLENS_PENDING_MAX + 1));
  const std::string& last = records.back();
  ASSERT_EQ(last.size(), PODLENS_EVENT_BYTES(2));
  EXPECT_EQ(last.substr(PODLENS_EVENT_HEAD_BYTES, 8), std::string("/b\0\0\0\0\0\0", 8));
}

}  // namespace
}  // namespace podlens::test
