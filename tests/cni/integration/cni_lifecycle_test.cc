// podlens-cni through a real runtime client (cnitool) and real primary plugins, asserting on
// the kernel's state: ADD, CHECK, DEL and their failure cases, for bridge and ptp, auto, tcx
// and clsact.
#include <podlens/state_lock.hpp>

#include <gtest/gtest.h>

#include "cni_test_util.hpp"

namespace podlens::test {
namespace {

struct LifecycleCase {
  const char* label;
  Primary primary;
  const char* attachMode;
  const char* cniVersion;
};

class CniLifecycleTest : public ::testing::TestWithParam<LifecycleCase> {};

// How ADD attaches, and the record's target: auto is clsact now, tcx later where the kernel has
// it (the controller moves it); an explicit mode is final.
std::pair<std::string, std::string> expectedModes(const CniNetwork& net, const char* attachMode) {
  if (std::string(attachMode) != "auto") {
    return {attachMode, attachMode};
  }
  auto plane = DataPlane::openPinned(net.pinRoot());
  const bool tcx = plane && kernelHasTcx((*plane)->ingressProgramFd());
  return {"clsact", tcx ? "tcx" : "clsact"};
}

TEST_P(CniLifecycleTest, AddAttachesRecordsAndPassesPrevResultThenDelRemovesAll) {
  PODLENS_REQUIRE_CNITOOL();
  const auto& c = GetParam();
  CniNetwork net({c.primary, c.cniVersion, true, {{"attachMode", c.attachMode}}});
  ScopedNetns pod;
  auto added = net.cnitool("add", pod, "IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=cart-1;"
                                       "K8S_POD_UID=uid-1;K8S_POD_INFRA_CONTAINER_ID=x");
  ASSERT_TRUE(added.ok()) << added.err;
  auto result = nlohmann::json::parse(added.out);
  EXPECT_EQ(result["cniVersion"], c.cniVersion);
  ASSERT_FALSE(result["ips"].empty());  // the primary plugin's result came through

  const uint32_t ifindex = hostPeerIfindex(pod);
  ASSERT_NE(ifindex, 0u);
  const std::string containerId = CniNetwork::containerIdOf(pod);
  auto record = net.store().read(containerId, "eth0");
  ASSERT_TRUE(record.ok() && record->has_value());
  const PodRecord& r = **record;
  EXPECT_EQ(r.namespace_, "shop");
  EXPECT_EQ(r.name, "cart-1");
  EXPECT_EQ(r.uid, "uid-1");
  EXPECT_EQ(r.network, net.name());
  EXPECT_EQ(r.netns, pod.path());
  EXPECT_EQ(r.hostIfindex, ifindex);
  EXPECT_EQ(r.hostIfname, ifnameOf(ifindex));
  const auto [now, finalMode] = expectedModes(net, c.attachMode);
  EXPECT_EQ(r.attachMode, now);
  EXPECT_EQ(r.targetAttachMode, finalMode);
  ASSERT_EQ(r.ips.size(), 1u);
  EXPECT_EQ(r.ips[0], result["ips"][0]["address"]);

  const AttachMode mode = *parseAttachMode(now);
  EXPECT_TRUE(attachedOn(ifindex, mode).both());
  const AttachTarget target = targetOf(net, containerId);
  EXPECT_EQ(pathExists(linkPinPath(target, TcDirection::kIngress)), mode == AttachMode::kTcx);
  EXPECT_EQ(pathExists(linkPinPath(target, TcDirection::kEgress)), mode == AttachMode::kTcx);
  if (mode == AttachMode::kClsact) {
    for (const char* dir : {"ingress", "egress"}) {
      auto shown = runShell("tc filter show dev " + r.hostIfname + " " + dir);
      EXPECT_NE(shown.out.find(std::string("podlens_") + dir), std::string::npos) << shown.out;
      EXPECT_NE(shown.out.find("handle 0x504c"), std::string::npos) << shown.out;
    }
  }
  const bool hasCheck = std::string(c.cniVersion) != "0.3.1";  // CHECK came with 0.4.0
  EXPECT_EQ(net.cnitool("check", pod).ok(), hasCheck);

  auto deleted = net.cnitool("del", pod);
  ASSERT_TRUE(deleted.ok()) << deleted.err;
  EXPECT_FALSE(pathExists(net.store().recordPath(containerId, "eth0")));
  EXPECT_FALSE(pathExists(linkPinPath(target, TcDirection::kIngress)));
  EXPECT_FALSE(pathExists(linkPinPath(target, TcDirection::kEgress)));
  EXPECT_FALSE(pathExists(attachmentLockPath(net.stateDir(), attachmentName(containerId, "eth0"))));
  EXPECT_TRUE(net.cnitool("del", pod).ok());  // twice
  EXPECT_TRUE(net.store().readFaults().empty());
}

INSTANTIATE_TEST_SUITE_P(
    Primaries, CniLifecycleTest,
    ::testing::Values(LifecycleCase{"bridge_auto", Primary::kBridge, "auto", "1.0.0"},
                      LifecycleCase{"bridge_tcx", Primary::kBridge, "tcx", "1.0.0"},
                      LifecycleCase{"ptp_tcx", Primary::kPtp, "tcx", "0.4.0"},
                      LifecycleCase{"bridge_clsact", Primary::kBridge, "clsact", "0.4.0"},
                      LifecycleCase{"ptp_clsact", Primary::kPtp, "clsact", "1.0.0"},
                      // kindnet's conflist: ptp at 0.3.1
                      LifecycleCase{"ptp_tcx_0_3_1", Primary::kPtp, "tcx", "0.3.1"}),
    [](const auto& info) { return std::string(info.param.label); });

class CniAddedPodTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PODLENS_REQUIRE_CNITOOL();
    auto added = net_.cnitool("add", pod_);
    ASSERT_TRUE(added.ok()) << added.err;
    containerId_ = CniNetwork::containerIdOf(pod_);
    ifindex_ = hostPeerIfindex(pod_);
  }
  std::map<std::string, std::string> env(const std::string& command) const {
    return {{"CNI_COMMAND", command}, {"CNI_CONTAINERID", containerId_},
            {"CNI_NETNS", pod_.path()}, {"CNI_IFNAME", "eth0"}};
  }
  bool leftovers() const {
    const AttachTarget target = targetOf(net_, containerId_);
    return pathExists(net_.store().recordPath(containerId_, "eth0")) ||
           pathExists(linkPinPath(target, TcDirection::kIngress)) ||
           pathExists(linkPinPath(target, TcDirection::kEgress));
  }

  CniNetwork net_;
  ScopedNetns pod_;
  std::string containerId_;
  uint32_t ifindex_ = 0;
};

TEST_F(CniAddedPodTest, CheckFailsWhenTheAttachmentIsMissing) {
  ASSERT_TRUE(net_.plugin(env("CHECK")).ok());
  auto record = net_.store().read(containerId_, "eth0");
  ASSERT_TRUE(record.ok() && record->has_value());
  if ((*record)->attachMode == "tcx") {
    ASSERT_TRUE(detachLinkPin(linkPinPath(targetOf(net_, containerId_), TcDirection::kEgress)).ok());
  } else {  // the default: clsact until the controller moves it
    ASSERT_TRUE(runShell("tc filter del dev " + (*record)->hostIfname +
                         " egress pref 2 handle 0x504c bpf").ok());
  }
  auto checked = net_.plugin(env("CHECK"));
  EXPECT_FALSE(checked.ok());
  EXPECT_EQ(cniErrorCode(checked), 102) << checked.out;
  EXPECT_NE(checked.out.find("egress"), std::string::npos) << checked.out;
  auto viaRuntime = net_.cnitool("check", pod_);
  EXPECT_FALSE(viaRuntime.ok());
  EXPECT_TRUE(net_.cnitool("del", pod_).ok());
}

TEST_F(CniAddedPodTest, CheckFailsWithoutARecord) {
  ASSERT_TRUE(net_.store().remove(containerId_, "eth0").ok());
  auto checked = net_.plugin(env("CHECK"));
  EXPECT_EQ(cniErrorCode(checked), 102) << checked.out;
  EXPECT_TRUE(net_.cnitool("del", pod_).ok());
  EXPECT_FALSE(leftovers());  // DEL found the links by name although the record was gone
}

TEST_F(CniAddedPodTest, DelWithTheNetnsGone) {
  runShell("ip netns del " + pod_.name());
  auto deleted = net_.plugin(env("DEL"));
  EXPECT_TRUE(deleted.ok()) << deleted.out;
  EXPECT_FALSE(leftovers());
  EXPECT_TRUE(net_.plugin(env("DEL")).ok());
}

TEST_F(CniAddedPodTest, DelWithTheVethAlreadyDeleted) {
  ASSERT_TRUE(runShell("ip link del " + ifnameOf(ifindex_)).ok());
  auto deleted = net_.cnitool("del", pod_);
  EXPECT_TRUE(deleted.ok()) << deleted.err;
  EXPECT_FALSE(leftovers());
}

TEST(CniFailedAddTest, DelAfterAFailedAddIsClean) {
  PODLENS_REQUIRE_CNITOOL();
  ScopedDir notBpffs;
  CniNetwork net({Primary::kBridge, "1.0.0", true,
                  {{"failPolicy", "closed"}, {"bpffsRoot", notBpffs.path()}}});
  ScopedNetns pod;
  auto added = net.cnitool("add", pod);
  EXPECT_FALSE(added.ok());
  EXPECT_NE(added.err.find("not on a bpffs"), std::string::npos) << added.err;
  auto deleted = net.cnitool("del", pod);
  EXPECT_TRUE(deleted.ok()) << deleted.err;
  EXPECT_TRUE(net.store().list().records.empty());
}

}  // namespace
}  // namespace podlens::test
