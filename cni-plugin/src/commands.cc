#include "commands.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <ctime>
#include <filesystem>
#include <set>

#include "netlink.hpp"
#include "plugin_state.hpp"

namespace podlens::cni {
namespace {

PodRecord makeRecord(const Environment& env, const PluginConfig& config, const HostVeth& veth,
                     const AttachPlan& plan) {
  const PodIdentity identity = parsePodIdentity(env.args, env.containerId);
  PodRecord record;
  record.containerId = env.containerId;
  record.ifname = env.ifname;
  record.namespace_ = identity.namespace_;
  record.name = identity.name;
  record.uid = identity.uid;
  record.network = config.name;
  record.netns = env.netns;
  record.hostIfindex = veth.ifindex;
  record.hostIfname = veth.name;
  record.ips = config.prevResult ? podAddresses(*config.prevResult, env.ifname)
                                 : std::vector<std::string>{};
  record.attachMode = std::string(attachModeName(plan.now));
  record.targetAttachMode = std::string(attachModeName(plan.target));
  record.attachedAtUnix = static_cast<int64_t>(std::time(nullptr));
  return record;
}

// Finds the veth, attaches the pinned programs, records the pod. Undoes the attachment when a
// later step fails, so a fault leaves nothing half done.
Result<PodRecord> attachPod(const Environment& env, const PluginConfig& config,
                            const PodRecordStore& store) {
  auto veth = findHostVeth(env.netns, env.ifname);
  if (!veth) {
    return veth.error();
  }
  if (config.prevResult) {
    if (auto disagreement = crossCheckInterfaces(*config.prevResult, env.ifname, veth->name)) {
      spdlog::warn("{}; attaching to {} as netlink says", *disagreement, veth->name);
    }
  }
  auto plane = openDataPlane(config);
  if (!plane) {
    return plane.error();
  }
  auto plan = planAttachment(config, **plane);
  if (!plan) {
    return plan.error();
  }
  const AttachTarget target{config.bpffsRoot, env.containerId, env.ifname, veth->ifindex};
  if (auto attached = attachPrograms(target, plan->now, (*plane)->ingressProgramFd(),
                                     (*plane)->egressProgramFd());
      !attached) {
    (void)detachPrograms(target);
    return Error{attached.error().message, kAttachFailed};
  }
  PodRecord record = makeRecord(env, config, *veth, *plan);
  if (auto written = store.write(record); !written) {
    (void)detachPrograms(target);
    return Error{written.error().message, kStateFailed};
  }
  return record;
}

// A prevResult of unexpected shape must not escape as an exception: it is a fault like any other.
Result<PodRecord> attachPodGuarded(const Environment& env, const PluginConfig& config,
                                   const PodRecordStore& store) {
  try {
    return attachPod(env, config, store);
  } catch (const std::exception& e) {
    return Error{std::string("unexpected input while attaching: ") + e.what(), kInternal};
  }
}

Error missing(const std::string& what) { return Error{what, kAttachmentMissing}; }

bool pinExists(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0;
}

Status checkAttachment(const Environment& env, const PluginConfig& config, const PodRecord& r) {
  auto veth = findHostVeth(env.netns, env.ifname);
  if (!veth) {
    return veth.error();
  }
  if (veth->ifindex != r.hostIfindex) {
    return missing("podlens recorded host ifindex " + std::to_string(r.hostIfindex) +
                   " but the veth of " + env.ifname + " is now " + veth->name + " (" +
                   std::to_string(veth->ifindex) + ")");
  }
  auto mode = parseAttachMode(r.attachMode);
  if (!mode) {
    return missing("pod record has unknown attachMode \"" + r.attachMode + "\"");
  }
  auto state = queryAttached(veth->ifindex, *mode);
  if (!state) {
    return missing(state.error().message);
  }
  if (!state->both()) {
    return missing(std::string("podlens program missing on ") +
                   (state->ingress ? "" : "ingress ") + (state->egress ? "" : "egress ") +
                   "of " + veth->name + " (" + r.attachMode + ")");
  }
  const AttachTarget target{config.bpffsRoot, env.containerId, env.ifname, veth->ifindex};
  for (TcDirection d : {TcDirection::kIngress, TcDirection::kEgress}) {
    if (*mode == AttachMode::kTcx && !pinExists(linkPinPath(target, d))) {
      return missing("tcx link pin " + linkPinPath(target, d) + " is missing");
    }
  }
  return ok();
}

// Link pins that belong to no kept attachment: left by a crash between attach and record.
std::vector<std::string> orphanLinkPins(const PluginConfig& config,
                                        const std::set<AttachmentId>& keep) {
  std::set<std::string> kept;
  for (const auto& id : keep) {
    const AttachTarget target{config.bpffsRoot, id.containerId, id.ifname, 0};
    kept.insert(linkPinPath(target, TcDirection::kIngress));
    kept.insert(linkPinPath(target, TcDirection::kEgress));
  }
  std::vector<std::string> orphans;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(linksPinDir(config.bpffsRoot), ec)) {
    if (kept.count(entry.path().string()) == 0) {
      orphans.push_back(entry.path().string());
    }
  }
  return orphans;
}

// Lock files of attachments that are not kept: left when a DEL never came. Safe to delete
// under GC's exclusive node lock: every attachment lock is taken after the shared node lock.
void removeOrphanLockFiles(const PluginConfig& config, const std::set<AttachmentId>& keep) {
  std::set<std::string> kept;
  for (const auto& id : keep) {
    kept.insert(attachmentLockPath(config.stateDir, attachmentName(id.containerId, id.ifname)));
  }
  std::error_code ec;
  for (const auto& entry :
       std::filesystem::directory_iterator(attachmentLockDir(config.stateDir), ec)) {
    if (kept.count(entry.path().string()) == 0) {
      std::filesystem::remove(entry.path(), ec);
    }
  }
}

Status collectGarbage(const PluginConfig& config, const PodRecordStore& store) {
  const std::set<AttachmentId> valid(config.validAttachments.begin(),
                                     config.validAttachments.end());
  std::set<AttachmentId> keep = valid;
  Status result = ok();
  const PodRecordList listed = store.list();
  for (const auto& error : listed.errors) {
    spdlog::warn("GC: {}", error);
  }
  for (const auto& r : listed.records) {
    const AttachmentId id{r.containerId, r.ifname};
    if (r.network != config.name || valid.count(id) != 0) {
      keep.insert(id);  // another network's, or still in use
      continue;
    }
    spdlog::info("GC: removing stale attachment {} ({}/{})", attachmentName(id.containerId,
                 id.ifname), r.namespace_, r.name);
    if (auto removed = removeAttachment(config, store, r.containerId, r.ifname, ""); !removed) {
      result = removed;
    }
  }
  for (const auto& pin : orphanLinkPins(config, keep)) {
    spdlog::info("GC: removing orphan link pin {}", pin);
    if (auto removed = detachLinkPin(pin); !removed) {
      result = Error{removed.error().message, kDetachFailed};
    }
  }
  removeOrphanLockFiles(config, keep);
  return result;
}

Status dataPlaneUsable(const PluginConfig& config) {
  if (auto root = ensurePinRoot(config.bpffsRoot); !root) {
    return root;
  }
  if (pinExists(dataplanePinDir(config.bpffsRoot))) {
    auto plane = DataPlane::openPinned(config.bpffsRoot);
    return plane ? ok() : Status(plane.error());
  }
  return DataPlane::probeEmbeddedObject();
}

}  // namespace

Result<Reply> cmdAdd(const Environment& env, const PluginConfig& config) {
  PodRecordStore store(config.stateDir);
  auto locks = lockAttachment(config, env.containerId, env.ifname);
  auto record = locks ? attachPodGuarded(env, config, store) : Result<PodRecord>(locks.error());
  if (!record) {
    if (auto handled = applyFailPolicy(config, "ADD", record.error()); !handled) {
      return handled.error();
    }
  } else {
    spdlog::info("ADD {}/{}: attached to {} (ifindex {}, {}{})", record->namespace_,
                 record->name, record->hostIfname, record->hostIfindex, record->attachMode,
                 record->movePending() ? ", the controller moves it to " +
                                             record->targetAttachMode : "");
  }
  return Reply{addResultJson(config)};
}

Result<Reply> cmdDel(const Environment& env, const PluginConfig& config) {
  PodRecordStore store(config.stateDir);
  auto locks = lockAttachment(config, env.containerId, env.ifname);
  Status removed = locks ? removeAttachment(config, store, env.containerId, env.ifname, env.netns)
                         : Status(locks.error());
  if (!removed) {
    if (auto handled = applyFailPolicy(config, "DEL", removed.error()); !handled) {
      return handled.error();
    }
  }
  spdlog::debug("DEL {}: done", attachmentName(env.containerId, env.ifname));
  return Reply{};
}

Result<Reply> cmdCheck(const Environment& env, const PluginConfig& config) {
  PodRecordStore store(config.stateDir);
  auto locks = lockAttachment(config, env.containerId, env.ifname);
  if (!locks) {
    return locks.error();
  }
  auto record = store.read(env.containerId, env.ifname);
  if (!record) {
    return missing(record.error().message);
  }
  if (!record->has_value()) {
    return missing("no podlens attachment is recorded for " +
                   attachmentName(env.containerId, env.ifname) + " in " + config.stateDir);
  }
  if (auto checked = checkAttachment(env, config, **record); !checked) {
    return checked.error();
  }
  return Reply{};
}

Result<Reply> cmdGc(const PluginConfig& config) {
  PodRecordStore store(config.stateDir);
  auto locks = lockNode(config, StateLock::Kind::kExclusive);
  Status collected = locks ? collectGarbage(config, store) : Status(locks.error());
  if (!collected) {
    if (auto handled = applyFailPolicy(config, "GC", collected.error()); !handled) {
      return handled.error();
    }
  }
  return Reply{};
}

Result<Reply> cmdStatus(const PluginConfig& config) {
  if (auto usable = dataPlaneUsable(config); !usable) {
    const Error unavailable{"podlens cannot attach: " + usable.error().message,
                            kPluginNotAvailable};
    if (auto handled = applyFailPolicy(config, "STATUS", unavailable); !handled) {
      return handled.error();
    }
  }
  return Reply{};
}

Result<Reply> runCommand(const Environment& env, const PluginConfig& config) {
  switch (env.command) {
    case Command::kAdd:
      return cmdAdd(env, config);
    case Command::kDel:
      return cmdDel(env, config);
    case Command::kCheck:
      return cmdCheck(env, config);
    case Command::kGc:
      return cmdGc(config);
    case Command::kStatus:
      return cmdStatus(config);
    case Command::kVersion:
      break;
  }
  return Reply{versionJson()};
}

}  // namespace podlens::cni
