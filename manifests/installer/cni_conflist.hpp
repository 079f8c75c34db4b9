// Chaining podlens-cni into the node's CNI configuration: the pure edits (tested without a node)
// and the file operations of podlens-cni-install, the DaemonSet's install/repair loop.
//
// The node's network is whatever config the runtime uses: the first .conf/.conflist/.json file
// of the CNI config dir by name (libcni's rule, as containerd and CRI-O apply it). podlens:
//   - appends {"type": "podlens-cni", ...} to that list's plugins (after the primary plugin),
//     or updates its own entry in place when it is already there;
//   - turns a single-plugin .conf into a .conflist of the same base name (the old file removed,
//     so the list is the first file again);
//   - never changes the list's cniVersion: podlens-cni speaks 0.3.0 to 1.1.0 (kindnet writes
//     0.3.1); an older list is refused with an error and left alone;
//   - on uninstall removes its entry and nothing else.
// Writes are atomic (a dot-file in the same dir, fsync, rename): the runtime never reads half
// a file. Nothing is written when the file already says it.
#pragma once

#include <podlens/result.hpp>

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

namespace podlens::install {

inline constexpr const char* kPluginType = "podlens-cni";

// The config file the runtime uses: the first of `names` (sorted) ending in .conf, .conflist
// or .json; nullopt when there is none (the primary CNI has not written its config yet).
std::optional<std::string> defaultConfigName(std::vector<std::string> names);

struct Edited {
  nlohmann::json config;  // always a conflist
  bool changed = false;   // differs from the input (a .conf input is always changed)
  std::vector<std::string> notes;  // what was done, for the log
};

// `entry` is podlens-cni's plugin object (must have "type": "podlens-cni"); `config` a conflist
// or a single-plugin config (no "plugins").
Result<Edited> insertPlugin(const nlohmann::json& config, const nlohmann::json& entry);
Edited removePlugin(const nlohmann::json& config);

// File operations on a CNI config dir.
struct InstallResult {
  std::string file;  // the config file now holding podlens ("" when none yet)
  bool wrote = false;
  std::vector<std::string> notes;
};
Result<InstallResult> installIntoDir(const std::string& confDir, const nlohmann::json& entry);
Result<InstallResult> uninstallFromDir(const std::string& confDir);
// Copies `source` to `binDir`/podlens-cni when the content differs (temp file + rename).
Result<bool> installBinary(const std::string& source, const std::string& binDir);
// The image's self-contained form: `bundleDir` holds podlens-cni, the shared libraries it links
// and ld-linux-x86-64.so.2 (Dockerfile). They go to `binDir`/podlens-cni.d/ and `binDir`/podlens-cni
// becomes a small sh wrapper that runs the plugin with them (hosts need none of its libraries).
Result<bool> installBundle(const std::string& bundleDir, const std::string& binDir);
Status removeBinary(const std::string& binDir);

}  // namespace podlens::install
