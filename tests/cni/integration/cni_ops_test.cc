// podlens-cni's GC, STATUS, error replies, failure policy and concurrency, on the real kernel.
#include <podlens/state_lock.hpp>

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "cni_test_util.hpp"

namespace podlens::test {
namespace {

using nlohmann::json;

// Recorded, and attached as the record says (with its link pins when that is tcx).
bool attachedAndRecorded(const CniNetwork& net, const ScopedNetns& pod) {
  const std::string id = CniNetwork::containerIdOf(pod);
  auto record = net.store().read(id, "eth0");
  if (!record || !record->has_value()) {
    return false;
  }
  const auto mode = parseAttachMode((*record)->attachMode);
  const bool pinned = mode != AttachMode::kTcx ||
                      pathExists(linkPinPath(targetOf(net, id), TcDirection::kIngress));
  return mode && pinned && attachedOn(hostPeerIfindex(pod), *mode).both();
}

TEST(CniGcTest, RemovesWhatIsNotValidAndOrphanPinsKeepsOtherNetworks) {
  PODLENS_REQUIRE_CNITOOL();
  CniNetwork net({Primary::kBridge, "1.0.0", true, {{"attachMode", "tcx"}}});  // pins to orphan
  ScopedNetns kept, stale, orphan;
  for (const ScopedNetns* pod : {&kept, &stale, &orphan}) {
    ASSERT_TRUE(net.cnitool("add", *pod).ok());
  }
  // A record of another network that shares the state directory: GC must leave it alone.
  PodRecord foreign{"other-net-pod", "eth0", "ns", "p", "", "another-network", "", 1, "lo"};
  foreign.attachMode = "tcx";
  ASSERT_TRUE(net.store().write(foreign).ok());
  // A crash between attach and record: pins with no record.
  ASSERT_TRUE(net.store().remove(CniNetwork::containerIdOf(orphan), "eth0").ok());

  json valid = json::array({{{"containerID", CniNetwork::containerIdOf(kept)}, {"ifname", "eth0"}}});
  auto collected = net.plugin({{"CNI_COMMAND", "GC"}},
                              {{"cniVersion", "1.1.0"}, {"cni.dev/valid-attachments", valid}});
  ASSERT_TRUE(collected.ok()) << collected.out;
  EXPECT_TRUE(attachedAndRecorded(net, kept));
  for (const ScopedNetns* gone : {&stale, &orphan}) {
    const std::string id = CniNetwork::containerIdOf(*gone);
    EXPECT_FALSE(pathExists(net.store().recordPath(id, "eth0")));
    EXPECT_FALSE(pathExists(linkPinPath(targetOf(net, id), TcDirection::kIngress)));
    EXPECT_FALSE(attachedOn(hostPeerIfindex(*gone), AttachMode::kTcx).ingress);
    EXPECT_FALSE(pathExists(attachmentLockPath(net.stateDir(), attachmentName(id, "eth0"))));
  }
  EXPECT_TRUE(pathExists(net.store().recordPath("other-net-pod", "eth0")));
  EXPECT_TRUE(pathExists(dataplanePinDir(net.pinRoot())));  // the data plane is not GC's
  for (const ScopedNetns* pod : {&kept, &stale, &orphan}) {
    EXPECT_TRUE(net.cnitool("del", *pod).ok());
  }
}

TEST(CniStatusTest, ReadyWithPinsOrWithTheEmbeddedObject) {
  PODLENS_REQUIRE_ROOT();
  CniNetwork net;
  const std::map<std::string, std::string> status{{"CNI_COMMAND", "STATUS"}};
  auto before = net.plugin(status, {{"cniVersion", "1.1.0"}});  // nothing pinned yet
  EXPECT_TRUE(before.ok()) << before.out;
  EXPECT_TRUE(before.out.empty());
  ASSERT_TRUE(DataPlane::openOrLoadPinned(net.pinRoot(), {}, nullptr).ok());
  EXPECT_TRUE(net.plugin(status, {{"cniVersion", "1.1.0"}}).ok());
}

TEST(CniStatusTest, Code50WhenBpffsIsUnusableUnderFailClosedCountedUnderFailOpen) {
  PODLENS_REQUIRE_ROOT();
  ScopedDir notBpffs;
  CniNetwork net;
  const std::map<std::string, std::string> status{{"CNI_COMMAND", "STATUS"}};
  auto closed = net.plugin(status, {{"cniVersion", "1.1.0"}, {"failPolicy", "closed"},
                                    {"bpffsRoot", notBpffs.path()}});
  EXPECT_EQ(closed.exitCode, 1);
  EXPECT_EQ(cniErrorCode(closed), 50) << closed.out;
  auto open = net.plugin(status, {{"cniVersion", "1.1.0"}, {"bpffsRoot", notBpffs.path()}});
  EXPECT_TRUE(open.ok()) << open.out;
  EXPECT_EQ(net.store().readFaults()["status_unavailable"], 1u);
}

TEST(CniErrorTest, MalformedInputMissingEnvUnsupportedVersionBadConf) {
  PODLENS_REQUIRE_ROOT();
  CniNetwork net;
  ScopedNetns pod;
  const std::map<std::string, std::string> add{{"CNI_COMMAND", "ADD"},
                                               {"CNI_CONTAINERID", "errcase"},
                                               {"CNI_NETNS", pod.path()},
                                               {"CNI_IFNAME", "eth0"}};
  auto withPath = add;
  withPath["CNI_PATH"] = "/usr/lib/cni";
  auto malformed = runShell(pluginPath(), "{not json", withPath);
  EXPECT_EQ(malformed.exitCode, 1);
  EXPECT_EQ(cniErrorCode(malformed), 6) << malformed.out;

  auto noIfname = add;
  noIfname.erase("CNI_IFNAME");
  auto missing = net.plugin(noIfname);
  EXPECT_EQ(missing.exitCode, 1);
  EXPECT_EQ(cniErrorCode(missing), 4) << missing.out;

  auto old = net.plugin(add, {{"cniVersion", "0.2.0"}});
  EXPECT_EQ(cniErrorCode(old), 1) << old.out;
  auto badKey = net.plugin(add, {{"failPolicy", 3}});
  EXPECT_EQ(cniErrorCode(badKey), 7) << badKey.out;
  EXPECT_NE(badKey.out.find("failPolicy"), std::string::npos);

  auto version = runShell(pluginPath(), R"({"cniVersion":"1.0.0"})", {{"CNI_COMMAND", "VERSION"}});
  ASSERT_TRUE(version.ok());
  EXPECT_EQ(json::parse(version.out)["supportedVersions"], json({"0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"}));
  for (const auto* r : {&malformed, &missing, &old, &badKey}) {  // stdout: the error JSON only
    EXPECT_TRUE(json::parse(r->out, nullptr, false).is_object()) << r->out;
  }
}

TEST(CniFailPolicyTest, OpenLetsThePodThroughAndCountsClosedFailsTheAdd) {
  PODLENS_REQUIRE_CNITOOL();
  ScopedDir notBpffs;
  CniNetwork open({Primary::kBridge, "1.0.0", true, {{"bpffsRoot", notBpffs.path()}}});
  ScopedNetns pod;
  auto added = open.cnitool("add", pod);
  ASSERT_TRUE(added.ok()) << added.err;
  EXPECT_FALSE(json::parse(added.out)["ips"].empty());  // prevResult returned
  EXPECT_EQ(open.store().readFaults()["dataplane_unavailable"], 1u);
  EXPECT_TRUE(open.store().list().records.empty());
  EXPECT_TRUE(open.cnitool("del", pod).ok());

  CniNetwork closed({Primary::kBridge, "1.0.0", true,
                     {{"bpffsRoot", notBpffs.path()}, {"failPolicy", "closed"}}});
  ScopedNetns pod2;
  auto refused = closed.cnitool("add", pod2);
  EXPECT_FALSE(refused.ok());
  EXPECT_TRUE(closed.store().readFaults().empty());
  EXPECT_TRUE(closed.cnitool("del", pod2).ok());
}

TEST(CniConcurrencyTest, ThirtyParallelAddsThenDelsLeaveConsistentState) {
  PODLENS_REQUIRE_CNITOOL();
  constexpr int kPods = 30;
  CniNetwork net;  // empty pin root: the first ADDs race to load and pin the data plane
  std::vector<std::unique_ptr<ScopedNetns>> pods;
  for (int i = 0; i < kPods; ++i) {
    pods.push_back(std::make_unique<ScopedNetns>());
  }
  auto runAll = [&](const std::string& command) {
    std::vector<CommandResult> results(kPods);
    std::vector<std::thread> threads;
    for (int i = 0; i < kPods; ++i) {
      threads.emplace_back([&, i] { results[i] = net.cnitool(command, *pods[i]); });
    }
    for (auto& t : threads) {
      t.join();
    }
    return results;
  };
  for (const auto& r : runAll("add")) {
    EXPECT_TRUE(r.ok()) << r.err;
  }
  EXPECT_EQ(net.store().list().records.size(), static_cast<size_t>(kPods));
  for (const auto& pod : pods) {
    EXPECT_TRUE(attachedAndRecorded(net, *pod));
  }
  EXPECT_TRUE(net.store().readFaults().empty());
  for (const auto& r : runAll("del")) {
    EXPECT_TRUE(r.ok()) << r.err;
  }
  EXPECT_TRUE(net.store().list().records.empty());
  EXPECT_TRUE(std::filesystem::is_empty(linksPinDir(net.pinRoot())));
}

}  // namespace
}  // namespace podlens::test
