// The CNI protocol as podlens-cni speaks it: environment, network configuration on stdin,
// CNI_ARGS, results and error JSON (CNI spec 0.3.x, 0.4.0, 1.0.0, 1.1.0). Pure logic: no I/O, no root.
#pragma once

#include <podlens/result.hpp>

#include <nlohmann/json.hpp>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

namespace podlens::cni {

// CNI error codes (spec) and podlens-cni's own (100+).
enum ErrorCode : int {
  kIncompatibleVersion = 1,
  kUnsupportedField = 2,
  kInvalidEnvironment = 4,
  kDecodeFailure = 6,
  kInvalidConfig = 7,
  kTryAgain = 11,
  kPluginNotAvailable = 50,
  kInternal = 100,
  kVethNotFound = 101,
  kAttachmentMissing = 102,
  kDataPlaneUnavailable = 103,
  kAttachFailed = 104,
  kStateFailed = 105,
  kDetachFailed = 106,
};

inline constexpr const char* kLatestVersion = "1.1.0";
const std::vector<std::string>& supportedVersions();  // "0.3.0" ... "1.1.0"
bool versionSupported(std::string_view version);
bool versionAtLeast(std::string_view version, std::string_view minimum);

enum class Command { kAdd, kDel, kCheck, kVersion, kStatus, kGc };
std::optional<Command> parseCommand(std::string_view name);

// The CNI_* environment of one invocation.
struct Environment {
  Command command = Command::kVersion;
  std::string containerId;
  std::string netns;
  std::string ifname;
  std::string args;  // CNI_ARGS, raw
  std::string path;  // CNI_PATH
};

// Reads and validates the environment for its command: code 4 when a variable the command needs
// is missing or invalid. getenv is injected so tests need no process environment.
using Getenv = std::function<std::optional<std::string>(const char*)>;
Result<Environment> parseEnvironment(const Getenv& getenv);

// Pod identity from CNI_ARGS (K8S_POD_NAMESPACE, K8S_POD_NAME, K8S_POD_UID); unknown keys and
// malformed pairs are ignored. Absent: namespace "default", name = the container id's first 12
// characters, uid "".
struct PodIdentity {
  std::string namespace_;
  std::string name;
  std::string uid;
};
PodIdentity parsePodIdentity(const std::string& cniArgs, const std::string& containerId);

enum class FailPolicy { kOpen, kClosed };
enum class AttachChoice { kAuto, kTcx, kClsact };

// A (containerID, ifname) pair of cni.dev/valid-attachments (GC).
struct AttachmentId {
  std::string containerId;
  std::string ifname;
  bool operator<(const AttachmentId& o) const {
    return std::tie(containerId, ifname) < std::tie(o.containerId, o.ifname);
  }
};

// The network configuration on stdin. Unknown keys are ignored.
struct PluginConfig {
  std::string cniVersion;
  std::string name;
  std::string type;
  FailPolicy failPolicy = FailPolicy::kOpen;
  std::string bpffsRoot = "/sys/fs/bpf/podlens";
  std::string stateDir = "/run/podlens";
  std::string logFile;           // empty: stderr
  std::string logLevel = "info";  // trace|debug|info|warn|error|critical|off
  AttachChoice attachMode = AttachChoice::kAuto;
  std::optional<nlohmann::json> prevResult;
  std::vector<AttachmentId> validAttachments;  // GC only
};

// Code 6 when stdin is not a JSON object; 7 (naming the key) for a missing or mistyped key;
// 1 for a cniVersion this plugin does not support. For VERSION only cniVersion is read.
Result<PluginConfig> parseConfig(std::string_view stdinText, Command command);

// The version a reply should carry: the config's when it is supported, else the latest.
std::string replyVersion(std::string_view stdinText);

// {"cniVersion", "code", "msg", "details"}
nlohmann::json errorJson(const Error& error, const std::string& cniVersion);
// VERSION's reply.
nlohmann::json versionJson();
// ADD's reply: prevResult unchanged, in the config's cniVersion (a bare result without one).
nlohmann::json addResultJson(const PluginConfig& config);

// Addresses (with prefix) of prevResult.ips; those of the interface named ifname when the
// result says which interface an address belongs to.
std::vector<std::string> podAddresses(const nlohmann::json& prevResult, const std::string& ifname);

// Cross-check of the host-side veth found through netlink with prevResult.interfaces: a
// description of the disagreement, or nullopt when the result confirms it or says nothing.
std::optional<std::string> crossCheckInterfaces(const nlohmann::json& prevResult,
                                                const std::string& ifname,
                                                const std::string& hostIfname);

}  // namespace podlens::cni
