// What the commands share: the node-wide lock of the state directory, the data plane, the
// failure policy, and the removal of one pod's attachment (DEL and GC).
#pragma once

#include <podlens/attach.hpp>
#include <podlens/dataplane.hpp>
#include <podlens/pod_record.hpp>
#include <podlens/result.hpp>

#include <memory>
#include <string>

#include "cni_protocol.hpp"

namespace podlens::cni {

// flock() on <stateDir>/podlens-cni.lock: ADD, DEL and CHECK hold it shared (different pods
// proceed in parallel), GC exclusive (it decides what is stale). Waits up to 30 s, then fails
// with code 11 (try again).
class StateLock {
 public:
  enum class Kind { kShared, kExclusive };
  static Result<std::unique_ptr<StateLock>> acquire(const std::string& stateDir, Kind kind);
  ~StateLock();
  StateLock(const StateLock&) = delete;
  StateLock& operator=(const StateLock&) = delete;

 private:
  explicit StateLock(int fd) : fd_(fd) {}
  int fd_;
};

// The pinned data plane under config.bpffsRoot, loaded and pinned first if absent (code 103).
Result<std::unique_ptr<DataPlane>> openDataPlane(const PluginConfig& config);
// tcx where the kernel has it (or when asked), else clsact.
Result<AttachMode> chooseAttachMode(const PluginConfig& config, const DataPlane& plane);

// Applies failPolicy to a telemetry fault: open logs it, counts it and returns ok; closed
// returns the error.
Status applyFailPolicy(const PluginConfig& config, const std::string& command,
                       const Error& fault);

// Removes podlens' attachment of (containerId, ifname) and its record. The host veth is the
// record's (when its ifindex still has the recorded name), else the one found in netns (when
// given and present). Whatever is already gone is fine.
Status removeAttachment(const PluginConfig& config, const PodRecordStore& store,
                        const std::string& containerId, const std::string& ifname,
                        const std::string& netns);

}  // namespace podlens::cni
