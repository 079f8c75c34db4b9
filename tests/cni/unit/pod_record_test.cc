// PodRecord JSON (a contract with the controller) and the state directory store.
#include <podlens/pod_record.hpp>

#include <gtest/gtest.h>

#include <fstream>

#include "support/scoped.hpp"

namespace podlens::test {
namespace {

PodRecord sampleRecord(const std::string& containerId = "c0ffee") {
  PodRecord r;
  r.containerId = containerId;
  r.ifname = "eth0";
  r.namespace_ = "shop";
  r.name = "cart-7d9f";
  r.uid = "0b3c-11";
  r.network = "podnet";
  r.netns = "/var/run/netns/cni-1";
  r.hostIfindex = 17;
  r.hostIfname = "veth12ab";
  r.ips = {"10.1.0.5/24", "fd00::5/64"};
  r.attachMode = "clsact";
  r.targetAttachMode = "tcx";
  r.attachedAtUnix = 1700000000;
  return r;
}

TEST(PodRecordTest, JsonFieldNamesAreTheDocumentedOnes) {
  nlohmann::json json = sampleRecord();
  for (const char* key : {"containerId", "ifname", "namespace", "name", "uid", "network", "netns",
                          "hostIfindex", "hostIfname", "ips", "attachMode", "targetAttachMode",
                          "attachedAtUnix"}) {
    EXPECT_TRUE(json.contains(key)) << key;
  }
  EXPECT_EQ(json["namespace"], "shop");
  EXPECT_EQ(json["hostIfindex"], 17);
}

TEST(PodRecordTest, RoundTripsThroughJson) {
  const PodRecord record = sampleRecord();
  EXPECT_EQ(nlohmann::json(record).get<PodRecord>(), record);
}

TEST(PodRecordTest, OptionalFieldsDefaultRequiredOnesThrow) {
  auto minimal = nlohmann::json::parse(
      R"({"containerId":"c","ifname":"eth0","hostIfindex":3,"attachMode":"clsact"})");
  PodRecord record = minimal.get<PodRecord>();
  EXPECT_EQ(record.hostIfindex, 3u);
  EXPECT_TRUE(record.ips.empty());
  EXPECT_EQ(record.targetAttachMode, "clsact");  // an older plugin's record: nothing pending
  EXPECT_FALSE(record.movePending());
  minimal.erase("hostIfindex");
  EXPECT_THROW(minimal.get<PodRecord>(), nlohmann::json::exception);
}

TEST(PodRecordStoreTest, WritesReadsListsAndRemoves) {
  ScopedDir dir;
  PodRecordStore store(dir.path());
  ASSERT_TRUE(store.write(sampleRecord("b")).ok());
  ASSERT_TRUE(store.write(sampleRecord("a")).ok());
  auto read = store.read("a", "eth0");
  ASSERT_TRUE(read.ok());
  ASSERT_TRUE(read->has_value());
  EXPECT_EQ(**read, sampleRecord("a"));
  auto missing = store.read("zz", "eth0");
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());

  auto listed = store.list();
  ASSERT_EQ(listed.records.size(), 2u);
  EXPECT_EQ(listed.records[0].containerId, "a");
  EXPECT_TRUE(listed.errors.empty());

  ASSERT_TRUE(store.remove("a", "eth0").ok());
  ASSERT_TRUE(store.remove("a", "eth0").ok());  // idempotent
  EXPECT_EQ(store.list().records.size(), 1u);
}

TEST(PodRecordStoreTest, ListReportsUnreadableFilesAndGoesOn) {
  ScopedDir dir;
  PodRecordStore store(dir.path());
  ASSERT_TRUE(store.write(sampleRecord("good")).ok());
  std::ofstream(dir.path() + "/pods/bad-eth0.json") << "{not json";
  auto listed = store.list();
  EXPECT_EQ(listed.records.size(), 1u);
  ASSERT_EQ(listed.errors.size(), 1u);
  EXPECT_NE(listed.errors[0].find("bad-eth0.json"), std::string::npos);
  EXPECT_FALSE(store.read("bad", "eth0").ok());
}

TEST(PodRecordStoreTest, ListOfAMissingDirectoryIsEmpty) {
  PodRecordStore store("/nonexistent/podlens-state");
  EXPECT_TRUE(store.list().records.empty());
  EXPECT_TRUE(store.readFaults().empty());
}

TEST(PodRecordStoreTest, CountsFaultsByReason) {
  ScopedDir dir;
  PodRecordStore store(dir.path());
  ASSERT_TRUE(store.recordFault("attach_failed").ok());
  ASSERT_TRUE(store.recordFault("attach_failed").ok());
  ASSERT_TRUE(store.recordFault("veth_not_found").ok());
  auto faults = store.readFaults();
  EXPECT_EQ(faults["attach_failed"], 2u);
  EXPECT_EQ(faults["veth_not_found"], 1u);
}

}  // namespace
}  // namespace podlens::test
