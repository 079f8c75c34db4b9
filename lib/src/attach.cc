#include <podlens/attach.hpp>
#include <podlens/dataplane.hpp>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <atomic>
#include <cerrno>

#include "errors.hpp"
#include "tcx.hpp"
#include "unique_fd.hpp"

namespace podlens {
namespace {

constexpr TcDirection kDirections[] = {TcDirection::kIngress, TcDirection::kEgress};

uint32_t tcxAttachType(TcDirection direction) {
  return direction == TcDirection::kIngress ? tcx::kAttachIngress : tcx::kAttachEgress;
}

bpf_tc_attach_point tcAttachPoint(TcDirection direction) {
  return direction == TcDirection::kIngress ? BPF_TC_INGRESS : BPF_TC_EGRESS;
}

const char* programName(TcDirection direction) {
  return direction == TcDirection::kIngress ? "podlens_ingress" : "podlens_egress";
}

std::string where(const AttachTarget& target, TcDirection direction) {
  return std::string(tcDirectionName(direction)) + " of ifindex " +
         std::to_string(target.ifindex);
}

}  // namespace

Status detachLinkPin(const std::string& path) {
  UniqueFd link(bpf_obj_get(path.c_str()));
  if (!link.valid()) {
    if (errno == ENOENT) {
      return ok();
    }
    return errnoError("opening pinned link " + path, errno);
  }
  // ENOLINK/EINVAL: the device went away and took the attachment with it.
  if (bpf_link_detach(link.get()) != 0 && errno != ENOLINK && errno != EINVAL) {
    return errnoError("detaching link " + path, errno);
  }
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    return errnoError("unpinning link " + path, errno);
  }
  return ok();
}

namespace {

Status attachTcx(const AttachTarget& target, TcDirection direction, int progFd) {
  const std::string pin = linkPinPath(target, direction);
  if (auto removed = detachLinkPin(pin); !removed) {  // a retried ADD replaces its own link
    return removed.error();
  }
  UniqueFd link(tcx::linkCreate(progFd, target.ifindex, tcxAttachType(direction),
                                tcx::kFlagBefore));
  if (!link.valid()) {
    return errnoError("creating the tcx link on " + where(target, direction), -link.release());
  }
  if (bpf_obj_pin(link.get(), pin.c_str()) != 0) {
    return errnoError("pinning tcx link " + pin, errno);
  }
  return ok();
}

bpf_tc_hook tcHook(uint32_t ifindex, TcDirection direction) {
  bpf_tc_hook hook{};
  hook.sz = sizeof(hook);
  hook.ifindex = static_cast<int>(ifindex);
  hook.attach_point = tcAttachPoint(direction);
  return hook;
}

bpf_tc_opts podlensFilter(int progFd) {
  bpf_tc_opts opts{};
  opts.sz = sizeof(opts);
  opts.handle = kClsactHandle;
  opts.priority = kClsactPriority;
  opts.prog_fd = progFd;
  return opts;
}

Status attachClsact(const AttachTarget& target, TcDirection direction, int progFd) {
  bpf_tc_hook hook = tcHook(target.ifindex, direction);
  int err = bpf_tc_hook_create(&hook);  // creates clsact only if absent
  if (err != 0 && err != -EEXIST) {
    return errnoError("creating the clsact qdisc on ifindex " + std::to_string(target.ifindex),
                      err);
  }
  bpf_tc_opts opts = podlensFilter(progFd);
  opts.flags = BPF_TC_F_REPLACE;  // replaces only a filter with podlens' handle and priority
  err = bpf_tc_attach(&hook, &opts);
  if (err != 0) {
    return errnoError("attaching the cls_bpf filter on " + where(target, direction), err);
  }
  return ok();
}

Status detachClsact(uint32_t ifindex, TcDirection direction) {
  bpf_tc_hook hook = tcHook(ifindex, direction);
  bpf_tc_opts opts = podlensFilter(0);
  int err = bpf_tc_detach(&hook, &opts);
  // ENOENT: no such filter; EINVAL: no clsact qdisc; ENODEV: no device.
  if (err != 0 && err != -ENOENT && err != -EINVAL && err != -ENODEV) {
    return errnoError("detaching podlens' cls_bpf filter from ifindex " + std::to_string(ifindex),
                      err);
  }
  return ok();
}

bool programIsNamed(uint32_t progId, const char* name) {
  UniqueFd fd(bpf_prog_get_fd_by_id(progId));
  if (!fd.valid()) {
    return false;
  }
  bpf_prog_info info{};
  uint32_t len = sizeof(info);
  return bpf_obj_get_info_by_fd(fd.get(), &info, &len) == 0 && std::string(info.name) == name;
}

Result<bool> tcxHasPodlens(uint32_t ifindex, TcDirection direction) {
  auto ids = tcx::queryProgramIds(ifindex, tcxAttachType(direction));
  if (!ids) {
    return ids.error();
  }
  for (uint32_t id : *ids) {
    if (programIsNamed(id, programName(direction))) {
      return true;
    }
  }
  return false;
}

Result<bool> clsactHasPodlens(uint32_t ifindex, TcDirection direction) {
  bpf_tc_hook hook = tcHook(ifindex, direction);
  bpf_tc_opts opts = podlensFilter(0);
  int err = bpf_tc_query(&hook, &opts);
  if (err == -ENOENT || err == -EINVAL) {
    return false;
  }
  if (err != 0) {
    return errnoError("querying the filters of ifindex " + std::to_string(ifindex), err);
  }
  return programIsNamed(opts.prog_id, programName(direction));
}

}  // namespace

std::string_view attachModeName(AttachMode mode) {
  return mode == AttachMode::kTcx ? "tcx" : "clsact";
}

std::optional<AttachMode> parseAttachMode(std::string_view name) {
  if (name == "tcx") {
    return AttachMode::kTcx;
  }
  if (name == "clsact") {
    return AttachMode::kClsact;
  }
  return std::nullopt;
}

std::string_view tcDirectionName(TcDirection direction) {
  return direction == TcDirection::kIngress ? "ingress" : "egress";
}

bool kernelHasTcx(int tcProgFd) {
  static std::atomic<int> cached{-1};
  int known = cached.load();
  if (known >= 0) {
    return known == 1;
  }
  int fd = tcx::linkCreate(tcProgFd, 0, tcx::kAttachIngress, 0);
  if (fd >= 0) {  // cannot happen for ifindex 0; do not leak it if it does
    close(fd);
  }
  const bool has = fd == -ENODEV;
  cached.store(has ? 1 : 0);
  return has;
}

std::string attachmentName(const std::string& containerId, const std::string& ifname) {
  return containerId + "-" + ifname;
}

std::string linkPinPath(const AttachTarget& target, TcDirection direction) {
  // bpffs refuses dots in names; ':' is in neither a valid container id nor a valid ifname, so
  // the mapping stays one-to-one.
  std::string name = attachmentName(target.containerId, target.ifname);
  std::replace(name.begin(), name.end(), '.', ':');
  return target.bpffsRoot + "/links/" + name + "-" + std::string(tcDirectionName(direction));
}

Status attachPrograms(const AttachTarget& target, AttachMode mode, int ingressProgFd,
                      int egressProgFd) {
  // Sequential on purpose: a tcx attach holds rtnl_lock across its RCU grace period, so
  // attaching both directions from two threads gains nothing.
  for (TcDirection direction : kDirections) {
    const int fd = direction == TcDirection::kIngress ? ingressProgFd : egressProgFd;
    Status done = mode == AttachMode::kTcx ? attachTcx(target, direction, fd)
                                           : attachClsact(target, direction, fd);
    if (!done) {
      return done.error();
    }
  }
  return ok();
}

Status moveClsactToTcx(const AttachTarget& target, int ingressProgFd, int egressProgFd) {
  if (auto linked = attachPrograms(target, AttachMode::kTcx, ingressProgFd, egressProgFd);
      !linked) {
    for (TcDirection direction : kDirections) {
      (void)detachLinkPin(linkPinPath(target, direction));
    }
    return linked.error();
  }
  for (TcDirection direction : kDirections) {
    if (auto removed = detachClsact(target.ifindex, direction); !removed) {
      return removed.error();  // both run until the next try; nothing is lost meanwhile
    }
  }
  return ok();
}

namespace {

Status updateLink(const std::string& pin, int progFd) {
  UniqueFd link(bpf_obj_get(pin.c_str()));
  if (!link.valid()) {
    return errnoError("opening pinned link " + pin, errno);
  }
  if (bpf_link_update(link.get(), progFd, nullptr) != 0) {
    return errnoError("updating link " + pin, errno);
  }
  return ok();
}

bool endsWith(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

Status repointAttachment(const AttachTarget& target, AttachMode mode, int ingressProgFd,
                         int egressProgFd) {
  for (TcDirection direction : kDirections) {
    const int fd = direction == TcDirection::kIngress ? ingressProgFd : egressProgFd;
    const std::string pin = linkPinPath(target, direction);
    Status done = mode == AttachMode::kClsact ? attachClsact(target, direction, fd)
                  : access(pin.c_str(), F_OK) == 0 ? updateLink(pin, fd)
                                                   : attachTcx(target, direction, fd);
    if (!done) {
      return done.error();
    }
  }
  return ok();
}

Result<size_t> repointLinkPins(const std::string& bpffsRoot, int ingressProgFd,
                               int egressProgFd) {
  size_t updated = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(linksPinDir(bpffsRoot), ec)) {
    const std::string pin = entry.path().string();
    const bool ingress = endsWith(pin, "-ingress");
    if (!ingress && !endsWith(pin, "-egress")) {
      continue;
    }
    UniqueFd link(bpf_obj_get(pin.c_str()));
    if (!link.valid()) {
      return errnoError("opening pinned link " + pin, errno);
    }
    if (bpf_link_update(link.get(), ingress ? ingressProgFd : egressProgFd, nullptr) != 0) {
      if (errno == ENOLINK) {
        continue;  // its device is gone: a stale pin for DEL or GC to remove
      }
      return errnoError("updating link " + pin, errno);
    }
    ++updated;
  }
  return updated;
}

Status detachPrograms(const AttachTarget& target) {
  Status result = ok();
  for (TcDirection direction : kDirections) {  // go on after an error: remove what we can
    Status pin = detachLinkPin(linkPinPath(target, direction));
    Status filter = target.ifindex != 0 ? detachClsact(target.ifindex, direction) : ok();
    if (!pin && result) {
      result = pin;
    }
    if (!filter && result) {
      result = filter;
    }
  }
  return result;
}

Result<AttachedState> queryAttached(uint32_t ifindex, AttachMode mode) {
  AttachedState state;
  for (TcDirection direction : kDirections) {
    auto has = mode == AttachMode::kTcx ? tcxHasPodlens(ifindex, direction)
                                        : clsactHasPodlens(ifindex, direction);
    if (!has) {
      return has.error();
    }
    (direction == TcDirection::kIngress ? state.ingress : state.egress) = *has;
  }
  return state;
}

}  // namespace podlens
