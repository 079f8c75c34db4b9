#include "scoped.hpp"

#include <net/if.h>

#include <filesystem>
#include <stdexcept>
#include <system_error>

#include "shell.hpp"

namespace podlens::test {

ScopedDir::ScopedDir(const std::string& base, const std::string& prefix)
    : path_(base + "/" + uniqueName(prefix)) {
  std::filesystem::create_directories(path_);
}

ScopedDir::~ScopedDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

ScopedNetns::ScopedNetns() : name_(uniqueName("plns")) {
  auto made = runShell("ip netns add " + name_);
  if (!made.ok()) {
    throw std::runtime_error("ip netns add " + name_ + ": " + made.err);
  }
}

ScopedNetns::~ScopedNetns() { runShell("ip netns del " + name_); }

ScopedVeth::ScopedVeth() : name_(uniqueName("plva")), peer_(uniqueName("plvb")) {
  auto made = runShell("ip link add " + name_ + " type veth peer name " + peer_ + " && ip link set " +
                       name_ + " up && ip link set " + peer_ + " up");
  if (!made.ok()) {
    throw std::runtime_error("creating veth " + name_ + ": " + made.err);
  }
}

ScopedVeth::~ScopedVeth() { runShell("ip link del " + name_ + " 2>/dev/null"); }

uint32_t ScopedVeth::ifindex() const { return if_nametoindex(name_.c_str()); }

}  // namespace podlens::test
