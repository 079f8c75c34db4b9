#include "plugin_state.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>

#include "netlink.hpp"

namespace podlens::cni {
namespace {

constexpr auto kLockWait = std::chrono::seconds(30);

const char* faultReason(int code) {
  switch (code) {
    case kVethNotFound:
      return "veth_not_found";
    case kDataPlaneUnavailable:
      return "dataplane_unavailable";
    case kAttachFailed:
      return "attach_failed";
    case kStateFailed:
      return "state_failed";
    case kDetachFailed:
      return "detach_failed";
    case kTryAgain:
      return "lock_timeout";
    case kPluginNotAvailable:
      return "status_unavailable";
    default:
      return "internal";
  }
}

uint32_t recordedIfindex(const PodRecord& record) {
  return hostVethStillThere(record) ? record.hostIfindex : 0;
}

// A lock a command cannot do without: busy past the wait is code 11 (try again).
Result<StateLock> required(Result<std::optional<StateLock>> lock, const std::string& what) {
  if (!lock) {
    return Error{lock.error().message, kStateFailed};
  }
  if (!lock->has_value()) {
    return Error{"timed out waiting for the " + what + " lock (a GC or a controller holds it?)",
                 kTryAgain};
  }
  return std::move(**lock);
}

}  // namespace

Result<CommandLocks> lockNode(const PluginConfig& config, StateLock::Kind kind) {
  auto node = required(StateLock::node(config.stateDir, kind, kLockWait), "node-wide state");
  if (!node) {
    return node.error();
  }
  return CommandLocks{std::move(*node), std::nullopt};
}

Result<CommandLocks> lockAttachment(const PluginConfig& config, const std::string& containerId,
                                    const std::string& ifname) {
  auto locks = lockNode(config, StateLock::Kind::kShared);
  if (!locks) {
    return locks.error();
  }
  const std::string name = attachmentName(containerId, ifname);
  auto own = required(StateLock::attachment(config.stateDir, name, kLockWait), name);
  if (!own) {
    return own.error();
  }
  locks->attachment = std::move(*own);
  return std::move(*locks);
}

Result<std::unique_ptr<DataPlane>> openDataPlane(const PluginConfig& config) {
  auto unavailable = [&](const Error& e) {
    return Error{e.message + " (check that bpffs is mounted and bpffsRoot " + config.bpffsRoot +
                     " is on it)",
                 kDataPlaneUnavailable};
  };
  if (auto root = ensurePinRoot(config.bpffsRoot); !root) {
    return unavailable(root.error());
  }
  bool loadedNow = false;
  auto plane = DataPlane::openOrLoadPinned(config.bpffsRoot, DataPlaneOptions{}, &loadedNow);
  if (!plane) {
    return unavailable(plane.error());
  }
  if (loadedNow) {
    spdlog::info("no data plane was pinned under {}: loaded the embedded object and pinned it",
                 config.bpffsRoot);
  }
  return plane;
}

Result<AttachPlan> planAttachment(const PluginConfig& config, const DataPlane& plane) {
  const bool tcx = kernelHasTcx(plane.ingressProgramFd());
  switch (config.attachMode) {
    case AttachChoice::kClsact:
      return AttachPlan{AttachMode::kClsact, AttachMode::kClsact};
    case AttachChoice::kTcx:
      if (!tcx) {
        return Error{"attachMode tcx: this kernel has no tcx (6.6+)", kAttachFailed};
      }
      return AttachPlan{AttachMode::kTcx, AttachMode::kTcx};
    case AttachChoice::kAuto:
      break;
  }
  if (!tcx) {
    spdlog::debug("kernel without tcx: attaching through clsact");
  }
  return AttachPlan{AttachMode::kClsact, tcx ? AttachMode::kTcx : AttachMode::kClsact};
}

Status applyFailPolicy(const PluginConfig& config, const std::string& command,
                       const Error& fault) {
  if (config.failPolicy == FailPolicy::kClosed) {
    return fault;
  }
  const std::string reason = faultReason(fault.code);
  spdlog::warn("{} fault ({}), failing open: {}", command, reason, fault.message);
  if (auto counted = PodRecordStore(config.stateDir).recordFault(reason); !counted) {
    spdlog::error("counting fault {}: {}", reason, counted.error().message);
  }
  return ok();
}

Status removeAttachment(const PluginConfig& config, const PodRecordStore& store,
                        const std::string& containerId, const std::string& ifname,
                        const std::string& netns) {
  AttachTarget target{config.bpffsRoot, containerId, ifname, 0};
  auto record = store.read(containerId, ifname);
  if (!record) {
    spdlog::warn("{}", record.error().message);
  }
  if (record && record->has_value()) {
    // tcx links go with their pins; only clsact filters need the device (also while a move
    // to tcx is pending: it may have been cut short with both attached).
    if ((*record)->attachMode == attachModeName(AttachMode::kClsact)) {
      target.ifindex = recordedIfindex(**record);
    }
  } else if (!netns.empty() && access(netns.c_str(), F_OK) == 0) {
    auto veth = findHostVeth(netns, ifname);  // no record: a failed ADD, or a lost record
    target.ifindex = veth ? veth->ifindex : 0;
  }
  Status detached = detachPrograms(target);
  Status removed = store.remove(containerId, ifname);
  unlink(attachmentLockPath(config.stateDir, attachmentName(containerId, ifname)).c_str());
  if (!detached || !removed) {
    return Error{(detached ? removed : detached).error().message, kDetachFailed};
  }
  return ok();
}

}  // namespace podlens::cni
