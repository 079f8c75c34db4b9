// bpffs mounting and the pin root (see the pin layout in dataplane.hpp).
#include <podlens/dataplane.hpp>

#include <sys/mount.h>
#include <sys/statfs.h>

#include <cerrno>
#include <filesystem>
#include <system_error>

#include "errors.hpp"

namespace podlens {
namespace {

constexpr long kBpfFsMagic = 0xcafe4a11;
constexpr const char* kSysBpffs = "/sys/fs/bpf";

bool onBpffs(const std::string& path) {
  struct statfs st {};
  return statfs(path.c_str(), &st) == 0 && static_cast<long>(st.f_type) == kBpfFsMagic;
}

Status makeDirs(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) {
    return Error{"creating directory " + path + ": " + ec.message()};
  }
  return ok();
}

}  // namespace

std::string dataplanePinDir(const std::string& bpffsRoot) { return bpffsRoot + "/dataplane"; }
std::string linksPinDir(const std::string& bpffsRoot) { return bpffsRoot + "/links"; }

Status ensureBpffs(const std::string& mountPoint) {
  if (onBpffs(mountPoint)) {
    return ok();
  }
  if (auto made = makeDirs(mountPoint); !made) {
    return made.error();
  }
  if (mount("bpf", mountPoint.c_str(), "bpf", 0, "mode=0700") != 0 && errno != EBUSY) {
    return errnoError("mounting bpffs at " + mountPoint + " (needs CAP_SYS_ADMIN)", errno);
  }
  if (!onBpffs(mountPoint)) {
    return Error{mountPoint + " is not a bpffs after mounting it"};
  }
  return ok();
}

Status ensurePinRoot(const std::string& bpffsRoot) {
  const std::string sys = kSysBpffs;
  if (bpffsRoot.rfind(sys + "/", 0) == 0 || bpffsRoot == sys) {
    if (auto mounted = ensureBpffs(sys); !mounted) {
      return mounted.error();
    }
  }
  if (auto made = makeDirs(linksPinDir(bpffsRoot)); !made) {
    return made.error();
  }
  if (!onBpffs(bpffsRoot)) {
    return Error{"pin root " + bpffsRoot +
                 " is not on a bpffs: mount one (mount -t bpf bpf DIR) or point bpffsRoot "
                 "below /sys/fs/bpf"};
  }
  return ok();
}

}  // namespace podlens
