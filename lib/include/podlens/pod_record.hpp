// Pod identities recorded by podlens-cni for the controller, and the CNI fault counters.
//
// Layout under the state directory (default kDefaultStateDir):
//   <stateDir>/pods/<containerId>-<ifname>.json   one PodRecord per attached pod interface,
//                                                 written atomically (tmp + rename)
//   <stateDir>/cni-faults.json                    {"<reason>": <count>, ...}, updated under
//                                                 flock(<stateDir>/cni-faults.lock)
// The JSON field names are a contract with the controller (docs/cni.md).
#pragma once

#include <podlens/result.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace podlens {

inline constexpr const char* kDefaultStateDir = "/run/podlens";

struct PodRecord {
  std::string containerId;   // "containerId": CNI_CONTAINERID
  std::string ifname;        // "ifname": CNI_IFNAME, the name inside the pod
  std::string namespace_;    // "namespace": K8S_POD_NAMESPACE, else "default"
  std::string name;          // "name": K8S_POD_NAME, else the container id's first 12 chars
  std::string uid;           // "uid": K8S_POD_UID, else ""
  std::string network;       // "network": the CNI network (conflist) name, scope of GC
  std::string netns;         // "netns": CNI_NETNS
  uint32_t hostIfindex = 0;  // "hostIfindex": the host-side veth
  std::string hostIfname;    // "hostIfname"
  std::vector<std::string> ips;  // "ips": addresses with prefix, "10.1.0.2/24"
  std::string attachMode;    // "attachMode": "tcx" | "clsact", how the programs are attached
  // "targetAttachMode": where the attachment should end. ADD attaches through clsact (fast) and
  // asks for "tcx" where the kernel has it; the controller moves it (AttachmentMover). Equal to
  // attachMode when nothing is pending; absent in older records, read as attachMode.
  std::string targetAttachMode;
  bool movePending() const { return targetAttachMode != attachMode; }
  int64_t attachedAtUnix = 0;  // "attachedAtUnix": seconds since the epoch

  bool operator==(const PodRecord&) const = default;
};

// Whether record.hostIfindex still names record.hostIfname. A record outlives its veth when a
// pod went away without CNI DEL (runtime crash), and an ifindex is reused: such a record must
// not be trusted for the device (selected, attached to, detached from).
bool hostVethStillThere(const PodRecord& record);

void to_json(nlohmann::json& json, const PodRecord& record);
// Throws nlohmann::json::exception when a required field (containerId, ifname, hostIfindex,
// attachMode) is missing or mistyped; optional ones default.
void from_json(const nlohmann::json& json, PodRecord& record);

struct PodRecordList {
  std::vector<PodRecord> records;  // sorted by file name
  std::vector<std::string> errors;  // one line per file that could not be read
};

class PodRecordStore {
 public:
  explicit PodRecordStore(std::string stateDir = kDefaultStateDir);

  const std::string& stateDir() const { return stateDir_; }
  std::string recordPath(const std::string& containerId, const std::string& ifname) const;

  Status write(const PodRecord& record) const;
  // nullopt when there is no record; an error when it exists but cannot be read.
  Result<std::optional<PodRecord>> read(const std::string& containerId,
                                        const std::string& ifname) const;
  // Removing a record that does not exist is not an error.
  Status remove(const std::string& containerId, const std::string& ifname) const;
  // Every readable record; never throws.
  PodRecordList list() const;

  // Adds one to the fault counter of reason (a short snake_case word).
  Status recordFault(const std::string& reason) const;
  // The fault counters; empty when none were recorded or the file is unreadable.
  std::map<std::string, uint64_t> readFaults() const;

 private:
  std::string stateDir_;
};

}  // namespace podlens
