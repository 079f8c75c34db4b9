#include "cni_fixture.hpp"

#include <openssl/evp.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <sstream>

namespace podlens::test {
namespace {

std::string envOr(const char* name, const std::string& fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : fallback;
}

// 100.64.0.0/10 (shared address space): never a real destination from a test machine.
std::string uniqueSubnetPrefix() {
  static std::atomic<int> counter{0};
  const int k = (getpid() * 7 + counter++ * 131) % (64 * 256);
  return "100." + std::to_string(64 + k / 256) + "." + std::to_string(k % 256);
}

nlohmann::json primaryPlugin(Primary primary, const std::string& bridge,
                             const std::string& prefix, const std::string& ipamDir) {
  nlohmann::json ipam = {{"type", "host-local"},
                         {"subnet", prefix + ".0/24"},
                         {"dataDir", ipamDir}};
  if (primary == Primary::kBridge) {
    return {{"type", "bridge"}, {"bridge", bridge}, {"isGateway", true}, {"ipMasq", false},
            {"ipam", ipam}};
  }
  return {{"type", "ptp"}, {"ipMasq", false}, {"ipam", ipam}};
}

}  // namespace

std::string cnitoolPath() {
  const std::string path = envOr("PODLENS_CNITOOL", PODLENS_CNITOOL_DEFAULT);
  return access(path.c_str(), X_OK) == 0 ? path : "";
}

std::string pluginPath() { return envOr("PODLENS_CNI_PLUGIN", PODLENS_CNI_PLUGIN_DEFAULT); }

CniNetwork::CniNetwork(NetworkOptions options)
    : options_(std::move(options)),
      pinRoot_(std::make_unique<ScopedPinRoot>()),
      name_(uniqueName("pln")),
      bridge_(uniqueName("plbr")),
      subnetPrefix_(uniqueSubnetPrefix()) {
  runShell("mkdir -p " + dir_.path() + "/net " + dir_.path() + "/bin && ln -sf /usr/lib/cni/* " +
           dir_.path() + "/bin/ && ln -sf " + pluginPath() + " " + dir_.path() + "/bin/");
  nlohmann::json plugins = nlohmann::json::array();
  plugins.push_back(primaryPlugin(options_.primary, bridge_, subnetPrefix_, dir_.path() + "/ipam"));
  if (options_.withPodlens) {
    plugins.push_back(podlensConf());
  }
  nlohmann::json conflist = {
      {"cniVersion", options_.cniVersion}, {"name", name_}, {"plugins", plugins}};
  std::ofstream(dir_.path() + "/net/" + name_ + ".conflist") << conflist.dump(2);
}

CniNetwork::~CniNetwork() {
  if (options_.primary == Primary::kBridge) {
    runShell("ip link del " + bridge_ + " 2>/dev/null");
  }
  runShell("rm -f /var/lib/cni/results/" + name_ + "-*");
}

nlohmann::json CniNetwork::podlensConf() const {
  nlohmann::json conf = {{"type", "podlens-cni"},
                         {"bpffsRoot", pinRoot_->path()},
                         {"stateDir", dir_.path() + "/state"},
                         {"logFile", dir_.path() + "/podlens-cni.log"},
                         {"logLevel", "debug"}};
  if (options_.podlens.is_object()) {
    conf.update(options_.podlens);
  }
  return conf;
}

CommandResult CniNetwork::cnitool(const std::string& command, const ScopedNetns& netns,
                                  const std::string& cniArgs) const {
  std::map<std::string, std::string> env{{"NETCONFPATH", dir_.path() + "/net"},
                                         {"CNI_PATH", dir_.path() + "/bin"}};
  if (!cniArgs.empty()) {
    env["CNI_ARGS"] = cniArgs;
  }
  return runShell(cnitoolPath() + " " + command + " " + name_ + " " + netns.path(), "", env);
}

CommandResult CniNetwork::plugin(const std::map<std::string, std::string>& env,
                                 const nlohmann::json& overrides) const {
  nlohmann::json conf = podlensConf();
  conf["cniVersion"] = options_.cniVersion;
  conf["name"] = name_;
  conf.update(overrides);
  auto fullEnv = env;
  fullEnv.emplace("CNI_PATH", dir_.path() + "/bin");
  // The plugin must not inherit a CNI_* variable of the test's own environment.
  std::string unset;
  for (const char* var : {"CNI_COMMAND", "CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME",
                          "CNI_ARGS"}) {
    if (fullEnv.count(var) == 0) {
      unset += std::string("unset ") + var + "; ";
    }
  }
  return runShell(unset + pluginPath(), conf.dump(), fullEnv);
}

std::string CniNetwork::containerIdOf(const ScopedNetns& netns) {
  const std::string path = netns.path();
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(path.data(), path.size(), digest, &size, EVP_sha512(), nullptr);
  std::ostringstream id;
  id << "cnitool-";
  for (int i = 0; i < 10; ++i) {
    id << std::hex << std::setw(2) << std::setfill('0') << static_cast<int>(digest[i]);
  }
  return id.str();
}

}  // namespace podlens::test
