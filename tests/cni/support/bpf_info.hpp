// What the kernel says about podlens' BPF objects, for assertions.
#pragma once

#include <bpf/bpf.h>
#include <unistd.h>

#include <cstdint>
#include <string>

namespace podlens::test {

// The id of the loaded program behind fd, 0 when unknown.
inline uint32_t programId(int fd) {
  bpf_prog_info info{};
  uint32_t len = sizeof(info);
  return bpf_obj_get_info_by_fd(fd, &info, &len) == 0 ? info.id : 0;
}

// The link pinned at pin (zeroed when there is none).
inline bpf_link_info pinnedLinkInfo(const std::string& pin) {
  bpf_link_info info{};
  const int fd = bpf_obj_get(pin.c_str());
  uint32_t len = sizeof(info);
  if (fd >= 0 && bpf_obj_get_info_by_fd(fd, &info, &len) != 0) {
    info = bpf_link_info{};
  }
  if (fd >= 0) {
    close(fd);
  }
  return info;
}

}  // namespace podlens::test
