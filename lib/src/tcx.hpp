// Private to lib/: the kernel's tcx interface through raw bpf(2), since the distribution's
// libbpf (1.1) and UAPI header predate it (libbpf 1.3, kernel 6.6). Layouts follow
// include/uapi/linux/bpf.h of 6.6+; the constants are append-only kernel ABI.
#pragma once

#include <podlens/result.hpp>

#include <cstdint>
#include <vector>

namespace podlens::tcx {

inline constexpr uint32_t kAttachIngress = 46;  // BPF_TCX_INGRESS
inline constexpr uint32_t kAttachEgress = 47;   // BPF_TCX_EGRESS
inline constexpr uint32_t kFlagBefore = 1u << 3;  // BPF_F_BEFORE: no relative object = head

// BPF_LINK_CREATE: returns the link fd, or -errno.
int linkCreate(int progFd, uint32_t ifindex, uint32_t attachType, uint32_t flags);
// BPF_PROG_QUERY: ids of the programs on ifindex's tcx chain, in run order.
Result<std::vector<uint32_t>> queryProgramIds(uint32_t ifindex, uint32_t attachType);

}  // namespace podlens::tcx
