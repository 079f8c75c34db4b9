#include "cni_protocol.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>

namespace podlens::cni {
namespace {

using nlohmann::json;

Error cniError(int code, std::string message) { return Error{std::move(message), code}; }

std::optional<std::string> required(const Getenv& getenv, const char* name) {
  auto value = getenv(name);
  if (!value || value->empty()) {
    return std::nullopt;
  }
  return value;
}

// CNI spec: a container id starts with an alphanumeric and holds alphanumerics, '_', '.', '-'.
bool validContainerId(const std::string& id) {
  if (id.empty() || !std::isalnum(static_cast<unsigned char>(id[0]))) {
    return false;
  }
  return std::all_of(id.begin(), id.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '_' || c == '.' || c == '-';
  });
}

// CNI spec: at most 15 bytes, not "." or "..", no '/', ':' or white space.
bool validIfname(const std::string& name) {
  if (name.empty() || name.size() > 15 || name == "." || name == "..") {
    return false;
  }
  return std::none_of(name.begin(), name.end(), [](unsigned char c) {
    return c == '/' || c == ':' || std::isspace(c);
  });
}

struct CommandNeeds {
  bool containerId;
  bool netns;
  bool ifname;
  bool path;
};

CommandNeeds needsOf(Command command) {
  switch (command) {
    case Command::kAdd:
    case Command::kCheck:
      return {true, true, true, true};
    case Command::kDel:
      return {true, false, true, true};  // the netns may be gone already
    default:
      return {false, false, false, false};
  }
}

Result<std::string> stringKey(const json& conf, const char* key, bool mandatory,
                              const std::string& fallback) {
  auto it = conf.find(key);
  if (it == conf.end() || it->is_null()) {
    if (mandatory) {
      return cniError(kInvalidConfig, std::string("network configuration: \"") + key +
                                          "\" is required");
    }
    return fallback;
  }
  if (!it->is_string() || (mandatory && it->get<std::string>().empty())) {
    return cniError(kInvalidConfig, std::string("network configuration: \"") + key +
                                        "\" must be a non-empty string");
  }
  return it->get<std::string>();
}

template <typename T>
Result<T> enumKey(const json& conf, const char* key, const std::map<std::string, T>& values,
                  T fallback) {
  if (auto it = conf.find(key); it == conf.end() || it->is_null()) {
    return fallback;
  }
  auto text = stringKey(conf, key, false, "");
  if (!text) {
    return text.error();
  }
  auto found = values.find(*text);
  if (found == values.end()) {
    std::string allowed;
    for (const auto& [name, value] : values) {
      allowed += (allowed.empty() ? "" : ", ") + name;
    }
    return cniError(kInvalidConfig, std::string("network configuration: \"") + key + "\" is \"" +
                                        *text + "\"; expected one of " + allowed);
  }
  return found->second;
}

Result<std::string> absolutePathKey(const json& conf, const char* key,
                                    const std::string& fallback) {
  auto path = stringKey(conf, key, false, fallback);
  if (path && (path->empty() || (*path)[0] != '/')) {
    return cniError(kInvalidConfig, std::string("network configuration: \"") + key +
                                        "\" must be an absolute path");
  }
  return path;
}

Result<std::vector<AttachmentId>> validAttachments(const json& conf) {
  std::vector<AttachmentId> out;
  auto it = conf.find("cni.dev/valid-attachments");
  if (it == conf.end() || it->is_null()) {
    return out;
  }
  const Error bad = cniError(kInvalidConfig,
                             "network configuration: \"cni.dev/valid-attachments\" must be an "
                             "array of {\"containerID\", \"ifname\"} objects");
  if (!it->is_array()) {
    return bad;
  }
  for (const auto& entry : *it) {
    if (!entry.is_object() || !entry.value("containerID", json()).is_string() ||
        !entry.value("ifname", json()).is_string()) {
      return bad;
    }
    out.push_back({entry["containerID"].get<std::string>(), entry["ifname"].get<std::string>()});
  }
  return out;
}

Result<std::string> checkedVersion(const json& conf) {
  auto version = stringKey(conf, "cniVersion", true, "");
  if (!version) {
    return version.error();
  }
  if (!versionSupported(*version)) {
    return cniError(kIncompatibleVersion, "cniVersion \"" + *version +
                                              "\" is not supported; podlens-cni supports "
                                              "0.3.0, 0.3.1, 0.4.0, 1.0.0 and 1.1.0");
  }
  return version;
}

Status readPodlensKeys(const json& conf, PluginConfig& config) {
  auto failPolicy = enumKey<FailPolicy>(
      conf, "failPolicy", {{"open", FailPolicy::kOpen}, {"closed", FailPolicy::kClosed}},
      FailPolicy::kOpen);
  auto attachMode = enumKey<AttachChoice>(conf, "attachMode",
                                          {{"auto", AttachChoice::kAuto},
                                           {"tcx", AttachChoice::kTcx},
                                           {"clsact", AttachChoice::kClsact}},
                                          AttachChoice::kAuto);
  auto logLevel = enumKey<std::string>(
      conf, "logLevel",
      {{"trace", "trace"}, {"debug", "debug"}, {"info", "info"}, {"warn", "warn"},
       {"error", "error"}, {"critical", "critical"}, {"off", "off"}},
      config.logLevel);
  auto bpffsRoot = absolutePathKey(conf, "bpffsRoot", config.bpffsRoot);
  auto stateDir = absolutePathKey(conf, "stateDir", config.stateDir);
  auto logFile = stringKey(conf, "logFile", false, "");
  for (const Error* e : {failPolicy ? nullptr : &failPolicy.error(),
                         attachMode ? nullptr : &attachMode.error(),
                         logLevel ? nullptr : &logLevel.error(),
                         bpffsRoot ? nullptr : &bpffsRoot.error(),
                         stateDir ? nullptr : &stateDir.error(),
                         logFile ? nullptr : &logFile.error()}) {
    if (e != nullptr) {
      return *e;
    }
  }
  config.failPolicy = *failPolicy;
  config.attachMode = *attachMode;
  config.logLevel = *logLevel;
  config.bpffsRoot = *bpffsRoot;
  config.stateDir = *stateDir;
  config.logFile = *logFile;
  return ok();
}

}  // namespace

const std::vector<std::string>& supportedVersions() {
  // 0.3.x too: kindnet and older primaries still write 0.3.1, and a chained plugin speaks
  // the version of the list it is in.
  static const std::vector<std::string> versions{"0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"};
  return versions;
}

bool versionSupported(std::string_view version) {
  const auto& all = supportedVersions();
  return std::find(all.begin(), all.end(), version) != all.end();
}

bool versionAtLeast(std::string_view version, std::string_view minimum) {
  int a[3] = {0, 0, 0}, b[3] = {0, 0, 0};
  std::sscanf(std::string(version).c_str(), "%d.%d.%d", &a[0], &a[1], &a[2]);
  std::sscanf(std::string(minimum).c_str(), "%d.%d.%d", &b[0], &b[1], &b[2]);
  return std::lexicographical_compare(b, b + 3, a, a + 3) ||
         std::equal(a, a + 3, b);
}

std::optional<Command> parseCommand(std::string_view name) {
  static const std::map<std::string_view, Command> commands{
      {"ADD", Command::kAdd},         {"DEL", Command::kDel},       {"CHECK", Command::kCheck},
      {"VERSION", Command::kVersion}, {"STATUS", Command::kStatus}, {"GC", Command::kGc}};
  auto it = commands.find(name);
  return it == commands.end() ? std::nullopt : std::optional<Command>(it->second);
}

Result<Environment> parseEnvironment(const Getenv& getenv) {
  auto commandName = required(getenv, "CNI_COMMAND");
  if (!commandName) {
    return cniError(kInvalidEnvironment, "CNI_COMMAND is not set");
  }
  auto command = parseCommand(*commandName);
  if (!command) {
    return cniError(kInvalidEnvironment, "CNI_COMMAND \"" + *commandName +
                                             "\" is not one of ADD, DEL, CHECK, VERSION, "
                                             "STATUS, GC");
  }
  Environment env;
  env.command = *command;
  const CommandNeeds needs = needsOf(*command);
  const std::pair<const char*, std::string*> vars[] = {
      {"CNI_CONTAINERID", &env.containerId}, {"CNI_NETNS", &env.netns},
      {"CNI_IFNAME", &env.ifname}, {"CNI_PATH", &env.path}};
  const bool need[] = {needs.containerId, needs.netns, needs.ifname, needs.path};
  for (size_t i = 0; i < 4; ++i) {
    auto value = required(getenv, vars[i].first);
    if (!value && need[i]) {
      return cniError(kInvalidEnvironment,
                      std::string(vars[i].first) + " is required for " + *commandName);
    }
    *vars[i].second = value.value_or("");
  }
  env.args = getenv("CNI_ARGS").value_or("");
  if (needs.containerId && !validContainerId(env.containerId)) {
    return cniError(kInvalidEnvironment, "CNI_CONTAINERID \"" + env.containerId +
                                             "\" is invalid: alphanumerics, '_', '.', '-', "
                                             "starting with an alphanumeric");
  }
  if (needs.ifname && !validIfname(env.ifname)) {
    return cniError(kInvalidEnvironment, "CNI_IFNAME \"" + env.ifname + "\" is invalid");
  }
  return env;
}

PodIdentity parsePodIdentity(const std::string& cniArgs, const std::string& containerId) {
  PodIdentity identity{"default", containerId.substr(0, 12), ""};
  size_t start = 0;
  while (start <= cniArgs.size()) {
    size_t end = cniArgs.find(';', start);
    const std::string pair = cniArgs.substr(start, end == std::string::npos ? end : end - start);
    const size_t eq = pair.find('=');
    if (eq != std::string::npos && eq > 0 && eq + 1 < pair.size()) {
      const std::string key = pair.substr(0, eq), value = pair.substr(eq + 1);
      if (key == "K8S_POD_NAMESPACE") {
        identity.namespace_ = value;
      } else if (key == "K8S_POD_NAME") {
        identity.name = value;
      } else if (key == "K8S_POD_UID") {
        identity.uid = value;
      }
    }
    if (end == std::string::npos) {
      break;
    }
    start = end + 1;
  }
  return identity;
}

Result<PluginConfig> parseConfig(std::string_view stdinText, Command command) {
  json conf = json::parse(stdinText, nullptr, false);
  if (conf.is_discarded() || !conf.is_object()) {
    return cniError(kDecodeFailure, "the network configuration on stdin is not a JSON object");
  }
  PluginConfig config;
  auto version = checkedVersion(conf);
  if (!version) {
    return version.error();
  }
  config.cniVersion = *version;
  if (command == Command::kVersion) {
    return config;
  }
  if (command == Command::kCheck && !versionAtLeast(config.cniVersion, "0.4.0")) {
    return cniError(kIncompatibleVersion,
                    "cniVersion " + config.cniVersion + " has no CHECK (0.4.0 and later)");
  }
  if ((command == Command::kStatus || command == Command::kGc) &&
      !versionAtLeast(config.cniVersion, "1.1.0")) {
    return cniError(kIncompatibleVersion, "cniVersion " + config.cniVersion + " has no " +
                                              (command == Command::kGc ? "GC" : "STATUS") +
                                              " (1.1.0 and later)");
  }
  auto name = stringKey(conf, "name", true, "");
  auto type = stringKey(conf, "type", true, "");
  if (!name || !type) {
    return name ? type.error() : name.error();
  }
  config.name = *name;
  config.type = *type;
  if (auto keys = readPodlensKeys(conf, config); !keys) {
    return keys.error();
  }
  if (auto it = conf.find("prevResult"); it != conf.end() && !it->is_null()) {
    if (!it->is_object()) {
      return cniError(kInvalidConfig, "network configuration: \"prevResult\" must be an object");
    }
    config.prevResult = *it;
  }
  auto valid = validAttachments(conf);
  if (!valid) {
    return valid.error();
  }
  config.validAttachments = std::move(valid).value();
  return config;
}

std::string replyVersion(std::string_view stdinText) {
  json conf = json::parse(stdinText, nullptr, false);
  if (conf.is_object()) {
    auto it = conf.find("cniVersion");
    if (it != conf.end() && it->is_string() && versionSupported(it->get<std::string>())) {
      return it->get<std::string>();
    }
  }
  return kLatestVersion;
}

json errorJson(const Error& error, const std::string& cniVersion) {
  const int code = error.code == 0 ? kInternal : error.code;
  return json{{"cniVersion", cniVersion}, {"code", code}, {"msg", error.message},
              {"details", ""}};
}

json versionJson() {
  return json{{"cniVersion", kLatestVersion}, {"supportedVersions", supportedVersions()}};
}

json addResultJson(const PluginConfig& config) {
  json result = config.prevResult.value_or(json::object());
  result["cniVersion"] = config.cniVersion;
  return result;
}

std::vector<std::string> podAddresses(const json& prevResult, const std::string& ifname) {
  std::optional<size_t> podIndex;
  const json interfaces = prevResult.value("interfaces", json::array());
  for (size_t i = 0; interfaces.is_array() && i < interfaces.size(); ++i) {
    if (interfaces[i].is_object() && interfaces[i].value("name", "") == ifname &&
        !interfaces[i].value("sandbox", "").empty()) {
      podIndex = i;
    }
  }
  std::vector<std::string> out;
  const json ips = prevResult.value("ips", json::array());
  for (const auto& ip : ips.is_array() ? ips : json::array()) {
    if (!ip.is_object() || !ip.value("address", json()).is_string()) {
      continue;
    }
    auto iface = ip.find("interface");
    if (podIndex && iface != ip.end() && iface->is_number_unsigned() &&
        iface->get<size_t>() != *podIndex) {
      continue;
    }
    out.push_back(ip["address"].get<std::string>());
  }
  return out;
}

std::optional<std::string> crossCheckInterfaces(const json& prevResult, const std::string& ifname,
                                                const std::string& hostIfname) {
  const json interfaces = prevResult.value("interfaces", json::array());
  if (!interfaces.is_array() || interfaces.empty()) {
    return std::nullopt;
  }
  bool podSide = false, hostSide = false;
  std::string hostNames;
  for (const auto& iface : interfaces) {
    if (!iface.is_object()) {
      continue;
    }
    const std::string name = iface.value("name", "");
    if (!iface.value("sandbox", "").empty()) {
      podSide = podSide || name == ifname;
    } else {
      hostSide = hostSide || name == hostIfname;
      hostNames += (hostNames.empty() ? "" : ", ") + name;
    }
  }
  if (!podSide) {
    return "prevResult.interfaces lists no interface \"" + ifname + "\" inside the sandbox";
  }
  if (!hostSide && !hostNames.empty()) {
    return "prevResult.interfaces lists host interfaces " + hostNames + " but not the veth " +
           hostIfname + " that netlink names as the peer of " + ifname;
  }
  return std::nullopt;
}

}  // namespace podlens::cni
