// What the commands share: the node-wide lock of the state directory, the data plane, the
// failure policy, and the removal of one pod's attachment (DEL and GC).
#pragma once

#include <podlens/attach.hpp>
#include <podlens/dataplane.hpp>
#include <podlens/pod_record.hpp>
#include <podlens/result.hpp>
#include <podlens/state_lock.hpp>

#include <memory>
#include <optional>
#include <string>

#include "cni_protocol.hpp"

namespace podlens::cni {

// The locks a command holds (podlens/state_lock.hpp): the node-wide lock (shared, exclusive for
// GC) and, for ADD, DEL and CHECK, the attachment's own. Waits up to 30 s, then fails with
// code 11 (try again).
struct CommandLocks {
  StateLock node;
  std::optional<StateLock> attachment;
};
Result<CommandLocks> lockNode(const PluginConfig& config, StateLock::Kind kind);
Result<CommandLocks> lockAttachment(const PluginConfig& config, const std::string& containerId,
                                    const std::string& ifname);

// The pinned data plane under config.bpffsRoot, loaded and pinned first if absent (code 103).
Result<std::unique_ptr<DataPlane>> openDataPlane(const PluginConfig& config);
// How ADD attaches now, and where the attachment should end (PodRecord::targetAttachMode).
struct AttachPlan {
  AttachMode now;
  AttachMode target;
};
// attachMode auto: clsact now (about 2 ms) and tcx as the target where the kernel has tcx (the
// controller moves it: a tcx attach waits for RCU grace periods under rtnl_lock, about 30 ms a
// pod); tcx or clsact: that, now and for good.
Result<AttachPlan> planAttachment(const PluginConfig& config, const DataPlane& plane);

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
