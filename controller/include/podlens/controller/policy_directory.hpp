// Standalone mode's policy source: a directory of *.yaml, *.yml and *.json files, rescanned
// cheaply (the daemon may call scan() every second).
//
// Rules:
//   - Non-recursive. Names starting with '.' are skipped (so a ConfigMap mount's "..data"
//     and "..2024_..." entries are), symlinks are followed (a ConfigMap's "web.yaml ->
//     ..data/web.yaml" is read), anything that is not a regular file after that is skipped.
//   - Change detection: (mtime, size) unchanged → the file is not read; changed → it is read
//     and hashed; same hash → not parsed again.
//   - A file that fails to parse keeps its last good content in effect and reports its errors
//     on every scan until fixed (a new file that was never good contributes nothing).
//   - A deleted file removes its objects.
//   - The same TelemetryPolicy (namespace/name) or Pod in two files: the file first in name
//     order wins, the other's copy is ignored and reported naming both files.
#pragma once

#include <podlens/controller/policy.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace podlens::controller {

struct PolicySnapshot {
  std::vector<TelemetryPolicy> policies;  // in effect, sorted by namespace/name
  std::vector<PodLabels> pods;            // in effect, sorted by namespace/name
  std::vector<std::string> errors;        // every current problem, one line each
  // Bumped whenever policies, pods or errors differ from the previous scan.
  uint64_t generation = 0;
  bool changed = false;  // this scan bumped generation
};

class PolicyDirectory {
 public:
  explicit PolicyDirectory(std::string dir);

  // Reads what changed since the last call; returns the whole current state.
  PolicySnapshot scan();
  const std::string& dir() const { return dir_; }

 private:
  struct FileState {
    int64_t mtimeNs = -1;
    int64_t size = -1;
    uint64_t hash = 0;
    bool parsed = false;              // hash is of content that was parsed
    ParsedFile good;                  // last content that parsed without error
    std::vector<std::string> errors;  // errors of the current content
  };

  bool refreshFile(const std::string& name, FileState& state);
  PolicySnapshot assemble() const;

  std::string dir_;
  std::map<std::string, FileState> files_;  // by file name (sorted: "first file wins")
  std::vector<std::string> dirErrors_;
  PolicySnapshot last_;
};

}  // namespace podlens::controller
