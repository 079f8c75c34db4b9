#include "attachment_mover.hpp"

#include <podlens/attach.hpp>
#include <podlens/state_lock.hpp>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>

namespace podlens::daemon {
namespace {

constexpr auto kFirstRetry = std::chrono::seconds(1);
constexpr auto kLastRetry = std::chrono::minutes(5);
constexpr auto kNoWait = std::chrono::milliseconds(0);

std::string describe(const PodRecord& r) {
  return r.namespace_ + "/" + r.name + " (" + r.hostIfname + ")";
}

}  // namespace

AttachmentMover::AttachmentMover(const DataPlane& plane, std::string bpffsRoot,
                                 std::string stateDir, bool kernelHasTcx)
    : plane_(plane),
      bpffsRoot_(std::move(bpffsRoot)),
      records_(std::move(stateDir)),
      kernelHasTcx_(kernelHasTcx) {}

void AttachmentMover::run(Clock::time_point now, std::chrono::milliseconds budget,
                          const std::vector<PodRecord>& records) {
  const auto deadline = Clock::now() + budget;
  size_t pending = 0;
  std::map<std::string, Backoff> backoff;  // of attachments still listed: the rest are gone
  for (const PodRecord& record : records) {
    if (!record.movePending() || !hostVethStillThere(record)) {
      continue;  // a stale record waits for DEL or GC, not for a move
    }
    ++pending;
    const std::string name = attachmentName(record.containerId, record.ifname);
    if (auto it = backoff_.find(name); it != backoff_.end()) {
      backoff.insert(*it);
      if (it->second.retryAt > now) {
        continue;
      }
    }
    if (Clock::now() >= deadline) {
      continue;  // counted as pending; moved in a later pass
    }
    switch (moveOne(record)) {
      case Outcome::kMoved:
        --pending;
        backoff.erase(name);
        break;
      case Outcome::kFailed:
        noteFailure(backoff[name], now);
        break;
      case Outcome::kNotNow:
        break;
    }
  }
  backoff_ = std::move(backoff);
  pending_.store(pending, std::memory_order_relaxed);
}

AttachmentMover::Outcome AttachmentMover::moveOne(const PodRecord& listed) {
  const std::string& stateDir = records_.stateDir();
  const std::string name = attachmentName(listed.containerId, listed.ifname);
  // Never wait: a CNI command or a GC holding a lock goes first; the move is retried next pass.
  auto node = StateLock::node(stateDir, StateLock::Kind::kShared, kNoWait);
  if (!node || !node->has_value()) {
    return Outcome::kNotNow;
  }
  auto own = StateLock::attachment(stateDir, name, kNoWait);
  if (!own || !own->has_value()) {
    return Outcome::kNotNow;
  }
  auto record = records_.read(listed.containerId, listed.ifname);
  if (!record || !record->has_value()) {
    unlink(attachmentLockPath(stateDir, name).c_str());  // DEL won: leave no lock file behind
    return Outcome::kNotNow;
  }
  if (!(*record)->movePending() || !hostVethStillThere(**record)) {
    return Outcome::kNotNow;
  }
  const auto start = Clock::now();
  if (auto moved = moveLocked(**record); !moved) {
    failed_.fetch_add(1, std::memory_order_relaxed);
    spdlog::warn("moving {} to {}: {}; it stays observed through {}", describe(**record),
                 (*record)->targetAttachMode, moved.error().message, (*record)->attachMode);
    return Outcome::kFailed;
  }
  moved_.fetch_add(1, std::memory_order_relaxed);
  spdlog::info("moved {} from {} to {} in {:.1f} ms", describe(**record), listed.attachMode,
               (*record)->targetAttachMode,
               std::chrono::duration<double, std::milli>(Clock::now() - start).count());
  return Outcome::kMoved;
}

Status AttachmentMover::moveLocked(PodRecord record) {
  if (record.attachMode != attachModeName(AttachMode::kClsact) ||
      record.targetAttachMode != attachModeName(AttachMode::kTcx)) {
    return Error{"no way from \"" + record.attachMode + "\" to \"" + record.targetAttachMode +
                 "\" (only clsact to tcx)"};
  }
  if (!kernelHasTcx_) {
    return Error{"this kernel has no tcx (6.6+)"};
  }
  const AttachTarget target{bpffsRoot_, record.containerId, record.ifname, record.hostIfindex};
  if (auto moved = moveClsactToTcx(target, plane_.ingressProgramFd(), plane_.egressProgramFd());
      !moved) {
    return moved.error();
  }
  record.attachMode = record.targetAttachMode;
  return records_.write(record);  // if this fails the next pass redoes the (idempotent) move
}

void AttachmentMover::noteFailure(Backoff& b, Clock::time_point now) {
  const auto delay = std::min<Clock::duration>(kFirstRetry * (1LL << std::min(b.failures, 10)),
                                               kLastRetry);
  ++b.failures;
  b.retryAt = now + delay;
}

}  // namespace podlens::daemon
