#include "kernel_features.hpp"

#include <bpf/libbpf.h>
#include <sys/utsname.h>
#include <unistd.h>


namespace podlens::daemon {

std::string KernelFeatures::summary() const {
  auto yesNo = [](bool v) { return v ? "yes" : "no"; };
  return "kernel " + release + ": ring buffer " + yesNo(ringBuffer) + ", tcx " + yesNo(tcx) +
         (tcx ? "" : " (attaching with clsact + cls_bpf)") + ", BTF " + yesNo(btf);
}

KernelFeatures probeKernelFeatures() {
  KernelFeatures features;
  utsname name{};
  if (uname(&name) == 0) {
    features.release = name.release;
  }
  features.btf = access("/sys/kernel/btf/vmlinux", R_OK) == 0;
  features.ringBuffer = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, nullptr) == 1;
  return features;
}

}  // namespace podlens::daemon
