#include "current_data_plane.hpp"

#include <podlens/attach.hpp>
#include <podlens/pod_record.hpp>
#include <podlens/state_lock.hpp>
#include <spdlog/spdlog.h>

#include <chrono>

namespace podlens::daemon {
namespace {

constexpr auto kLockWait = std::chrono::seconds(30);

// Every podlens attachment onto fresh's programs: each pinned tcx link, and the clsact filters
// of the pod records (a filter has no pin to find it by).
Status repointEverything(const std::string& bpffsRoot, const std::string& stateDir,
                         const DataPlane& fresh) {
  const int in = fresh.ingressProgramFd(), out = fresh.egressProgramFd();
  auto links = repointLinkPins(bpffsRoot, in, out);
  if (!links) {
    return links.error();
  }
  size_t filters = 0;
  for (const PodRecord& r : PodRecordStore(stateDir).list().records) {
    if (r.attachMode != attachModeName(AttachMode::kClsact) || !hostVethStillThere(r)) {
      continue;
    }
    const AttachTarget target{bpffsRoot, r.containerId, r.ifname, r.hostIfindex};
    if (auto done = repointAttachment(target, AttachMode::kClsact, in, out); !done) {
      return done.error();
    }
    ++filters;
  }
  spdlog::info("moved {} tcx links and the clsact filters of {} pods onto the new programs",
               *links, filters);
  return ok();
}

Result<CurrentDataPlane> replace(const std::string& bpffsRoot, const std::string& stateDir,
                                 std::unique_ptr<DataPlane> fresh, const std::string& why) {
  spdlog::warn("the data plane pinned under {} is another podlens build's ({}): replacing it "
               "with this build's; events still queued in its ring buffer are dropped",
               bpffsRoot, why);
  auto lock = StateLock::node(stateDir, StateLock::Kind::kExclusive, kLockWait);
  if (!lock || !lock->has_value()) {
    return Error{"replacing the data plane: the node-wide state lock under " + stateDir +
                 (lock ? " stayed busy" : ": " + lock.error().message)};
  }
  const DataPlane& plane = *fresh;
  if (auto done = DataPlane::replacePinned(
          bpffsRoot, plane, [&] { return repointEverything(bpffsRoot, stateDir, plane); });
      !done) {
    return done.error();
  }
  return CurrentDataPlane{std::move(fresh), DataPlaneOrigin::kReplaced};
}

}  // namespace

Result<CurrentDataPlane> openCurrentDataPlane(const std::string& bpffsRoot,
                                              const std::string& stateDir,
                                              const DataPlaneOptions& options) {
  bool loadedNow = false;
  auto pinned = DataPlane::openOrLoadPinned(bpffsRoot, options, &loadedNow);
  if (pinned && loadedNow) {
    return CurrentDataPlane{std::move(*pinned), DataPlaneOrigin::kLoaded};
  }
  if (!pinned && pinned.error().code != kPinsOfAnotherAbi) {
    return pinned.error();
  }
  auto fresh = DataPlane::load(options);  // to compare: the verifier's second or so
  if (!fresh) {
    if (pinned) {
      spdlog::warn("cannot load this build's data plane to compare with the pinned one ({}); "
                   "using the pinned one", fresh.error().message);
      return CurrentDataPlane{std::move(*pinned), DataPlaneOrigin::kReused};
    }
    return fresh.error();
  }
  if (!pinned) {
    return replace(bpffsRoot, stateDir, std::move(*fresh), pinned.error().message);
  }
  auto pinnedTags = (*pinned)->programTags();
  auto freshTags = (*fresh)->programTags();
  if (!pinnedTags || !freshTags) {
    return (pinnedTags ? freshTags : pinnedTags).error();
  }
  if (*pinnedTags == *freshTags) {
    return CurrentDataPlane{std::move(*pinned), DataPlaneOrigin::kReused};
  }
  pinned->reset();  // let go of the old objects before they are retired
  return replace(bpffsRoot, stateDir, std::move(*fresh),
                 "program tags " + *pinnedTags + ", this build's " + *freshTags);
}

}  // namespace podlens::daemon
