#include "plugin_state.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <thread>

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
  // An ifindex is reused once its veth is gone: trust it only while it still has its name.
  return linkName(record.hostIfindex) == record.hostIfname ? record.hostIfindex : 0;
}

}  // namespace

Result<std::unique_ptr<StateLock>> StateLock::acquire(const std::string& stateDir, Kind kind) {
  std::error_code ec;
  std::filesystem::create_directories(stateDir, ec);
  const std::string path = stateDir + "/podlens-cni.lock";
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    return Error{"opening " + path + ": " + std::strerror(errno), kStateFailed};
  }
  std::unique_ptr<StateLock> lock(new StateLock(fd));
  const int op = (kind == Kind::kShared ? LOCK_SH : LOCK_EX) | LOCK_NB;
  const auto deadline = std::chrono::steady_clock::now() + kLockWait;
  while (flock(fd, op) != 0) {
    if (errno != EWOULDBLOCK && errno != EINTR) {
      return Error{"locking " + path + ": " + std::strerror(errno), kStateFailed};
    }
    if (std::chrono::steady_clock::now() > deadline) {
      return Error{"timed out waiting for " + path + " (a GC holds it?)", kTryAgain};
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return lock;
}

StateLock::~StateLock() { close(fd_); }

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

Result<AttachMode> chooseAttachMode(const PluginConfig& config, const DataPlane& plane) {
  const bool tcx = kernelHasTcx(plane.ingressProgramFd());
  switch (config.attachMode) {
    case AttachChoice::kClsact:
      return AttachMode::kClsact;
    case AttachChoice::kTcx:
      if (!tcx) {
        return Error{"attachMode tcx: this kernel has no tcx (6.6+)", kAttachFailed};
      }
      return AttachMode::kTcx;
    case AttachChoice::kAuto:
      break;
  }
  if (!tcx) {
    spdlog::debug("kernel without tcx: attaching through clsact");
  }
  return tcx ? AttachMode::kTcx : AttachMode::kClsact;
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
    // tcx links go with their pins; only clsact filters need the device.
    if ((*record)->attachMode == attachModeName(AttachMode::kClsact)) {
      target.ifindex = recordedIfindex(**record);
    }
  } else if (!netns.empty() && access(netns.c_str(), F_OK) == 0) {
    auto veth = findHostVeth(netns, ifname);  // no record: a failed ADD, or a lost record
    target.ifindex = veth ? veth->ifindex : 0;
  }
  Status detached = detachPrograms(target);
  Status removed = store.remove(containerId, ifname);
  if (!detached || !removed) {
    return Error{(detached ? removed : detached).error().message, kDetachFailed};
  }
  return ok();
}

}  // namespace podlens::cni
