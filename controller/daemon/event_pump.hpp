// The event thread: reads podlens_http_event records from the ring buffer and counts each one
// in the aggregator under the pod that owns its interface.
#pragma once

#include <podlens/controller/aggregator.hpp>
#include <podlens/dataplane.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <thread>

#include "node_view.hpp"

namespace podlens::daemon {

class EventPump {
 public:
  using ViewSource = std::function<std::shared_ptr<const NodeView>()>;
  using Sweep = std::function<Status()>;

  // Starts the thread. `view` is called once per batch of events, not per event; `sweep`
  // (DataPlane::sweepAnswers) every PODLENS_SWEEP_INTERVAL_MS, before the ring is read.
  static Result<std::unique_ptr<EventPump>> start(int ringBufferFd,
                                                  controller::Aggregator& metrics,
                                                  ViewSource view, Sweep sweep);
  ~EventPump();  // stops and joins the thread
  EventPump(const EventPump&) = delete;
  EventPump& operator=(const EventPump&) = delete;

  uint64_t events() const { return events_.load(std::memory_order_relaxed); }
  // Events of an interface no recorded pod owns (a pod deleted while its events were queued).
  uint64_t unknownInterface() const { return unknownInterface_.load(std::memory_order_relaxed); }
  // Ring-buffer records too short to be an event.
  uint64_t malformed() const;

 private:
  EventPump(controller::Aggregator& metrics, ViewSource view, Sweep sweep);
  void run();
  void sweepWhenDue();
  void handle(const podlens_http_event& event);

  controller::Aggregator& metrics_;
  ViewSource viewSource_;
  Sweep sweep_;
  std::chrono::steady_clock::time_point lastSweep_{};  // event thread only
  std::shared_ptr<const NodeView> view_;  // event thread only
  bool refreshedInBatch_ = false;         // event thread only
  std::unique_ptr<EventReader> reader_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> events_{0};
  std::atomic<uint64_t> unknownInterface_{0};
  std::atomic<uint64_t> malformed_{0};
  std::thread thread_;
};

}  // namespace podlens::daemon
