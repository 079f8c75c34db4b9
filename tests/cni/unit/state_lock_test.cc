// The state directory's locks, shared by podlens-cni and the controller (flock semantics:
// every acquisition opens the file anew, so two in one process exclude each other as two
// processes would).
#include <podlens/state_lock.hpp>

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <future>
#include <thread>

#include "support/scoped.hpp"

namespace podlens::test {
namespace {

using std::chrono::milliseconds;
constexpr milliseconds kNoWait{0};

bool held(const Result<std::optional<StateLock>>& lock) { return lock.ok() && lock->has_value(); }

TEST(StateLockTest, NodeLockIsSharedAmongCommandsExclusiveForGc) {
  ScopedDir dir;
  auto add = StateLock::node(dir.path(), StateLock::Kind::kShared, kNoWait);
  auto del = StateLock::node(dir.path(), StateLock::Kind::kShared, kNoWait);
  ASSERT_TRUE(held(add));
  ASSERT_TRUE(held(del));
  auto gc = StateLock::node(dir.path(), StateLock::Kind::kExclusive, milliseconds(20));
  ASSERT_TRUE(gc.ok());
  EXPECT_FALSE(gc->has_value());  // busy, not an error
  add = Result<std::optional<StateLock>>(std::optional<StateLock>());
  del = Result<std::optional<StateLock>>(std::optional<StateLock>());
  EXPECT_TRUE(held(StateLock::node(dir.path(), StateLock::Kind::kExclusive, kNoWait)));
}

TEST(StateLockTest, AttachmentLockExcludesAndWaitsForTheHolder) {
  ScopedDir dir;
  auto first = StateLock::attachment(dir.path(), "c1-eth0", kNoWait);
  ASSERT_TRUE(held(first));
  EXPECT_FALSE(held(StateLock::attachment(dir.path(), "c1-eth0", kNoWait)));
  EXPECT_TRUE(held(StateLock::attachment(dir.path(), "c2-eth0", kNoWait)));  // another pod
  auto waiter = std::async(std::launch::async, [&] {
    return held(StateLock::attachment(dir.path(), "c1-eth0", milliseconds(5000)));
  });
  std::this_thread::sleep_for(milliseconds(50));
  first = Result<std::optional<StateLock>>(std::optional<StateLock>());  // released
  EXPECT_TRUE(waiter.get());
}

TEST(StateLockTest, AWaiterOnADeletedLockFileTakesAFreshOne) {
  ScopedDir dir;
  const std::string path = attachmentLockPath(dir.path(), "c1-eth0");
  auto del = StateLock::attachment(dir.path(), "c1-eth0", kNoWait);
  ASSERT_TRUE(held(del));
  auto waiter = std::async(std::launch::async, [&] {
    return StateLock::attachment(dir.path(), "c1-eth0", milliseconds(5000));
  });
  std::this_thread::sleep_for(milliseconds(50));
  ASSERT_EQ(unlink(path.c_str()), 0);  // DEL removes the attachment, lock file included
  del = Result<std::optional<StateLock>>(std::optional<StateLock>());
  auto got = waiter.get();
  ASSERT_TRUE(held(got));
  struct stat st {};
  EXPECT_EQ(stat(path.c_str(), &st), 0);  // the waiter holds a file others can see
  // ...so a third party is excluded, which a lock on the deleted file would not do.
  EXPECT_FALSE(held(StateLock::attachment(dir.path(), "c1-eth0", kNoWait)));
}

TEST(StateLockTest, AnUnusableDirectoryIsAnErrorNotBusy) {
  auto lock = StateLock::node("/proc/podlens-no-such-dir", StateLock::Kind::kShared, kNoWait);
  ASSERT_FALSE(lock.ok());
  EXPECT_NE(lock.error().message.find("/proc/podlens-no-such-dir/podlens-cni.lock"),
            std::string::npos)
      << lock.error().message;
}

}  // namespace
}  // namespace podlens::test
