// Finding a pod's host-side veth through rtnetlink: the peer ifindex of CNI_IFNAME is read
// inside the pod's netns (from a helper thread that alone enters it), then the link with that
// ifindex is looked up, and checked, in the plugin's own (host) netns. No assumption about the
// primary plugin: bridge, ptp and any other veth-based CNI look the same from here.
#pragma once

#include <podlens/result.hpp>

#include <cstdint>
#include <string>

namespace podlens::cni {

struct HostVeth {
  uint32_t ifindex = 0;        // host side
  std::string name;            // host side
  uint32_t podIfindex = 0;     // the pod side, inside its netns
};

// Code 101 (veth not found) when the netns or interface is missing or is not one end of a veth
// whose other end lives in this netns.
Result<HostVeth> findHostVeth(const std::string& netnsPath, const std::string& ifname);

}  // namespace podlens::cni
