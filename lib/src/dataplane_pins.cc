// Pinned data plane: open the pins, or load the embedded object and publish it atomically.
#include <podlens/dataplane.hpp>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include "errors.hpp"
#include "podlens_tc.skel.h"
#include "unique_fd.hpp"

namespace podlens {
namespace {

constexpr const char* kIngressPin = "prog_ingress";
constexpr const char* kEgressPin = "prog_egress";
constexpr const char* kSweepPin = "prog_sweep";

// What a pinned map must look like to be this build's.
struct MapShape {
  const char* name;
  uint32_t type;
  uint32_t keySize;
  uint32_t valueSize;
  uint32_t maxEntries;  // 0: any (sized at load time)
};

constexpr MapShape kSelectors{"pl_selectors", BPF_MAP_TYPE_HASH, sizeof(podlens_selector_key),
                              sizeof(podlens_selector_value), 0};
constexpr MapShape kPorts{"pl_ports", BPF_MAP_TYPE_ARRAY, sizeof(uint32_t),
                          sizeof(podlens_port_filter), 1};
constexpr MapShape kConns{"pl_conns", BPF_MAP_TYPE_ARRAY, sizeof(uint32_t),
                          sizeof(podlens_conn_slot), 0};
constexpr MapShape kEvents{"pl_events", BPF_MAP_TYPE_RINGBUF, 0, 0, 0};
constexpr MapShape kLosses{"pl_losses", BPF_MAP_TYPE_PERCPU_ARRAY, sizeof(uint32_t),
                           sizeof(uint64_t), PODLENS_LOSS__COUNT};
constexpr MapShape kMemos{"pl_memos", BPF_MAP_TYPE_PERCPU_ARRAY, sizeof(uint32_t),
                          sizeof(podlens_header_memo), PODLENS_MEMO_SLOTS};
constexpr MapShape kTail{"pl_tail", BPF_MAP_TYPE_PROG_ARRAY, sizeof(uint32_t), sizeof(uint32_t),
                         1};
// The programs' read-only data, frozen at load: the section .rodata, whose globals
// (pl_conn_set_mask, pl_conn_hash_seed, pl_abi_version) are where the skeleton's struct has
// them, and the constants of the code after them.
using Rodata = std::remove_pointer_t<decltype(podlens_tc::rodata)>;
constexpr const char* kRodataPin = "rodata";

constexpr const char* kIncompatible =
    " (the pins come from a podlens build with another ABI: podlens-controller of this build "
    "replaces them when it starts)";

// The pinned object at path and its bpf_map_info / bpf_prog_info.
template <typename Info>
Result<std::pair<UniqueFd, Info>> openPin(const std::string& path) {
  UniqueFd fd(bpf_obj_get(path.c_str()));
  if (!fd.valid()) {
    return errnoError("opening pinned object " + path, errno);
  }
  Info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd.get(), &info, &len) != 0) {
    return errnoError("reading the info of " + path, errno);
  }
  return std::make_pair(std::move(fd), info);
}

bool exists(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0;
}

Result<UniqueFd> openPinnedMap(const std::string& dir, const MapShape& shape) {
  const std::string path = dir + "/" + shape.name;
  auto pin = openPin<bpf_map_info>(path);
  if (!pin && !exists(path)) {
    return Error{"no pinned map " + path + kIncompatible, kPinsOfAnotherAbi};
  }
  if (!pin) {
    return pin.error();
  }
  const bpf_map_info& info = pin->second;
  if (info.type != shape.type || info.key_size != shape.keySize ||
      info.value_size != shape.valueSize ||
      (shape.maxEntries != 0 && info.max_entries != shape.maxEntries)) {
    return Error{"pinned map " + path + " has type " + std::to_string(info.type) + ", key " +
                 std::to_string(info.key_size) + " B, value " + std::to_string(info.value_size) +
                 " B, " + std::to_string(info.max_entries) + " entries; this build expects type " +
                 std::to_string(shape.type) + ", key " + std::to_string(shape.keySize) +
                 " B, value " + std::to_string(shape.valueSize) + " B" + kIncompatible,
                 kPinsOfAnotherAbi};
  }
  return std::move(pin->first);
}

Result<UniqueFd> openPinnedProgram(const std::string& dir, const char* name,
                                   const std::string& expectedName) {
  const std::string path = dir + "/" + name;
  auto pin = openPin<bpf_prog_info>(path);
  if (!pin) {
    return pin.error();
  }
  const bpf_prog_info& info = pin->second;
  if (info.type != BPF_PROG_TYPE_SCHED_CLS || expectedName != info.name) {
    return Error{"pinned program " + path + " is '" + info.name + "' of type " +
                 std::to_string(info.type) + ", expected " + expectedName + kIncompatible,
                 kPinsOfAnotherAbi};
  }
  return std::move(pin->first);
}

void removeTree(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}

// bpffs refuses names with a dot, so the staging directory is "staging-<pid>", not hidden.
constexpr const char* kStagingPrefix = "staging-";

// Leftovers of a loader that died between pinning and rename(). Called under the root lock.
void removeStaleStaging(const std::string& root) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(root, ec)) {
    if (entry.path().filename().string().rfind(kStagingPrefix, 0) == 0) {
      removeTree(entry.path().string());
    }
  }
}

// flock() on the root directory: serialises loaders of every process on the node.
Result<UniqueFd> lockRoot(const std::string& root) {
  UniqueFd fd(open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) {
    return errnoError("opening pin root " + root, errno);
  }
  while (flock(fd.get(), LOCK_EX) != 0) {
    if (errno != EINTR) {
      return errnoError("locking pin root " + root, errno);
    }
  }
  return fd;
}

// A map's pin: its name, but for libbpf's maps of a section ("podlens_.rodata": the object's
// name, cut short, then the section's), pinned by the section alone ("rodata"), since bpffs
// refuses dots in names.
std::string pinName(const bpf_map* map) {
  std::string name = bpf_map__name(map);
  if (const size_t dot = name.find('.'); dot != std::string::npos) {
    name.erase(0, dot + 1);
  }
  std::replace(name.begin(), name.end(), '.', '_');
  return name;
}

// The pinned programs' read-only globals (pl_conn_hash_seed, pl_abi_version, ...) as they
// were loaded; pins of another ABI when the value is too small for this build's globals or
// its pl_abi_version is not this build's.
Result<Rodata> readPinnedGlobals(const std::string& dir) {
  const std::string path = dir + "/" + kRodataPin;
  auto pin = openPin<bpf_map_info>(path);
  if (!pin) {
    return exists(path) ? pin.error()
                        : Error{"no pinned map " + path + kIncompatible, kPinsOfAnotherAbi};
  }
  const bpf_map_info& info = pin->second;
  if (info.type != BPF_MAP_TYPE_ARRAY || info.key_size != sizeof(uint32_t) ||
      info.value_size < sizeof(Rodata) || info.max_entries != 1) {
    return Error{"pinned map " + path + " has type " + std::to_string(info.type) + ", value " +
                     std::to_string(info.value_size) + " B; this build expects an array of one " +
                     "value of at least " + std::to_string(sizeof(Rodata)) + " B" + kIncompatible,
                 kPinsOfAnotherAbi};
  }
  std::vector<unsigned char> value(info.value_size);
  const uint32_t zero = 0;
  if (bpf_map_lookup_elem(pin->first.get(), &zero, value.data()) != 0) {
    return errnoError("reading " + path, errno);
  }
  Rodata globals{};
  std::memcpy(&globals, value.data(), sizeof(globals));
  if (globals.pl_abi_version != PODLENS_ABI_VERSION) {
    return Error{"the pinned programs under " + dir + " are of ABI version " +
                     std::to_string(globals.pl_abi_version) + ", this build's are of " +
                     std::to_string(PODLENS_ABI_VERSION) + kIncompatible,
                 kPinsOfAnotherAbi};
  }
  return globals;
}

}  // namespace

Result<std::unique_ptr<DataPlane>> DataPlane::openPinned(const std::string& bpffsRoot) {
  const std::string dir = dataplanePinDir(bpffsRoot);
  std::vector<UniqueFd> held;
  auto take = [&held](Result<UniqueFd> fd, int* slot) -> Status {
    if (!fd) {
      return fd.error();
    }
    *slot = fd->get();
    held.push_back(std::move(fd.value()));
    return ok();
  };
  Fds fds;
  Status steps[] = {
      take(openPinnedProgram(dir, kIngressPin, "podlens_ingress"), &fds.ingress),
      take(openPinnedProgram(dir, kEgressPin, "podlens_egress"), &fds.egress),
      take(openPinnedProgram(dir, kSweepPin, "podlens_sweep"), &fds.sweep),
      take(openPinnedMap(dir, kSelectors), &fds.selectors),
      take(openPinnedMap(dir, kPorts), &fds.ports),
      take(openPinnedMap(dir, kConns), &fds.conns),
      take(openPinnedMap(dir, kEvents), &fds.events),
      take(openPinnedMap(dir, kLosses), &fds.losses),
      take(openPinnedMap(dir, kTail), &fds.tail),
      take(openPinnedMap(dir, kMemos), &fds.memos),
  };
  for (const auto& step : steps) {
    if (!step) {
      return step.error();
    }
  }
  auto globals = readPinnedGlobals(dir);
  if (!globals) {
    return globals.error();
  }
  for (auto& fd : held) {
    fd.release();  // now owned by the DataPlane
  }
  std::unique_ptr<DataPlane> plane(new DataPlane(nullptr, fds, true));
  plane->connHashSeed_ = globals->pl_conn_hash_seed;
  return plane;
}

Status DataPlane::pinAll(const std::string& dir) const {
  if (skeleton_ == nullptr) {
    return Error{"pinning " + dir + ": this data plane was opened from pins, not loaded"};
  }
  if (bpf_obj_pin(fds_.ingress, (dir + "/" + kIngressPin).c_str()) != 0 ||
      bpf_obj_pin(fds_.egress, (dir + "/" + kEgressPin).c_str()) != 0 ||
      bpf_obj_pin(fds_.sweep, (dir + "/" + kSweepPin).c_str()) != 0) {
    return errnoError("pinning the programs in " + dir, errno);
  }
  bpf_map* map = nullptr;
  bpf_object__for_each_map(map, skeleton_->obj) {
    const std::string path = dir + "/" + pinName(map);
    if (bpf_obj_pin(bpf_map__fd(map), path.c_str()) != 0) {
      return errnoError("pinning map " + path, errno);
    }
  }
  return ok();
}

Result<std::unique_ptr<DataPlane>> DataPlane::openOrLoadPinned(const std::string& bpffsRoot,
                                                               const DataPlaneOptions& options,
                                                               bool* loadedNow) {
  if (loadedNow != nullptr) {
    *loadedNow = false;
  }
  const std::string published = dataplanePinDir(bpffsRoot);
  if (exists(published)) {  // published by rename(): whole or absent, no lock needed to read
    return openPinned(bpffsRoot);
  }
  auto lock = lockRoot(bpffsRoot);
  if (!lock) {
    return lock.error();
  }
  if (exists(published)) {  // another loader won the race
    return openPinned(bpffsRoot);
  }
  removeStaleStaging(bpffsRoot);
  auto plane = load(options);
  if (!plane) {
    return plane.error();
  }
  const std::string staging = bpffsRoot + "/" + kStagingPrefix + std::to_string(getpid());
  if (mkdir(staging.c_str(), 0700) != 0) {
    return errnoError("creating " + staging, errno);
  }
  Status pinned = (*plane)->pinAll(staging);
  if (pinned && rename(staging.c_str(), published.c_str()) != 0) {
    pinned = errnoError("publishing " + staging + " as " + published, errno);
  }
  if (!pinned) {
    removeTree(staging);
    return pinned.error().context("pinning the data plane under " + bpffsRoot);
  }
  if (loadedNow != nullptr) {
    *loadedNow = true;
  }
  return plane;
}

Status DataPlane::replacePinned(const std::string& bpffsRoot, const DataPlane& fresh,
                                const std::function<Status()>& repoint) {
  auto lock = lockRoot(bpffsRoot);
  if (!lock) {
    return lock.error();
  }
  removeStaleStaging(bpffsRoot);
  const std::string suffix = std::to_string(getpid());
  const std::string staging = bpffsRoot + "/" + kStagingPrefix + suffix;
  const std::string retired = bpffsRoot + "/" + kStagingPrefix + "retired-" + suffix;
  const std::string published = dataplanePinDir(bpffsRoot);
  if (mkdir(staging.c_str(), 0700) != 0) {
    return errnoError("creating " + staging, errno);
  }
  Status done = fresh.pinAll(staging);
  if (done) {
    done = repoint();
  }
  if (done && exists(published) && rename(published.c_str(), retired.c_str()) != 0) {
    done = errnoError("retiring " + published, errno);
  }
  if (done && rename(staging.c_str(), published.c_str()) != 0) {
    done = errnoError("publishing " + staging + " as " + published, errno);
    rename(retired.c_str(), published.c_str());  // put the old ones back
  }
  removeTree(staging);
  removeTree(retired);
  return done ? done : Status(done.error().context("replacing the data plane under " + bpffsRoot));
}

Result<std::string> DataPlane::programTags() const {
  std::string tags;
  for (int fd : {fds_.ingress, fds_.egress}) {
    bpf_prog_info info{};
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) {
      return errnoError("reading a program's info", errno);
    }
    char hex[2 * sizeof(info.tag) + 2];
    for (size_t i = 0; i < sizeof(info.tag); ++i) {
      snprintf(hex + 2 * i, 3, "%02x", info.tag[i]);
    }
    tags += std::string(hex, 2 * sizeof(info.tag)) + (fd == fds_.ingress ? "/" : "");
  }
  return tags;
}

}  // namespace podlens
