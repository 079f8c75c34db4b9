// The controller's openCurrentDataPlane on a node where podlens-cni attached pods (one moved to
// tcx, one on clsact): pins of the same build are reused; pins of another build are replaced
// and every attachment follows onto the new programs.
#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "attachment_mover.hpp"
#include "cni_test_util.hpp"
#include "current_data_plane.hpp"
#include "support/bpf_info.hpp"

namespace podlens::test {
namespace {

using daemon::AttachmentMover;
using daemon::DataPlaneOrigin;
using daemon::openCurrentDataPlane;

// An ABI change as an upgrade brings one: pl_selectors pinned with other sizes.
void pinMapOfAnotherAbi(const std::string& pinRoot) {
  const std::string selectors = dataplanePinDir(pinRoot) + "/pl_selectors";
  ASSERT_EQ(unlink(selectors.c_str()), 0);
  const int wrong = bpf_map_create(BPF_MAP_TYPE_HASH, "pl_selectors", 4, 4, 16, nullptr);
  ASSERT_GE(wrong, 0);
  ASSERT_EQ(bpf_obj_pin(wrong, selectors.c_str()), 0);
  close(wrong);
}

class DataPlaneUpgradeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PODLENS_REQUIRE_CNITOOL();
    ASSERT_TRUE(net_.cnitool("add", onTcx_).ok());
    auto plane = DataPlane::openPinned(net_.pinRoot());
    ASSERT_TRUE(plane.ok());
    if (!kernelHasTcx((*plane)->ingressProgramFd())) {
      GTEST_SKIP() << "kernel without tcx (6.6+)";
    }
    AttachmentMover mover(**plane, net_.pinRoot(), net_.stateDir(), true);
    mover.run(AttachmentMover::Clock::now(), std::chrono::seconds(5));
    ASSERT_EQ(mover.moved(), 1u);
    ASSERT_TRUE(net_.cnitool("add", onClsact_).ok());  // not moved: stays on clsact
    oldIngress_ = programId((*plane)->ingressProgramFd());
  }

  std::string tcxLinkPin() const {
    return linkPinPath(targetOf(net_, CniNetwork::containerIdOf(onTcx_)), TcDirection::kIngress);
  }
  bool clsactFilterRuns(uint32_t progId) const {
    auto shown = runShell("tc filter show dev " + ifnameOf(hostPeerIfindex(onClsact_)) +
                          " ingress");
    return shown.out.find(" id " + std::to_string(progId) + " ") != std::string::npos;
  }

  CniNetwork net_;
  ScopedNetns onTcx_, onClsact_;
  uint32_t oldIngress_ = 0;
};

TEST_F(DataPlaneUpgradeTest, PinsOfTheSameBuildAreReused) {
  auto current = openCurrentDataPlane(net_.pinRoot(), net_.stateDir(), {});
  ASSERT_TRUE(current.ok()) << current.error().message;
  EXPECT_EQ(current->origin, DataPlaneOrigin::kReused);
  EXPECT_EQ(programId(current->plane->ingressProgramFd()), oldIngress_);
  EXPECT_EQ(pinnedLinkInfo(tcxLinkPin()).prog_id, oldIngress_);
}

TEST_F(DataPlaneUpgradeTest, PinsOfAnotherBuildAreReplacedAndEveryAttachmentFollows) {
  pinMapOfAnotherAbi(net_.pinRoot());
  auto current = openCurrentDataPlane(net_.pinRoot(), net_.stateDir(), {});
  ASSERT_TRUE(current.ok()) << current.error().message;
  EXPECT_EQ(current->origin, DataPlaneOrigin::kReplaced);
  const uint32_t fresh = programId(current->plane->ingressProgramFd());
  EXPECT_NE(fresh, oldIngress_);
  EXPECT_EQ(pinnedLinkInfo(tcxLinkPin()).prog_id, fresh);  // the tcx link, updated in place
  EXPECT_TRUE(clsactFilterRuns(fresh));           // the clsact filter, replaced
  EXPECT_FALSE(clsactFilterRuns(oldIngress_));

  auto reopened = DataPlane::openPinned(net_.pinRoot());  // what podlens-cni opens next
  ASSERT_TRUE(reopened.ok()) << reopened.error().message;
  EXPECT_EQ(programId((*reopened)->ingressProgramFd()), fresh);
  for (const auto& entry : std::filesystem::directory_iterator(net_.pinRoot())) {
    EXPECT_EQ(entry.path().filename().string().rfind("staging-", 0), std::string::npos)
        << entry.path();
  }
  for (const ScopedNetns* pod : {&onTcx_, &onClsact_}) {
    auto checked = net_.cnitool("check", *pod);
    EXPECT_TRUE(checked.ok()) << checked.out << checked.err;
    EXPECT_TRUE(net_.cnitool("del", *pod).ok());
  }
}

}  // namespace
}  // namespace podlens::test
