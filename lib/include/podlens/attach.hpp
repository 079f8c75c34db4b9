// Attaching the data plane's programs to a pod's host-side veth, and finding them again.
//
// tcx (kernel 6.6+): one BPF link per direction, prepended to the device's tcx chain (podlens only
// observes and returns TCX_NEXT, so going first costs the others nothing and lets podlens see
// packets another program may redirect), pinned at
// <bpffsRoot>/links/<containerId>-<ifname>-ingress|egress (see linkPinPath).
// clsact (older kernels): the clsact qdisc is created only if absent and never deleted; podlens'
// cls_bpf filters carry its own fixed handle and priority, and only those are ever replaced or
// removed.
#pragma once

#include <podlens/result.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace podlens {

enum class AttachMode { kTcx, kClsact };
std::string_view attachModeName(AttachMode mode);  // "tcx" | "clsact"
std::optional<AttachMode> parseAttachMode(std::string_view name);

enum class TcDirection { kIngress, kEgress };
std::string_view tcDirectionName(TcDirection direction);  // "ingress" | "egress"

// podlens' cls_bpf filters in clsact mode: handle 0x504c ("PL"), priority 2 (right after the
// priority 1 conventionally taken by the primary CNI, without sharing a priority with anyone).
inline constexpr uint32_t kClsactHandle = 0x504c;
inline constexpr uint32_t kClsactPriority = 2;

// Whether the running kernel has tcx: BPF_LINK_CREATE with BPF_TCX_INGRESS on ifindex 0 answers
// ENODEV where tcx exists and EINVAL where it does not. tcProgFd is any loaded SCHED_CLS
// program. The answer is cached for the process.
bool kernelHasTcx(int tcProgFd);

// One pod interface's attachment point.
struct AttachTarget {
  std::string bpffsRoot;    // pin root (links/ lives below it)
  std::string containerId;  // CNI_CONTAINERID
  std::string ifname;       // CNI_IFNAME (the name inside the pod)
  uint32_t ifindex = 0;     // host-side veth; 0 when unknown or gone
};

// "<containerId>-<ifname>": the name of an attachment in pins and state files.
std::string attachmentName(const std::string& containerId, const std::string& ifname);
// <bpffsRoot>/links/<containerId>-<ifname>-ingress|egress, every '.' written as ':' (bpffs
// refuses dots in names; neither a valid container id nor an ifname holds a ':').
std::string linkPinPath(const AttachTarget& target, TcDirection direction);

// Attaches ingressProgFd and egressProgFd to target.ifindex. Re-attaching replaces podlens'
// own earlier attachment of the same target (a retried ADD), never anyone else's.
Status attachPrograms(const AttachTarget& target, AttachMode mode, int ingressProgFd,
                      int egressProgFd);

// Moves target's attachment from clsact to tcx without a gap: the tcx links first (for a
// moment every packet passes both copies of the program; the second sees the same sequence
// numbers as a retransmission and counts nothing twice), then podlens' cls_bpf filters go.
// When a tcx link cannot be made the clsact filters stay and the links made are removed.
Status moveClsactToTcx(const AttachTarget& target, int ingressProgFd, int egressProgFd);

// Points target's attachment (as `mode` says it is attached) at other programs, without a
// moment unobserved: tcx links are updated in place (BPF_LINK_UPDATE; a missing link pin is
// created), clsact filters replaced. For a data plane replaced by another build's.
Status repointAttachment(const AttachTarget& target, AttachMode mode, int ingressProgFd,
                         int egressProgFd);
// Updates every tcx link pinned under <bpffsRoot>/links to the program of its direction,
// records or not. Returns how many were updated.
Result<size_t> repointLinkPins(const std::string& bpffsRoot, int ingressProgFd,
                               int egressProgFd);

// Removes exactly podlens' attachments of target: the pinned tcx links (detached, then
// unpinned), and when target.ifindex != 0 the cls_bpf filters with podlens' handle and
// priority. What is already gone (device, filter, pin) is not an error.
Status detachPrograms(const AttachTarget& target);

// Detaches the tcx link pinned at pinPath and removes the pin (for pins found by listing
// <root>/links). A missing pin is not an error.
Status detachLinkPin(const std::string& pinPath);

struct AttachedState {
  bool ingress = false;
  bool egress = false;
  bool both() const { return ingress && egress; }
};

// Whether a podlens program (podlens_ingress on ingress, podlens_egress on egress, by name) is
// attached to ifindex in each direction: BPF_PROG_QUERY for tcx, the clsact filter with podlens'
// handle and priority for clsact.
Result<AttachedState> queryAttached(uint32_t ifindex, AttachMode mode);

}  // namespace podlens
