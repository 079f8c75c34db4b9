#include "netlink.hpp"

#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "cni_protocol.hpp"

namespace podlens::cni {
namespace {

struct LinkAttrs {
  uint32_t ifindex = 0;
  std::string name;
  std::string kind;  // IFLA_INFO_KIND: "veth", "bridge", ...
  uint32_t peerIfindex = 0;  // IFLA_LINK
  bool peerInOtherNetns = false;  // IFLA_LINK_NETNSID present
};

Error notFound(const std::string& message) { return Error{message, kVethNotFound}; }

Error sysError(const std::string& what) {
  return notFound(what + ": " + std::strerror(errno));
}

class NetlinkSocket {
 public:
  NetlinkSocket() : fd_(socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE)) {}
  ~NetlinkSocket() {
    if (fd_ >= 0) {
      close(fd_);
    }
  }
  NetlinkSocket(const NetlinkSocket&) = delete;
  NetlinkSocket& operator=(const NetlinkSocket&) = delete;
  int fd() const { return fd_; }

 private:
  int fd_;
};

void parseLinkInfo(const rtattr* nested, LinkAttrs& link) {
  int len = RTA_PAYLOAD(nested);
  for (auto* a = static_cast<const rtattr*>(RTA_DATA(nested)); RTA_OK(a, len);
       a = RTA_NEXT(a, len)) {
    if (a->rta_type == IFLA_INFO_KIND) {
      link.kind.assign(static_cast<const char*>(RTA_DATA(a)), strnlen(static_cast<const char*>(
                                                                  RTA_DATA(a)), RTA_PAYLOAD(a)));
    }
  }
}

LinkAttrs parseLink(const nlmsghdr* nh) {
  LinkAttrs link;
  const auto* ifi = static_cast<const ifinfomsg*>(NLMSG_DATA(nh));
  link.ifindex = static_cast<uint32_t>(ifi->ifi_index);
  int len = IFLA_PAYLOAD(nh);
  for (const rtattr* a = IFLA_RTA(ifi); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
    switch (a->rta_type) {
      case IFLA_IFNAME:
        link.name = static_cast<const char*>(RTA_DATA(a));
        break;
      case IFLA_LINK:
        std::memcpy(&link.peerIfindex, RTA_DATA(a), sizeof(uint32_t));
        break;
      case IFLA_LINK_NETNSID:
        link.peerInOtherNetns = true;
        break;
      case IFLA_LINKINFO:
        parseLinkInfo(a, link);
        break;
      default:
        break;
    }
  }
  return link;
}

// RTM_GETLINK for one link, by ifindex or (ifindex 0) by name.
Result<LinkAttrs> getLink(const NetlinkSocket& sock, uint32_t ifindex, const std::string& name) {
  struct {
    nlmsghdr nh;
    ifinfomsg ifi;
    char attrs[RTA_SPACE(IFNAMSIZ)];
  } req{};
  req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(ifinfomsg));
  req.nh.nlmsg_type = RTM_GETLINK;
  req.nh.nlmsg_flags = NLM_F_REQUEST;
  req.nh.nlmsg_seq = 1;
  req.ifi.ifi_family = AF_UNSPEC;
  req.ifi.ifi_index = static_cast<int>(ifindex);
  if (ifindex == 0) {
    auto* attr = reinterpret_cast<rtattr*>(reinterpret_cast<char*>(&req) + req.nh.nlmsg_len);
    attr->rta_type = IFLA_IFNAME;
    attr->rta_len = RTA_LENGTH(name.size() + 1);
    std::memcpy(RTA_DATA(attr), name.c_str(), name.size() + 1);
    req.nh.nlmsg_len = NLMSG_ALIGN(req.nh.nlmsg_len) + RTA_ALIGN(attr->rta_len);
  }
  const std::string what = ifindex == 0 ? "link " + name : "ifindex " + std::to_string(ifindex);
  if (sock.fd() < 0 || send(sock.fd(), &req, req.nh.nlmsg_len, 0) < 0) {
    return sysError("asking rtnetlink for " + what);
  }
  alignas(nlmsghdr) char buf[16384];
  ssize_t n = recv(sock.fd(), buf, sizeof(buf), 0);
  if (n < 0) {
    return sysError("reading rtnetlink's answer for " + what);
  }
  int len = static_cast<int>(n);
  for (auto* nh = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(nh, len); nh = NLMSG_NEXT(nh, len)) {
    if (nh->nlmsg_type == NLMSG_ERROR) {
      const int err = -static_cast<const nlmsgerr*>(NLMSG_DATA(nh))->error;
      return notFound("no " + what + ": " + std::strerror(err));
    }
    if (nh->nlmsg_type == RTM_NEWLINK) {
      return parseLink(nh);
    }
  }
  return notFound("rtnetlink gave no answer for " + what);
}

// Looks up ifname inside the netns at netnsPath, from a thread that alone enters it.
Result<LinkAttrs> podSideLink(const std::string& netnsPath, const std::string& ifname) {
  Result<LinkAttrs> out = notFound("netns thread did not run");
  std::thread worker([&] {
    int nsFd = open(netnsPath.c_str(), O_RDONLY | O_CLOEXEC);
    if (nsFd < 0) {
      out = sysError("opening netns " + netnsPath);
      return;
    }
    const int entered = setns(nsFd, CLONE_NEWNET);
    close(nsFd);
    if (entered != 0) {
      out = sysError("entering netns " + netnsPath);
      return;
    }
    NetlinkSocket sock;  // created inside the pod's netns, so it speaks for it
    out = getLink(sock, 0, ifname);
  });
  worker.join();
  return out;
}

}  // namespace

Result<HostVeth> findHostVeth(const std::string& netnsPath, const std::string& ifname) {
  auto pod = podSideLink(netnsPath, ifname);
  if (!pod) {
    return pod.error().context("finding " + ifname + " in " + netnsPath);
  }
  if (pod->kind != "veth" || pod->peerIfindex == 0 || !pod->peerInOtherNetns) {
    return notFound(ifname + " in " + netnsPath + " is " +
                    (pod->kind.empty() ? "a link without kind" : "a " + pod->kind) +
                    (pod->kind == "veth" ? " whose peer is not in another netns" : "") +
                    ", not a veth to the host: podlens observes veth-based pods only");
  }
  NetlinkSocket sock;
  auto host = getLink(sock, pod->peerIfindex, "");
  if (!host) {
    return host.error().context("finding the host side of " + ifname);
  }
  if (host->kind != "veth" || host->peerIfindex != pod->ifindex || !host->peerInOtherNetns) {
    return notFound("ifindex " + std::to_string(pod->peerIfindex) + " (" + host->name +
                    ") in this netns is not the veth peer of " + ifname + " in " + netnsPath +
                    ": is podlens-cni running in the netns the primary plugin wired?");
  }
  return HostVeth{host->ifindex, host->name, pod->ifindex};
}

}  // namespace podlens::cni
