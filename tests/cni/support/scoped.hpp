// Things the CNI integration tests create, removed on scope exit even when a test fails:
// pin roots on bpffs, temporary directories, network namespaces and veths, each with a name
// unique to the test process so test binaries can run in parallel.
#pragma once

#include <cstdint>
#include <string>

namespace podlens::test {

// A directory removed (recursively) on destruction.
class ScopedDir {
 public:
  // Creates base/<unique name>.
  explicit ScopedDir(const std::string& base = "/tmp", const std::string& prefix = "plt");
  ~ScopedDir();
  ScopedDir(const ScopedDir&) = delete;
  ScopedDir& operator=(const ScopedDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A pin root on bpffs below /sys/fs/bpf, removed with everything pinned in it.
class ScopedPinRoot : public ScopedDir {
 public:
  ScopedPinRoot() : ScopedDir("/sys/fs/bpf", "plt") {}
};

// A network namespace (ip netns), deleted on destruction; its veth ends go with it.
class ScopedNetns {
 public:
  ScopedNetns();
  ~ScopedNetns();
  ScopedNetns(const ScopedNetns&) = delete;
  ScopedNetns& operator=(const ScopedNetns&) = delete;
  const std::string& name() const { return name_; }
  std::string path() const { return "/var/run/netns/" + name_; }

 private:
  std::string name_;
};

// A veth pair in the host namespace, deleted on destruction.
class ScopedVeth {
 public:
  ScopedVeth();
  ~ScopedVeth();
  ScopedVeth(const ScopedVeth&) = delete;
  ScopedVeth& operator=(const ScopedVeth&) = delete;
  const std::string& name() const { return name_; }
  const std::string& peer() const { return peer_; }
  uint32_t ifindex() const;

 private:
  std::string name_;
  std::string peer_;
};

}  // namespace podlens::test
