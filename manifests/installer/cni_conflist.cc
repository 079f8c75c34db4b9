#include "cni_conflist.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace podlens::install {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

bool endsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool isPodlens(const json& plugin) {
  return plugin.is_object() && plugin.value("type", "") == kPluginType;
}

int versionNumber(const std::string& version) {
  int major = 0, minor = 0, patch = 0;
  std::sscanf(version.c_str(), "%d.%d.%d", &major, &minor, &patch);
  return major * 10000 + minor * 100 + patch;
}

Result<std::string> readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Error{"cannot read " + path};
  }
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Write to a dot-file beside `path` (runtimes skip names without a config extension), fsync,
// rename over `path`.
Status writeAtomically(const std::string& path, const std::string& content, mode_t mode) {
  fs::path target(path);
  std::string temp = (target.parent_path() / ("." + target.filename().string() + ".podlens-tmp"))
                         .string();
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) {
    return Error{"cannot create " + temp + ": " + std::strerror(errno)};
  }
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n <= 0) {
      ::close(fd);
      ::unlink(temp.c_str());
      return Error{"cannot write " + temp + ": " + std::strerror(errno)};
    }
    done += static_cast<size_t>(n);
  }
  ::fchmod(fd, mode);
  bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!synced || ::rename(temp.c_str(), path.c_str()) != 0) {
    ::unlink(temp.c_str());
    return Error{"cannot replace " + path + ": " + std::strerror(errno)};
  }
  return ok();
}

std::vector<std::string> listDir(const std::string& dir) {
  std::vector<std::string> names;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(dir, error)) {
    if (entry.is_regular_file(error)) {
      names.push_back(entry.path().filename().string());
    }
  }
  return names;
}

Result<json> parseConfig(const std::string& path) {
  auto text = readFile(path);
  if (!text) {
    return text.error();
  }
  try {
    json config = json::parse(*text);
    if (!config.is_object()) {
      return Error{path + " is not a JSON object"};
    }
    return config;
  } catch (const json::exception& e) {
    return Error{path + " is not JSON (" + e.what() + "); waiting for the primary CNI to fix it"};
  }
}

}  // namespace

std::optional<std::string> defaultConfigName(std::vector<std::string> names) {
  std::sort(names.begin(), names.end());
  for (const auto& name : names) {
    if (!name.empty() && name[0] != '.' &&
        (endsWith(name, ".conf") || endsWith(name, ".conflist") || endsWith(name, ".json"))) {
      return name;
    }
  }
  return std::nullopt;
}

Result<Edited> insertPlugin(const json& config, const json& entry) {
  if (!isPodlens(entry)) {
    return Error{"the plugin entry must have \"type\": \"podlens-cni\""};
  }
  Edited out;
  if (!config.contains("plugins")) {  // a single-plugin .conf
    if (!config.contains("type")) {
      return Error{"neither a conflist (plugins) nor a single plugin config (type)"};
    }
    json primary = config;
    primary.erase("cniVersion");
    primary.erase("name");
    out.config = {{"cniVersion", config.value("cniVersion", "0.4.0")},
                  {"name", config.value("name", "podlens-chained")},
                  {"plugins", json::array({primary})}};
    out.changed = true;
    out.notes.push_back("converted the single-plugin config into a conflist");
  } else {
    if (!config["plugins"].is_array() || config["plugins"].empty()) {
      return Error{"\"plugins\" is not a non-empty list"};
    }
    out.config = config;
  }
  json& plugins = out.config["plugins"];
  if (isPodlens(plugins[0])) {
    return Error{"podlens-cni is the first plugin: it must follow a primary plugin"};
  }
  auto own = std::find_if(plugins.begin(), plugins.end(), isPodlens);
  if (own == plugins.end()) {
    plugins.push_back(entry);
    out.changed = true;
    out.notes.push_back("appended podlens-cni after " + plugins[0].value("type", "?"));
  } else if (*own != entry) {
    *own = entry;
    out.changed = true;
    out.notes.push_back("updated the podlens-cni entry");
  }
  std::string version = out.config.value("cniVersion", "");
  if (versionNumber(version) < versionNumber("0.3.0")) {
    return Error{"cniVersion \"" + version + "\" of the node's CNI config is older than 0.3.0, "
                 "the oldest podlens-cni speaks; leaving the config unchanged"};
  }
  return out;
}

Edited removePlugin(const json& config) {
  Edited out;
  out.config = config;
  if (!config.contains("plugins") || !config["plugins"].is_array()) {
    return out;
  }
  json kept = json::array();
  for (const auto& plugin : config["plugins"]) {
    if (!isPodlens(plugin)) {
      kept.push_back(plugin);
    }
  }
  if (kept.size() != config["plugins"].size()) {
    out.config["plugins"] = kept;
    out.changed = true;
    out.notes.push_back("removed the podlens-cni entry");
  }
  return out;
}

Result<InstallResult> installIntoDir(const std::string& confDir, const json& entry) {
  InstallResult result;
  auto name = defaultConfigName(listDir(confDir));
  if (!name) {
    return result;  // no network config yet: the primary CNI writes it when it starts
  }
  std::string path = confDir + "/" + *name;
  auto config = parseConfig(path);
  if (!config) {
    return config.error();
  }
  auto edited = insertPlugin(*config, entry);
  if (!edited) {
    return edited.error().context(path);
  }
  result.notes = edited->notes;
  bool wasConf = !config->contains("plugins");
  std::string target = path;
  if (wasConf) {
    target = confDir + "/" + fs::path(*name).stem().string() + ".conflist";
  }
  result.file = target;
  if (!edited->changed) {
    return result;
  }
  struct stat st {};
  mode_t mode = ::stat(path.c_str(), &st) == 0 ? (st.st_mode & 0777) : 0644;
  if (auto status = writeAtomically(target, edited->config.dump(2) + "\n", mode); !status) {
    return status.error();
  }
  if (wasConf && target != path) {
    ::unlink(path.c_str());  // else the .conf stays first and the list is never used
  }
  result.wrote = true;
  return result;
}

Result<InstallResult> uninstallFromDir(const std::string& confDir) {
  InstallResult result;
  for (const auto& name : listDir(confDir)) {
    if (!defaultConfigName({name})) {
      continue;
    }
    std::string path = confDir + "/" + name;
    auto config = parseConfig(path);
    if (!config) {
      continue;  // not ours to judge
    }
    Edited edited = removePlugin(*config);
    if (!edited.changed) {
      continue;
    }
    struct stat st {};
    mode_t mode = ::stat(path.c_str(), &st) == 0 ? (st.st_mode & 0777) : 0644;
    if (auto status = writeAtomically(path, edited.config.dump(2) + "\n", mode); !status) {
      return status.error();
    }
    result.file = path;
    result.wrote = true;
    result.notes.insert(result.notes.end(), edited.notes.begin(), edited.notes.end());
  }
  return result;
}

namespace {

Result<bool> installFile(const std::string& source, const std::string& target, mode_t mode) {
  auto content = readFile(source);
  if (!content) {
    return content.error();
  }
  if (auto existing = readFile(target); existing && *existing == *content) {
    return false;
  }
  if (auto status = writeAtomically(target, *content, mode); !status) {
    return status.error();
  }
  return true;
}

}  // namespace

Result<bool> installBinary(const std::string& source, const std::string& binDir) {
  return installFile(source, binDir + "/" + kPluginType, 0755);
}

Result<bool> installBundle(const std::string& bundleDir, const std::string& binDir) {
  std::string libDir = binDir + "/" + kPluginType + ".d";
  std::error_code error;
  fs::create_directories(libDir, error);
  if (error) {
    return Error{"cannot create " + libDir + ": " + error.message()};
  }
  bool changed = false;
  std::vector<std::string> names = listDir(bundleDir);
  if (std::find(names.begin(), names.end(), kPluginType) == names.end()) {
    return Error{bundleDir + " has no " + kPluginType};
  }
  for (const auto& name : names) {
    auto copied = installFile(bundleDir + "/" + name, libDir + "/" + name, 0755);
    if (!copied) {
      return copied.error();
    }
    changed = changed || *copied;
  }
  // The wrapper runs the plugin with the libraries and loader it was built with, so it works
  // on any node whatever the host has installed. The runtime execs it by its full path.
  const std::string wrapper =
      "#!/bin/sh\n"
      "# Installed by podlens-cni-install: podlens-cni with its own libraries.\n"
      "d=\"$(dirname \"$0\")/" + std::string(kPluginType) + ".d\"\n"
      "exec \"$d/ld-linux-x86-64.so.2\" --library-path \"$d\" \"$d/" + kPluginType + "\" \"$@\"\n";
  std::string target = binDir + "/" + kPluginType;
  if (auto existing = readFile(target); !existing || *existing != wrapper) {
    if (auto status = writeAtomically(target, wrapper, 0755); !status) {
      return status.error();
    }
    changed = true;
  }
  return changed;
}

Status removeBinary(const std::string& binDir) {
  std::string target = binDir + "/" + kPluginType;
  if (::unlink(target.c_str()) != 0 && errno != ENOENT) {
    return Error{"cannot remove " + target + ": " + std::strerror(errno)};
  }
  std::error_code error;
  fs::remove_all(target + ".d", error);
  return ok();
}

}  // namespace podlens::install
