// The lib/ contracts podlens-cni and the controller share, on the real kernel: pin layout and
// atomic publication, ABI validation of pins, tcx and clsact attachment, queries, detach.
#include <podlens/attach.hpp>
#include <podlens/dataplane.hpp>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <filesystem>
#include <thread>
#include <type_traits>
#include <vector>

#include "podlens_tc.skel.h"
#include "support/bpf_info.hpp"
#include "support/require_root.hpp"
#include "support/scoped.hpp"
#include "support/shell.hpp"

namespace podlens::test {
namespace {

bool exists(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0;
}

std::unique_ptr<DataPlane> loadPinned(const std::string& root, bool* loadedNow = nullptr) {
  auto made = ensurePinRoot(root);
  EXPECT_TRUE(made.ok()) << (made ? "" : made.error().message);
  auto plane = DataPlane::openOrLoadPinned(root, {}, loadedNow);
  EXPECT_TRUE(plane.ok()) << (plane ? "" : plane.error().message);
  return plane ? std::move(plane).value() : nullptr;
}

TEST(PinsTest, FirstLoaderPinsEverythingAtomicallyLaterOnesOpen) {
  PODLENS_REQUIRE_ROOT();
  ScopedPinRoot root;
  bool loadedNow = false;
  auto first = loadPinned(root.path(), &loadedNow);
  ASSERT_TRUE(first);
  EXPECT_TRUE(loadedNow);
  const std::string dir = dataplanePinDir(root.path());
  for (const char* pin : {"prog_ingress", "prog_egress", "pl_selectors", "pl_ports", "pl_conns",
                          "pl_events", "pl_losses", "pl_scratch", "pl_tail"}) {
    EXPECT_TRUE(exists(dir + "/" + pin)) << pin;
  }
  for (const auto& entry : std::filesystem::directory_iterator(root.path())) {
    EXPECT_EQ(entry.path().filename().string().rfind("staging", 0), std::string::npos);
  }
  auto second = loadPinned(root.path(), &loadedNow);
  ASSERT_TRUE(second);
  EXPECT_FALSE(loadedNow);

  podlens_selector_key key{};
  key.ifindex = 42;
  key.port = 8080;
  podlens_selector_value value{};
  value.protocol = PODLENS_PROTO_HTTP1;
  value.policy_id = 9;
  ASSERT_TRUE(second->putSelector(key, value).ok());
  auto listed = first->listSelectors();
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_TRUE(listed->front().first == key);
  EXPECT_TRUE(listed->front().second == value);
}

// A data plane opened from pins finds connections where the one that loaded them put them:
// it hashes with the seed the programs were loaded with, read from their pinned read-only
// data. Another loaded data plane has a seed of its own.
TEST(PinsTest, OpenedPinsHashWithTheLoadersSeed) {
  PODLENS_REQUIRE_ROOT();
  ScopedPinRoot root;
  auto loader = loadPinned(root.path());
  ASSERT_TRUE(loader);
  auto opened = DataPlane::openPinned(root.path());
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  EXPECT_EQ((*opened)->connectionHashSeed(), loader->connectionHashSeed());

  ScopedPinRoot otherRoot;
  auto other = loadPinned(otherRoot.path());
  ASSERT_TRUE(other);
  EXPECT_NE(other->connectionHashSeed(), loader->connectionHashSeed());
}

// Pins whose programs were built to another ABI version are another ABI's, also when every
// map has this build's shape (a change of meaning, say): the version in their read-only data
// says so, and the controller replaces them.
TEST(PinsTest, PinsOfAnotherAbiVersionAreAnotherAbis) {
  PODLENS_REQUIRE_ROOT();
  ScopedPinRoot root;
  auto plane = loadPinned(root.path());
  ASSERT_TRUE(plane);
  const std::string rodata = dataplanePinDir(root.path()) + "/rodata";
  const int pinned = bpf_obj_get(rodata.c_str());
  ASSERT_GE(pinned, 0);
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  ASSERT_EQ(bpf_obj_get_info_by_fd(pinned, &info, &len), 0);
  std::vector<unsigned char> value(info.value_size);
  const uint32_t zero = 0;
  ASSERT_EQ(bpf_map_lookup_elem(pinned, &zero, value.data()), 0);
  close(pinned);
  using Rodata = std::remove_pointer_t<decltype(podlens_tc::rodata)>;
  const uint32_t older = PODLENS_ABI_VERSION - 1;
  std::memcpy(value.data() + offsetof(Rodata, pl_abi_version), &older, sizeof(older));
  const int other = bpf_map_create(BPF_MAP_TYPE_ARRAY, "rodata", sizeof(uint32_t),
                                   info.value_size, 1, nullptr);
  ASSERT_GE(other, 0);
  ASSERT_EQ(bpf_map_update_elem(other, &zero, value.data(), BPF_ANY), 0);
  ASSERT_EQ(unlink(rodata.c_str()), 0);
  ASSERT_EQ(bpf_obj_pin(other, rodata.c_str()), 0);
  close(other);

  auto reopened = DataPlane::openPinned(root.path());
  ASSERT_FALSE(reopened.ok());
  EXPECT_EQ(reopened.error().code, kPinsOfAnotherAbi);
  const std::string& message = reopened.error().message;
  EXPECT_NE(message.find("ABI version " + std::to_string(older) + ", this build's are of " +
                         std::to_string(PODLENS_ABI_VERSION)),
            std::string::npos)
      << message;
}

// The tail-call losses a packet run through prog_fd (BPF_PROG_TEST_RUN) added.
uint64_t tailCallLossesOfOnePacket(int progFd, int lossesFd) {
  auto total = [&] {
    std::vector<uint64_t> perCpu(static_cast<size_t>(libbpf_num_possible_cpus()));
    uint32_t key = PODLENS_LOSS_TAIL_CALL;
    EXPECT_EQ(bpf_map_lookup_elem(lossesFd, &key, perCpu.data()), 0);
    uint64_t sum = 0;
    for (uint64_t n : perCpu) {
      sum += n;
    }
    return sum;
  };
  uint64_t before = total();
  std::vector<uint8_t> frame(64, 0);  // not IP: the parser drops it, after the tail call
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame.data(),
              .data_size_in = static_cast<uint32_t>(frame.size()), .repeat = 1);
  EXPECT_EQ(bpf_prog_test_run_opts(progFd, &opts), 0);
  return total() - before;
}

// The entry programs reach podlens_parse through pl_tail, which the kernel empties when its
// last user reference goes: the pin must keep it filled once its loader is gone.
TEST(PinsTest, PinnedEntryProgramsStillReachTheParserAfterTheirLoaderExits) {
  PODLENS_REQUIRE_ROOT();
  ScopedPinRoot root;
  loadPinned(root.path()).reset();  // the loader's fds closed: only the pins remain
  auto plane = loadPinned(root.path());
  ASSERT_TRUE(plane);
  EXPECT_EQ(tailCallLossesOfOnePacket(plane->ingressProgramFd(), plane->lossesFd()), 0u);
  EXPECT_EQ(tailCallLossesOfOnePacket(plane->egressProgramFd(), plane->lossesFd()), 0u);

  // An empty slot is counted, not silent (and shows this test can fail).
  int tail = bpf_obj_get((dataplanePinDir(root.path()) + "/pl_tail").c_str());
  ASSERT_GE(tail, 0);
  uint32_t slot = 0;
  ASSERT_EQ(bpf_map_delete_elem(tail, &slot), 0);
  close(tail);
  EXPECT_EQ(tailCallLossesOfOnePacket(plane->ingressProgramFd(), plane->lossesFd()), 1u);
}

TEST(PinsTest, ConcurrentLoadersPublishOnce) {
  PODLENS_REQUIRE_ROOT();
  ScopedPinRoot root;
  ASSERT_TRUE(ensurePinRoot(root.path()).ok());
  std::vector<std::thread> threads;
  std::atomic<int> loads{0}, failures{0};
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      bool loadedNow = false;
      auto plane = DataPlane::openOrLoadPinned(root.path(), {}, &loadedNow);
      failures += plane ? 0 : 1;
      loads += loadedNow ? 1 : 0;
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(loads.load(), 1);
}

TEST(PinsTest, OpenPinnedRejectsPinsOfAnotherBuild) {
  PODLENS_REQUIRE_ROOT();
  ScopedPinRoot root;
  auto plane = loadPinned(root.path());
  ASSERT_TRUE(plane);
  const std::string selectors = dataplanePinDir(root.path()) + "/pl_selectors";
  ASSERT_EQ(unlink(selectors.c_str()), 0);
  int wrong = bpf_map_create(BPF_MAP_TYPE_HASH, "pl_selectors", 4, 4, 16, nullptr);
  ASSERT_GE(wrong, 0);
  ASSERT_EQ(bpf_obj_pin(wrong, selectors.c_str()), 0);
  close(wrong);
  auto reopened = DataPlane::openPinned(root.path());
  ASSERT_FALSE(reopened.ok());
  EXPECT_EQ(reopened.error().code, kPinsOfAnotherAbi);
  EXPECT_NE(reopened.error().message.find("another ABI"), std::string::npos)
      << reopened.error().message;
}

// Pins of a build before a map was added (pl_memos, say) lack it: they are another
// ABI's, which the controller replaces, not an error that stops it.
TEST(PinsTest, OpenPinnedTakesAMissingMapForPinsOfAnotherBuild) {
  PODLENS_REQUIRE_ROOT();
  ScopedPinRoot root;
  auto plane = loadPinned(root.path());
  ASSERT_TRUE(plane);
  const std::string memos = dataplanePinDir(root.path()) + "/pl_memos";
  ASSERT_EQ(unlink(memos.c_str()), 0);
  auto reopened = DataPlane::openPinned(root.path());
  ASSERT_FALSE(reopened.ok());
  EXPECT_EQ(reopened.error().code, kPinsOfAnotherAbi);
  EXPECT_NE(reopened.error().message.find("pl_memos"), std::string::npos)
      << reopened.error().message;
}

TEST(PinsTest, OpenPinnedSaysWhatIsMissing) {
  PODLENS_REQUIRE_ROOT();
  ScopedPinRoot root;
  auto opened = DataPlane::openPinned(root.path());
  ASSERT_FALSE(opened.ok());
  EXPECT_NE(opened.error().message.find("prog_ingress"), std::string::npos);
}

TEST(PinsTest, EnsurePinRootRefusesADirectoryOutsideBpffs) {
  PODLENS_REQUIRE_ROOT();
  ScopedDir dir;
  auto made = ensurePinRoot(dir.path() + "/pins");
  ASSERT_FALSE(made.ok());
  EXPECT_NE(made.error().message.find("not on a bpffs"), std::string::npos);
}

class AttachTest : public ::testing::TestWithParam<AttachMode> {};

TEST_P(AttachTest, AttachesBothDirectionsQueriesAndDetachesOnlyItsOwn) {
  PODLENS_REQUIRE_ROOT();
  ScopedPinRoot root;
  auto plane = loadPinned(root.path());
  ASSERT_TRUE(plane);
  if (GetParam() == AttachMode::kTcx && !kernelHasTcx(plane->ingressProgramFd())) {
    GTEST_SKIP() << "kernel without tcx (6.6+)";
  }
  ScopedVeth veth;
  AttachTarget target{root.path(), "cid." + veth.name(), "eth0", veth.ifindex()};
  auto before = queryAttached(target.ifindex, GetParam());
  ASSERT_TRUE(before.ok());
  EXPECT_FALSE(before->ingress || before->egress);

  auto attached = attachPrograms(target, GetParam(), plane->ingressProgramFd(),
                                 plane->egressProgramFd());
  ASSERT_TRUE(attached.ok()) << attached.error().message;
  // A retried ADD replaces its own attachment.
  ASSERT_TRUE(attachPrograms(target, GetParam(), plane->ingressProgramFd(),
                             plane->egressProgramFd())
                  .ok());
  auto state = queryAttached(target.ifindex, GetParam());
  ASSERT_TRUE(state.ok());
  EXPECT_TRUE(state->both());
  const bool tcx = GetParam() == AttachMode::kTcx;
  EXPECT_EQ(exists(linkPinPath(target, TcDirection::kIngress)), tcx);
  EXPECT_EQ(exists(linkPinPath(target, TcDirection::kEgress)), tcx);
  if (!tcx) {
    auto shown = runShell("tc filter show dev " + veth.name() + " ingress");
    EXPECT_NE(shown.out.find("handle 0x504c"), std::string::npos) << shown.out;
    EXPECT_NE(shown.out.find("pref 2"), std::string::npos) << shown.out;
  }

  ASSERT_TRUE(detachPrograms(target).ok());
  ASSERT_TRUE(detachPrograms(target).ok());  // idempotent
  state = queryAttached(target.ifindex, GetParam());
  ASSERT_TRUE(state.ok());
  EXPECT_FALSE(state->ingress || state->egress);
  EXPECT_FALSE(exists(linkPinPath(target, TcDirection::kIngress)));
  if (!tcx) {  // the qdisc stays: podlens never deletes one
    EXPECT_NE(runShell("tc qdisc show dev " + veth.name()).out.find("clsact"), std::string::npos);
  }
}

TEST(MoveTest, MovesClsactToTcxAndLeavesOthersAlone) {
  PODLENS_REQUIRE_ROOT();
  ScopedPinRoot root;
  auto plane = loadPinned(root.path());
  ASSERT_TRUE(plane);
  if (!kernelHasTcx(plane->ingressProgramFd())) {
    GTEST_SKIP() << "kernel without tcx (6.6+)";
  }
  ScopedVeth veth;
  AttachTarget target{root.path(), "cid." + veth.name(), "eth0", veth.ifindex()};
  const int in = plane->ingressProgramFd(), out = plane->egressProgramFd();
  ASSERT_TRUE(attachPrograms(target, AttachMode::kClsact, in, out).ok());

  auto moved = moveClsactToTcx(target, in, out);
  ASSERT_TRUE(moved.ok()) << moved.error().message;
  EXPECT_TRUE(queryAttached(target.ifindex, AttachMode::kTcx)->both());
  auto clsact = queryAttached(target.ifindex, AttachMode::kClsact);
  EXPECT_FALSE(clsact->ingress || clsact->egress);
  EXPECT_TRUE(exists(linkPinPath(target, TcDirection::kIngress)));
  EXPECT_TRUE(exists(linkPinPath(target, TcDirection::kEgress)));
  EXPECT_NE(runShell("tc qdisc show dev " + veth.name()).out.find("clsact"), std::string::npos);
  // Cut short and redone (a controller killed mid-move): the same end state, and the first
  // move's links are gone, not left beside the new ones.
  const uint32_t firstLink = pinnedLinkInfo(linkPinPath(target, TcDirection::kIngress)).id;
  ASSERT_NE(firstLink, 0u);
  ASSERT_TRUE(moveClsactToTcx(target, in, out).ok());
  EXPECT_TRUE(queryAttached(target.ifindex, AttachMode::kTcx)->both());
  EXPECT_NE(pinnedLinkInfo(linkPinPath(target, TcDirection::kIngress)).id, firstLink);
  EXPECT_LT(bpf_link_get_fd_by_id(firstLink), 0);
  ASSERT_TRUE(detachPrograms(target).ok());
  EXPECT_FALSE(queryAttached(target.ifindex, AttachMode::kTcx)->ingress);
}

TEST(MoveTest, AFailedMoveKeepsTheClsactAttachment) {
  PODLENS_REQUIRE_ROOT();
  ScopedPinRoot root;
  auto plane = loadPinned(root.path());
  ASSERT_TRUE(plane);
  ScopedVeth veth;
  AttachTarget target{root.path(), "cid." + veth.name(), "eth0", veth.ifindex()};
  ASSERT_TRUE(attachPrograms(target, AttachMode::kClsact, plane->ingressProgramFd(),
                             plane->egressProgramFd())
                  .ok());
  auto moved = moveClsactToTcx(target, -1, -1);  // no program to link
  ASSERT_FALSE(moved.ok());
  EXPECT_TRUE(queryAttached(target.ifindex, AttachMode::kClsact)->both());
  EXPECT_FALSE(exists(linkPinPath(target, TcDirection::kIngress)));
  EXPECT_FALSE(exists(linkPinPath(target, TcDirection::kEgress)));
  ASSERT_TRUE(detachPrograms(target).ok());
}

INSTANTIATE_TEST_SUITE_P(Modes, AttachTest,
                         ::testing::Values(AttachMode::kTcx, AttachMode::kClsact),
                         [](const auto& info) { return std::string(attachModeName(info.param)); });

}  // namespace
}  // namespace podlens::test
