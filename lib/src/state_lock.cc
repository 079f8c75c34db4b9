#include <podlens/state_lock.hpp>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <thread>
#include <utility>

#include "errors.hpp"
#include "unique_fd.hpp"

namespace podlens {
namespace {

constexpr auto kPollInterval = std::chrono::milliseconds(2);

// Whether fd is still the file at path: a holder may have deleted the file (removeFile) between
// our open and our flock, and a lock on a deleted file excludes no one.
bool stillLinked(int fd, const std::string& path) {
  struct stat held {}, named {};
  return fstat(fd, &held) == 0 && stat(path.c_str(), &named) == 0 &&
         held.st_dev == named.st_dev && held.st_ino == named.st_ino;
}

}  // namespace

std::string attachmentLockDir(const std::string& stateDir) { return stateDir + "/locks"; }

std::string attachmentLockPath(const std::string& stateDir, const std::string& attachment) {
  return attachmentLockDir(stateDir) + "/" + attachment + ".lock";
}

Result<std::optional<StateLock>> StateLock::node(const std::string& stateDir, Kind kind,
                                                 std::chrono::milliseconds wait) {
  return acquire(stateDir + "/podlens-cni.lock", kind, wait);
}

Result<std::optional<StateLock>> StateLock::attachment(const std::string& stateDir,
                                                       const std::string& attachment,
                                                       std::chrono::milliseconds wait) {
  return acquire(attachmentLockPath(stateDir, attachment), Kind::kExclusive, wait);
}

Result<std::optional<StateLock>> StateLock::acquire(const std::string& path, Kind kind,
                                                    std::chrono::milliseconds wait) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  const auto deadline = std::chrono::steady_clock::now() + wait;
  const int op = (kind == Kind::kShared ? LOCK_SH : LOCK_EX) | LOCK_NB;
  for (;;) {
    UniqueFd fd(open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    if (!fd.valid()) {
      return errnoError("opening " + path, errno);
    }
    while (flock(fd.get(), op) != 0) {
      if (errno != EWOULDBLOCK && errno != EINTR) {
        return errnoError("locking " + path, errno);
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        return std::optional<StateLock>();
      }
      std::this_thread::sleep_for(kPollInterval);
    }
    if (stillLinked(fd.get(), path)) {
      return std::optional<StateLock>(StateLock(fd.release(), path));
    }
  }
}

StateLock::StateLock(StateLock&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), path_(std::move(other.path_)) {}

StateLock& StateLock::operator=(StateLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) {
      close(fd_);
    }
    fd_ = std::exchange(other.fd_, -1);
    path_ = std::move(other.path_);
  }
  return *this;
}

StateLock::~StateLock() {
  if (fd_ >= 0) {
    close(fd_);
  }
}

}  // namespace podlens
