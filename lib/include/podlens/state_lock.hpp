// Advisory locks of the state directory, shared by podlens-cni and the controller.
//
//   <stateDir>/podlens-cni.lock             node-wide: ADD, DEL, CHECK and the controller's
//                                           attachment moves hold it shared (different pods go
//                                           on in parallel); GC holds it exclusive (it decides
//                                           what is stale).
//   <stateDir>/locks/<containerId>-<ifname>.lock
//                                           one attachment: held exclusive by whoever changes
//                                           that attachment (its ADD, DEL or CHECK, or the
//                                           controller moving it from clsact to tcx), always
//                                           after the node-wide lock.
// flock(2) locks: a crashed holder releases them with its last descriptor.
#pragma once

#include <podlens/result.hpp>

#include <chrono>
#include <optional>
#include <string>

namespace podlens {

// <stateDir>/locks/<attachment>.lock. DEL and GC delete it with the attachment (DEL while
// holding it); whoever waited on the deleted file notices and takes a fresh one.
std::string attachmentLockPath(const std::string& stateDir, const std::string& attachment);
std::string attachmentLockDir(const std::string& stateDir);  // <stateDir>/locks

class StateLock {
 public:
  enum class Kind { kShared, kExclusive };

  // The node-wide lock. Waits up to `wait` (zero: one try); nullopt when others still hold it.
  static Result<std::optional<StateLock>> node(const std::string& stateDir, Kind kind,
                                               std::chrono::milliseconds wait);
  // The exclusive lock of one attachment (attachmentName(containerId, ifname)), same waiting.
  static Result<std::optional<StateLock>> attachment(const std::string& stateDir,
                                                     const std::string& attachment,
                                                     std::chrono::milliseconds wait);

  StateLock(StateLock&& other) noexcept;
  StateLock& operator=(StateLock&& other) noexcept;
  StateLock(const StateLock&) = delete;
  StateLock& operator=(const StateLock&) = delete;
  ~StateLock();

 private:
  StateLock(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  static Result<std::optional<StateLock>> acquire(const std::string& path, Kind kind,
                                                  std::chrono::milliseconds wait);

  int fd_ = -1;
  std::string path_;
};

}  // namespace podlens
