#include <podlens/controller/policy_directory.hpp>

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

namespace podlens::controller {
namespace {

bool hasPolicyExtension(const std::string& name) {
  for (std::string_view ext : {".yaml", ".yml", ".json"}) {
    if (name.size() > ext.size() && name.ends_with(ext)) {
      return true;
    }
  }
  return false;
}

uint64_t fnv1a64(std::string_view data) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : data) {
    h = (h ^ c) * 1099511628211ull;
  }
  return h;
}

// Keeps the first object of each key in file order; later copies are reported.
template <typename T>
void addUnique(std::map<std::string, const T*>& seen, const T& object, std::string_view kind,
               std::vector<T>& out, std::vector<std::string>& errors) {
  auto [it, inserted] = seen.emplace(object.key(), &object);
  if (inserted) {
    out.push_back(object);
    return;
  }
  errors.push_back(object.source + ": " + std::string(kind) + " " + object.key() +
                   " is also defined in " + it->second->source + ", which wins; ignored");
}

}  // namespace

PolicyDirectory::PolicyDirectory(std::string dir) : dir_(std::move(dir)) {}

// Re-reads one file if its metadata or content changed. Returns true if its state changed.
bool PolicyDirectory::refreshFile(const std::string& name, FileState& state) {
  std::string path = dir_ + "/" + name;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return false;  // vanished between readdir and stat: the next scan removes it
  }
  int64_t mtimeNs = int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  if (mtimeNs == state.mtimeNs && st.st_size == state.size) {
    return false;
  }
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in) {
    std::vector<std::string> errors = {name + ": cannot read: " + std::strerror(errno)};
    bool changed = errors != state.errors;
    state.errors = std::move(errors);
    return changed;
  }
  state.mtimeNs = mtimeNs;
  state.size = st.st_size;
  std::string content = text.str();
  uint64_t hash = fnv1a64(content);
  if (state.parsed && hash == state.hash) {
    return false;  // touched, or rewritten with the same bytes
  }
  state.parsed = true;
  state.hash = hash;
  ParsedFile parsed = parsePolicyText(content, name);
  state.errors = parsed.errors;
  if (parsed.ok()) {
    state.good = std::move(parsed);
  }
  return true;
}

PolicySnapshot PolicyDirectory::scan() {
  std::vector<std::string> names;
  std::vector<std::string> dirErrors;
  if (DIR* d = ::opendir(dir_.c_str())) {
    while (dirent* entry = ::readdir(d)) {
      std::string name = entry->d_name;
      if (name.empty() || name[0] == '.' || !hasPolicyExtension(name)) {
        continue;
      }
      struct stat st {};
      if (::stat((dir_ + "/" + name).c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
        names.push_back(std::move(name));
      }
    }
    ::closedir(d);
  } else {
    // Keep what is in effect: a directory briefly missing (a volume being swapped) must
    // not unselect every pod.
    dirErrors.push_back(dir_ + ": cannot read the policy directory: " + std::strerror(errno));
    names.clear();
    for (const auto& [name, state] : files_) {
      names.push_back(name);
    }
  }
  std::sort(names.begin(), names.end());

  bool changed = dirErrors != dirErrors_;
  dirErrors_ = std::move(dirErrors);
  std::map<std::string, FileState> next;
  for (const std::string& name : names) {
    auto old = files_.find(name);
    FileState state = old != files_.end() ? std::move(old->second) : FileState{};
    changed |= old == files_.end();
    if (dirErrors_.empty()) {
      changed |= refreshFile(name, state);
    }
    next.emplace(name, std::move(state));
  }
  changed |= next.size() != files_.size();
  files_ = std::move(next);

  if (changed) {
    PolicySnapshot snapshot = assemble();
    snapshot.generation = last_.generation + 1;
    last_ = std::move(snapshot);
  }
  PolicySnapshot out = last_;
  out.changed = changed;
  return out;
}

PolicySnapshot PolicyDirectory::assemble() const {
  PolicySnapshot out;
  out.errors = dirErrors_;
  std::map<std::string, const TelemetryPolicy*> policies;
  std::map<std::string, const PodLabels*> pods;
  for (const auto& [name, state] : files_) {
    out.errors.insert(out.errors.end(), state.errors.begin(), state.errors.end());
    size_t kept = state.good.policies.size() + state.good.pods.size();
    if (!state.errors.empty() && kept > 0) {
      out.errors.push_back(name + ": rejected; its last valid content (" + std::to_string(kept) +
                           " objects) stays in effect");
    }
    for (const TelemetryPolicy& p : state.good.policies) {
      addUnique(policies, p, "TelemetryPolicy", out.policies, out.errors);
    }
    for (const PodLabels& p : state.good.pods) {
      addUnique(pods, p, "Pod", out.pods, out.errors);
    }
  }
  auto byKey = [](const auto& a, const auto& b) {
    return std::tie(a.namespace_, a.name) < std::tie(b.namespace_, b.name);
  };
  std::sort(out.policies.begin(), out.policies.end(), byKey);
  std::sort(out.pods.begin(), out.pods.end(), byKey);
  return out;
}

}  // namespace podlens::controller
