#include "tcx.hpp"

#include <linux/bpf.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <string>

#include "errors.hpp"

namespace podlens::tcx {
namespace {

// union bpf_attr, link_create member, tcx variant.
struct LinkCreateAttr {
  uint32_t progFd;
  uint32_t targetIfindex;
  uint32_t attachType;
  uint32_t flags;
  uint32_t relativeFdOrId;
  uint32_t pad0;
  uint64_t expectedRevision;
};
static_assert(offsetof(LinkCreateAttr, relativeFdOrId) == 16);
static_assert(offsetof(LinkCreateAttr, expectedRevision) == 24);

// union bpf_attr, query member, with the mprog fields of 6.6.
struct QueryAttr {
  uint32_t targetIfindex;
  uint32_t attachType;
  uint32_t queryFlags;
  uint32_t attachFlags;
  uint64_t progIds;
  uint32_t count;
  uint32_t pad0;
  uint64_t progAttachFlags;
  uint64_t linkIds;
  uint64_t linkAttachFlags;
  uint64_t revision;
};
static_assert(offsetof(QueryAttr, progIds) == 16);
static_assert(offsetof(QueryAttr, count) == 24);
static_assert(offsetof(QueryAttr, revision) == 56);

constexpr uint32_t kMprogMax = 64;  // BPF_MPROG_MAX: programs per tcx chain

long bpfCall(int cmd, void* attr, size_t size) { return syscall(__NR_bpf, cmd, attr, size); }

}  // namespace

int linkCreate(int progFd, uint32_t ifindex, uint32_t attachType, uint32_t flags) {
  LinkCreateAttr attr{};
  attr.progFd = static_cast<uint32_t>(progFd);
  attr.targetIfindex = ifindex;
  attr.attachType = attachType;
  attr.flags = flags;
  long fd = bpfCall(BPF_LINK_CREATE, &attr, sizeof(attr));
  return fd < 0 ? -errno : static_cast<int>(fd);
}

Result<std::vector<uint32_t>> queryProgramIds(uint32_t ifindex, uint32_t attachType) {
  std::vector<uint32_t> ids(kMprogMax);
  QueryAttr attr{};
  attr.targetIfindex = ifindex;
  attr.attachType = attachType;
  attr.progIds = reinterpret_cast<uint64_t>(ids.data());
  attr.count = kMprogMax;
  if (bpfCall(BPF_PROG_QUERY, &attr, sizeof(attr)) != 0) {
    return errnoError("querying the tcx programs of ifindex " + std::to_string(ifindex), errno);
  }
  ids.resize(attr.count < kMprogMax ? attr.count : kMprogMax);
  return ids;
}

}  // namespace podlens::tcx
