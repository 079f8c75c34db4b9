// A CNI network for the integration tests: a conflist with a real primary plugin (bridge or ptp)
// + host-local + podlens-cni, a CNI_PATH with Debian's plugins and the built podlens-cni, and
// everything isolated per network: its own name, bridge, subnet, IPAM data, pin root and state
// directory, all removed on destruction.
#pragma once

#include <podlens/pod_record.hpp>

#include <nlohmann/json.hpp>

#include <map>
#include <memory>
#include <string>

#include "scoped.hpp"
#include "shell.hpp"

namespace podlens::test {

enum class Primary { kBridge, kPtp };

struct NetworkOptions {
  Primary primary = Primary::kBridge;
  std::string cniVersion = "1.0.0";
  bool withPodlens = true;
  nlohmann::json podlens = nlohmann::json::object();  // extra podlens-cni conf keys
};

// Where the tools are: PODLENS_CNITOOL / PODLENS_CNI_PLUGIN in the environment, else the paths
// CMake configured. Empty string when cnitool is missing (tests skip, saying how to build it).
std::string cnitoolPath();
std::string pluginPath();

class CniNetwork {
 public:
  explicit CniNetwork(NetworkOptions options = {});
  ~CniNetwork();
  CniNetwork(const CniNetwork&) = delete;
  CniNetwork& operator=(const CniNetwork&) = delete;

  const std::string& name() const { return name_; }
  const std::string& pinRoot() const { return pinRoot_->path(); }
  std::string stateDir() const { return dir_.path() + "/state"; }
  PodRecordStore store() const { return PodRecordStore(stateDir()); }
  std::string gateway() const { return subnetPrefix_ + ".1"; }

  // cnitool <command> <network> <netns path>, with CNI_ARGS when given.
  CommandResult cnitool(const std::string& command, const ScopedNetns& netns,
                        const std::string& cniArgs = "") const;
  // podlens-cni alone, as a runtime would run it: conf (this network's podlens entry, with
  // overrides merged in) on stdin, env as given (CNI_PATH added).
  CommandResult plugin(const std::map<std::string, std::string>& env,
                       const nlohmann::json& overrides = nlohmann::json::object()) const;
  // The podlens-cni entry of the conflist, as its own network configuration.
  nlohmann::json podlensConf() const;
  // The container id cnitool derives from a netns path.
  static std::string containerIdOf(const ScopedNetns& netns);

 private:
  NetworkOptions options_;
  ScopedDir dir_;
  std::unique_ptr<ScopedPinRoot> pinRoot_;
  std::string name_;
  std::string bridge_;
  std::string subnetPrefix_;
};

}  // namespace podlens::test
