// What this kernel offers the data plane, probed at start and logged (design rule 7: probe at
// run time, degrade with a clear log line rather than refuse to start).
#pragma once

#include <string>

namespace podlens::daemon {

struct KernelFeatures {
  std::string release;     // uname -r
  bool btf = false;        // /sys/kernel/btf/vmlinux
  bool ringBuffer = false;  // BPF_MAP_TYPE_RINGBUF (5.8+): the event channel
  bool tcx = false;        // tcx links (6.6+); else clsact + cls_bpf (probed with a program)

  std::string summary() const;
};

// Everything but tcx, which needs a loaded TC program: see podlens::kernelHasTcx.
KernelFeatures probeKernelFeatures();

}  // namespace podlens::daemon
