#include <podlens/pod_record.hpp>

#include <fcntl.h>
#include <net/if.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>
#include <thread>

#include "errors.hpp"
#include "unique_fd.hpp"

namespace podlens {
namespace {

namespace fs = std::filesystem;

Status makeDirs(const std::string& path) {
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec) {
    return Error{"creating directory " + path + ": " + ec.message()};
  }
  return ok();
}

Status writeAll(int fd, const std::string& data, const std::string& path) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      return errnoError("writing " + path, errno);
    }
    done += static_cast<size_t>(n);
  }
  return ok();
}

// Readers see the old content or the new, never a part: tmp file, then rename. No fsync: the
// state is per boot (the default /run/podlens is a tmpfs on nodes; the pods it describes do not
// survive a reboot either), and on a disk it cost ADD 0.3 ms for durability nobody reads.
Status writeFileAtomic(const std::string& path, const std::string& data) {
  std::ostringstream tmp;
  tmp << path << ".tmp-" << getpid() << "-" << std::this_thread::get_id();
  UniqueFd fd(open(tmp.str().c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd.valid()) {
    return errnoError("creating " + tmp.str(), errno);
  }
  Status written = writeAll(fd.get(), data, tmp.str());
  fd.reset();
  if (written && rename(tmp.str().c_str(), path.c_str()) != 0) {
    written = errnoError("renaming " + tmp.str() + " to " + path, errno);
  }
  if (!written) {
    unlink(tmp.str().c_str());
  }
  return written;
}

Result<std::string> readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return errnoError("opening " + path, errno);
  }
  std::ostringstream content;
  content << in.rdbuf();
  if (in.bad()) {
    return Error{"reading " + path};
  }
  return content.str();
}

Result<PodRecord> parseRecord(const std::string& path) {
  auto text = readFile(path);
  if (!text) {
    return text.error();
  }
  try {
    return nlohmann::json::parse(*text).get<PodRecord>();
  } catch (const nlohmann::json::exception& e) {
    return Error{"parsing pod record " + path + ": " + e.what()};
  }
}

template <typename T>
void optionalField(const nlohmann::json& json, const char* key, T& out) {
  if (auto it = json.find(key); it != json.end() && !it->is_null()) {
    it->get_to(out);
  }
}

}  // namespace

bool hostVethStillThere(const PodRecord& record) {
  char name[IF_NAMESIZE] = {};
  return if_indextoname(record.hostIfindex, name) != nullptr && record.hostIfname == name;
}

void to_json(nlohmann::json& json, const PodRecord& r) {
  json = nlohmann::json{{"containerId", r.containerId}, {"ifname", r.ifname},
                        {"namespace", r.namespace_},    {"name", r.name},
                        {"uid", r.uid},                 {"network", r.network},
                        {"netns", r.netns},             {"hostIfindex", r.hostIfindex},
                        {"hostIfname", r.hostIfname},   {"ips", r.ips},
                        {"attachMode", r.attachMode},   {"targetAttachMode", r.targetAttachMode},
                        {"attachedAtUnix", r.attachedAtUnix}};
}

void from_json(const nlohmann::json& json, PodRecord& r) {
  json.at("containerId").get_to(r.containerId);
  json.at("ifname").get_to(r.ifname);
  json.at("hostIfindex").get_to(r.hostIfindex);
  json.at("attachMode").get_to(r.attachMode);
  optionalField(json, "namespace", r.namespace_);
  optionalField(json, "name", r.name);
  optionalField(json, "uid", r.uid);
  optionalField(json, "network", r.network);
  optionalField(json, "netns", r.netns);
  optionalField(json, "hostIfname", r.hostIfname);
  optionalField(json, "ips", r.ips);
  optionalField(json, "attachedAtUnix", r.attachedAtUnix);
  r.targetAttachMode = r.attachMode;  // records of older plugins: where they are is final
  optionalField(json, "targetAttachMode", r.targetAttachMode);
}

PodRecordStore::PodRecordStore(std::string stateDir) : stateDir_(std::move(stateDir)) {}

std::string PodRecordStore::recordPath(const std::string& containerId,
                                       const std::string& ifname) const {
  return stateDir_ + "/pods/" + containerId + "-" + ifname + ".json";
}

Status PodRecordStore::write(const PodRecord& record) const {
  if (auto made = makeDirs(stateDir_ + "/pods"); !made) {
    return made.error();
  }
  return writeFileAtomic(recordPath(record.containerId, record.ifname),
                         nlohmann::json(record).dump(2) + "\n");
}

Result<std::optional<PodRecord>> PodRecordStore::read(const std::string& containerId,
                                                      const std::string& ifname) const {
  const std::string path = recordPath(containerId, ifname);
  if (access(path.c_str(), F_OK) != 0) {
    return std::optional<PodRecord>{};
  }
  auto record = parseRecord(path);
  if (!record) {
    return record.error();
  }
  return std::optional<PodRecord>{std::move(record).value()};
}

Status PodRecordStore::remove(const std::string& containerId, const std::string& ifname) const {
  const std::string path = recordPath(containerId, ifname);
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    return errnoError("removing pod record " + path, errno);
  }
  return ok();
}

PodRecordList PodRecordStore::list() const {
  PodRecordList out;
  std::vector<std::string> paths;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(stateDir_ + "/pods", ec)) {
    const std::string path = entry.path().string();
    if (entry.path().extension() == ".json") {  // skips tmp files of writers in flight
      paths.push_back(path);
    }
  }
  std::sort(paths.begin(), paths.end());
  for (const auto& path : paths) {
    auto record = parseRecord(path);
    if (record) {
      out.records.push_back(std::move(record).value());
    } else {
      out.errors.push_back(record.error().message);
    }
  }
  return out;
}

Status PodRecordStore::recordFault(const std::string& reason) const {
  if (auto made = makeDirs(stateDir_); !made) {
    return made.error();
  }
  const std::string lockPath = stateDir_ + "/cni-faults.lock";
  UniqueFd lock(open(lockPath.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!lock.valid()) {
    return errnoError("opening " + lockPath, errno);
  }
  while (flock(lock.get(), LOCK_EX) != 0) {
    if (errno != EINTR) {
      return errnoError("locking " + lockPath, errno);
    }
  }
  std::map<std::string, uint64_t> faults = readFaults();
  ++faults[reason];
  return writeFileAtomic(stateDir_ + "/cni-faults.json", nlohmann::json(faults).dump(2) + "\n");
}

std::map<std::string, uint64_t> PodRecordStore::readFaults() const {
  auto text = readFile(stateDir_ + "/cni-faults.json");
  if (!text) {
    return {};
  }
  try {
    return nlohmann::json::parse(*text).get<std::map<std::string, uint64_t>>();
  } catch (const nlohmann::json::exception&) {
    return {};
  }
}

}  // namespace podlens
