// Moves the attachments podlens-cni made through clsact to tcx, off the pod-creation path.
//
// A tcx attach waits for two RCU grace periods per direction under rtnl_lock (about 30 ms a pod
// on a small VM), far over what pod creation can spare; a cls_bpf filter takes about 2 ms. So
// with attachMode auto podlens-cni attaches through clsact and records targetAttachMode "tcx",
// and the controller moves the attachment: tcx links first, then the filters go, so the pod is
// observed throughout (see moveClsactToTcx). Each move holds the node-wide lock shared and the
// attachment's own lock, as podlens-cni's commands do, and re-reads the record under them: a
// DEL or GC of the same pod either finishes first (nothing to move) or waits.
#pragma once

#include <podlens/dataplane.hpp>
#include <podlens/pod_record.hpp>

#include <atomic>
#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace podlens::daemon {

class AttachmentMover {
 public:
  using Clock = std::chrono::steady_clock;

  AttachmentMover(const DataPlane& plane, std::string bpffsRoot, std::string stateDir,
                  bool kernelHasTcx);

  // Moves pending attachments until `budget` is spent (the rest wait for the next pass, so
  // policy changes are not held up behind a burst of new pods). A failed move is retried with
  // a growing back-off, from 1 s up to 5 min; the pod stays observed through clsact meanwhile.
  void run(Clock::time_point now, std::chrono::milliseconds budget,
           const std::vector<PodRecord>& records);
  // The same over the records listed now.
  void run(Clock::time_point now, std::chrono::milliseconds budget) {
    run(now, budget, records_.list().records);
  }

  uint64_t moved() const { return moved_.load(std::memory_order_relaxed); }
  uint64_t failed() const { return failed_.load(std::memory_order_relaxed); }
  size_t pending() const { return pending_.load(std::memory_order_relaxed); }

 private:
  enum class Outcome { kMoved, kNotNow, kFailed };
  struct Backoff {
    Clock::time_point retryAt;
    int failures = 0;
  };

  Outcome moveOne(const PodRecord& listed);
  Status moveLocked(PodRecord record);
  static void noteFailure(Backoff& backoff, Clock::time_point now);

  const DataPlane& plane_;
  std::string bpffsRoot_;
  PodRecordStore records_;
  bool kernelHasTcx_;
  std::map<std::string, Backoff> backoff_;  // by attachment name
  std::atomic<uint64_t> moved_{0};
  std::atomic<uint64_t> failed_{0};
  std::atomic<size_t> pending_{0};
};

}  // namespace podlens::daemon
