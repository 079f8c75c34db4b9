// The controller's AttachmentMover on pods podlens-cni attached with attachMode auto (clsact at
// ADD, tcx as the target), through cnitool and real primary plugins: the move itself, and how
// it yields to podlens-cni's commands on the same pod.
#include <podlens/state_lock.hpp>

#include <gtest/gtest.h>

#include "attachment_mover.hpp"
#include "cni_test_util.hpp"

namespace podlens::test {
namespace {

using daemon::AttachmentMover;
using std::chrono::milliseconds;

class AttachmentMoveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PODLENS_REQUIRE_CNITOOL();
    added_ = net_.cnitool("add", pod_);
    ASSERT_TRUE(added_.ok()) << added_.err;
    auto plane = DataPlane::openPinned(net_.pinRoot());
    ASSERT_TRUE(plane.ok()) << plane.error().message;
    plane_ = std::move(*plane);
    if (!kernelHasTcx(plane_->ingressProgramFd())) {
      GTEST_SKIP() << "kernel without tcx (6.6+): attachMode auto stays on clsact";
    }
    containerId_ = CniNetwork::containerIdOf(pod_);
    ifindex_ = hostPeerIfindex(pod_);
  }

  PodRecord record() const {
    auto read = net_.store().read(containerId_, "eth0");
    EXPECT_TRUE(read.ok() && read->has_value());
    return read.ok() && read->has_value() ? **read : PodRecord{};
  }
  AttachmentMover mover(bool kernelHasTcx = true) const {
    return AttachmentMover(*plane_, net_.pinRoot(), net_.stateDir(), kernelHasTcx);
  }
  std::string lockPath() const {
    return attachmentLockPath(net_.stateDir(), attachmentName(containerId_, "eth0"));
  }

  CniNetwork net_;
  ScopedNetns pod_;
  CommandResult added_;
  std::unique_ptr<DataPlane> plane_;
  std::string containerId_;
  uint32_t ifindex_ = 0;
};

TEST_F(AttachmentMoveTest, MovesToTcxThenCniChecksAndDeletesTheMovedAttachment) {
  EXPECT_EQ(record().attachMode, "clsact");
  EXPECT_EQ(record().targetAttachMode, "tcx");
  EXPECT_TRUE(attachedOn(ifindex_, AttachMode::kClsact).both());

  AttachmentMover m = mover();
  m.run(AttachmentMover::Clock::now(), milliseconds(5000));
  EXPECT_EQ(m.moved(), 1u);
  EXPECT_EQ(m.failed(), 0u);
  EXPECT_EQ(m.pending(), 0u);
  EXPECT_EQ(record().attachMode, "tcx");
  EXPECT_FALSE(record().movePending());
  EXPECT_TRUE(attachedOn(ifindex_, AttachMode::kTcx).both());
  const AttachedState clsact = attachedOn(ifindex_, AttachMode::kClsact);
  EXPECT_FALSE(clsact.ingress || clsact.egress);
  const AttachTarget target = targetOf(net_, containerId_);
  EXPECT_TRUE(pathExists(linkPinPath(target, TcDirection::kIngress)));
  EXPECT_TRUE(pathExists(linkPinPath(target, TcDirection::kEgress)));

  m.run(AttachmentMover::Clock::now(), milliseconds(5000));  // nothing left to do
  EXPECT_EQ(m.moved(), 1u);
  auto checked = net_.cnitool("check", pod_);
  EXPECT_TRUE(checked.ok()) << checked.out << checked.err;
  ASSERT_TRUE(net_.cnitool("del", pod_).ok());
  EXPECT_FALSE(pathExists(linkPinPath(target, TcDirection::kIngress)));
  EXPECT_FALSE(pathExists(lockPath()));
}

TEST_F(AttachmentMoveTest, WaitsWhileACniCommandHoldsThePod) {
  AttachmentMover m = mover();
  {
    auto busy = StateLock::attachment(net_.stateDir(), attachmentName(containerId_, "eth0"),
                                      milliseconds(0));
    ASSERT_TRUE(busy.ok() && busy->has_value());
    m.run(AttachmentMover::Clock::now(), milliseconds(5000));
    EXPECT_EQ(m.moved(), 0u);
    EXPECT_EQ(m.pending(), 1u);
    EXPECT_TRUE(attachedOn(ifindex_, AttachMode::kClsact).both());
  }
  {
    auto gc = StateLock::node(net_.stateDir(), StateLock::Kind::kExclusive, milliseconds(0));
    ASSERT_TRUE(gc.ok() && gc->has_value());
    m.run(AttachmentMover::Clock::now(), milliseconds(5000));
    EXPECT_EQ(m.moved(), 0u);
  }
  m.run(AttachmentMover::Clock::now(), milliseconds(5000));
  EXPECT_EQ(m.moved(), 1u);
  EXPECT_EQ(m.failed(), 0u);
}

TEST_F(AttachmentMoveTest, LeavesAStaleRecordToDelAndGc) {
  runShell("ip netns del " + pod_.name());  // the pod went away without DEL: its veth too
  ASSERT_TRUE(linkGoneWithin(ifindex_, milliseconds(10000)));
  AttachmentMover m = mover();
  m.run(AttachmentMover::Clock::now(), milliseconds(5000));
  EXPECT_EQ(m.moved(), 0u);
  EXPECT_EQ(m.pending(), 0u);
  EXPECT_FALSE(pathExists(linkPinPath(targetOf(net_, containerId_), TcDirection::kIngress)));
  EXPECT_TRUE(net_.cnitool("del", pod_).ok());
  EXPECT_FALSE(pathExists(net_.store().recordPath(containerId_, "eth0")));
}

TEST_F(AttachmentMoveTest, AFailedMoveKeepsClsactAndBacksOff) {
  AttachmentMover m = mover(/*kernelHasTcx=*/false);
  const auto now = AttachmentMover::Clock::now();
  m.run(now, milliseconds(5000));
  EXPECT_EQ(m.failed(), 1u);
  EXPECT_EQ(m.pending(), 1u);
  EXPECT_EQ(record().attachMode, "clsact");
  EXPECT_TRUE(attachedOn(ifindex_, AttachMode::kClsact).both());
  m.run(now + milliseconds(100), milliseconds(5000));  // within the back-off: not retried
  EXPECT_EQ(m.failed(), 1u);
  m.run(now + std::chrono::seconds(2), milliseconds(5000));
  EXPECT_EQ(m.failed(), 2u);
}

}  // namespace
}  // namespace podlens::test
