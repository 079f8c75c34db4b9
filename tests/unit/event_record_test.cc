// Unit tier: decoding a pl_events record (forEachEventInRecord). No root, no BPF.
#include <gtest/gtest.h>

#include <podlens/dataplane.hpp>

#include <cstring>
#include <string>
#include <vector>

namespace podlens {
namespace {

// An event as the programs write it into a record: its first PODLENS_EVENT_BYTES(path_len)
// bytes, the last word of the path zero past path_len.
void appendEvent(std::vector<unsigned char>& record, const std::string& path, uint16_t status) {
  podlens_http_event e{};
  e.status = status;
  e.path_len = static_cast<uint16_t>(path.size());
  std::memcpy(e.path, path.data(), path.size());
  const auto* bytes = reinterpret_cast<const unsigned char*>(&e);
  record.insert(record.end(), bytes, bytes + PODLENS_EVENT_BYTES(e.path_len));
}

struct Decoded {
  bool whole;
  std::vector<podlens_http_event> events;
};

Decoded decode(const std::vector<unsigned char>& record) {
  Decoded out;
  out.whole = forEachEventInRecord(record.data(), record.size(),
                                   [&](const podlens_http_event& e) { out.events.push_back(e); });
  return out;
}

TEST(EventRecord, EventsTakeTheBytesTheirPathsNeed) {
  EXPECT_EQ(PODLENS_EVENT_BYTES(0), 80u);
  EXPECT_EQ(PODLENS_EVENT_BYTES(1), 88u);
  EXPECT_EQ(PODLENS_EVENT_BYTES(8), 88u);
  EXPECT_EQ(PODLENS_EVENT_BYTES(9), 96u);
  EXPECT_EQ(PODLENS_EVENT_BYTES(PODLENS_PATH_MAX), sizeof(podlens_http_event));
}

TEST(EventRecord, EventsOfEveryLengthBackToBackComeOutWhole) {
  std::vector<unsigned char> record;
  std::string longest(PODLENS_PATH_MAX, 'p');
  appendEvent(record, "/", 200);
  appendEvent(record, "", 204);
  appendEvent(record, "/exactly", 201);  // 8 bytes: one whole word, nothing masked
  appendEvent(record, longest, 404);
  appendEvent(record, "/api/v1/items/42", 500);
  auto got = decode(record);
  EXPECT_TRUE(got.whole);
  ASSERT_EQ(got.events.size(), 5u);
  EXPECT_EQ(eventPath(got.events[0]), "/");
  EXPECT_EQ(got.events[1].status, 204);
  EXPECT_EQ(eventPath(got.events[1]), "");
  EXPECT_EQ(eventPath(got.events[2]), "/exactly");
  EXPECT_EQ(eventPath(got.events[3]), longest);
  EXPECT_EQ(eventPath(got.events[4]), "/api/v1/items/42");
  EXPECT_EQ(got.events[4].status, 500);
  for (const auto& e : got.events) {  // nothing of the next event's bytes in the path
    for (size_t i = e.path_len; i < PODLENS_PATH_MAX; ++i) {
      ASSERT_EQ(e.path[i], 0) << eventPath(e) << " byte " << i;
    }
  }
}

TEST(EventRecord, ARecordCutShortHandsOverTheEventsBeforeTheCut) {
  std::vector<unsigned char> record;
  appendEvent(record, "/a", 200);
  appendEvent(record, "/bbbbbbbbb", 200);  // 96 bytes
  for (size_t cut : {size_t{1}, size_t{8}, size_t{95}}) {
    std::vector<unsigned char> shorter(record.begin(), record.end() - cut);
    auto got = decode(shorter);
    EXPECT_FALSE(got.whole) << "cut " << cut;
    ASSERT_EQ(got.events.size(), 1u) << "cut " << cut;
    EXPECT_EQ(eventPath(got.events[0]), "/a");
  }
  EXPECT_FALSE(decode({}).whole);
}

TEST(EventRecord, APathLengthPastTheMaximumIsMalformed) {
  std::vector<unsigned char> record;
  appendEvent(record, "/a", 200);
  std::vector<unsigned char> bad(sizeof(podlens_http_event) + 64, 0);
  uint16_t tooLong = PODLENS_PATH_MAX + 1;
  std::memcpy(bad.data() + offsetof(podlens_http_event, path_len), &tooLong, sizeof(tooLong));
  record.insert(record.end(), bad.begin(), bad.end());
  auto got = decode(record);
  EXPECT_FALSE(got.whole);
  EXPECT_EQ(got.events.size(), 1u);
}

}  // namespace
}  // namespace podlens
