// Shared checks of the podlens-cni integration tests.
#pragma once

#include <podlens/attach.hpp>
#include <podlens/dataplane.hpp>

#include <gtest/gtest.h>
#include <net/if.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include "support/cni_fixture.hpp"
#include "support/require_root.hpp"

namespace podlens::test {

#define PODLENS_REQUIRE_CNITOOL()                                                       \
  do {                                                                                  \
    PODLENS_REQUIRE_ROOT();                                                             \
    if (cnitoolPath().empty()) {                                                        \
      GTEST_SKIP() << "cnitool not built: run scripts/build-test-tools.sh (or set "     \
                      "PODLENS_CNITOOL)";                                               \
    }                                                                                   \
  } while (0)

inline bool pathExists(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0;
}

// The host-side peer of ifname in netns, as the kernel says (iflink), independent of the plugin.
inline uint32_t hostPeerIfindex(const ScopedNetns& netns, const std::string& ifname = "eth0") {
  auto out = runShell("ip netns exec " + netns.name() + " cat /sys/class/net/" + ifname +
                      "/iflink");
  return out.ok() ? static_cast<uint32_t>(std::stoul(out.out)) : 0;
}

inline std::string ifnameOf(uint32_t ifindex) {
  char name[IF_NAMESIZE] = {};
  return if_indextoname(ifindex, name) ? name : "";
}

// Whether the link is gone within timeout. `ip netns del` returns before the kernel deletes
// the namespace's veth pair: that happens later, in the namespace's cleanup work, which other
// tests deleting namespaces at the same time can hold up.
inline bool linkGoneWithin(uint32_t ifindex, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!ifnameOf(ifindex).empty()) {
    if (std::chrono::steady_clock::now() >= deadline) {
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

inline AttachTarget targetOf(const CniNetwork& net, const std::string& containerId,
                             uint32_t ifindex = 0) {
  return AttachTarget{net.pinRoot(), containerId, "eth0", ifindex};
}

inline AttachedState attachedOn(uint32_t ifindex, AttachMode mode) {
  auto state = queryAttached(ifindex, mode);
  EXPECT_TRUE(state.ok()) << (state ? "" : state.error().message);
  return state ? *state : AttachedState{};
}

// The CNI error code in a plugin's stdout, or -1.
inline int cniErrorCode(const CommandResult& result) {
  auto reply = nlohmann::json::parse(result.out, nullptr, false);
  return reply.is_object() && reply.contains("code") ? reply["code"].get<int>() : -1;
}

}  // namespace podlens::test
