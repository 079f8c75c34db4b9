#include "event_pump.hpp"

#include <spdlog/spdlog.h>

namespace podlens::daemon {

EventPump::EventPump(controller::Aggregator& metrics, ViewSource view, Sweep sweep)
    : metrics_(metrics), viewSource_(std::move(view)), sweep_(std::move(sweep)) {}

Result<std::unique_ptr<EventPump>> EventPump::start(int ringBufferFd,
                                                    controller::Aggregator& metrics,
                                                    ViewSource view, Sweep sweep) {
  std::unique_ptr<EventPump> pump(new EventPump(metrics, std::move(view), std::move(sweep)));
  EventPump* self = pump.get();
  auto reader =
      EventReader::open(ringBufferFd, [self](const podlens_http_event& e) { self->handle(e); });
  if (!reader) {
    return reader.error();
  }
  pump->reader_ = std::move(*reader);
  pump->view_ = pump->viewSource_();
  pump->thread_ = std::thread([self] { self->run(); });
  return pump;
}

EventPump::~EventPump() {
  stop_ = true;
  if (thread_.joinable()) {
    thread_.join();
  }
}

uint64_t EventPump::malformed() const { return malformed_.load(std::memory_order_relaxed); }

void EventPump::run() {
  while (!stop_) {
    view_ = viewSource_();
    refreshedInBatch_ = false;
    sweepWhenDue();
    auto handled = reader_->poll(100);
    if (!handled) {
      spdlog::error("events: {}", handled.error().message);
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    malformed_.store(reader_->malformedRecords(), std::memory_order_relaxed);
  }
  // Not drained on stop: what is still queued stays in the pinned ring buffer for the next
  // instance to count.
}

// The events of connections' last answers, which no packet of theirs will write out: the
// sweep writes them to the ring, and the poll after it reads them.
void EventPump::sweepWhenDue() {
  auto now = std::chrono::steady_clock::now();
  if (now - lastSweep_ < std::chrono::milliseconds(PODLENS_SWEEP_INTERVAL_MS)) {
    return;
  }
  lastSweep_ = now;
  if (auto swept = sweep_(); !swept) {
    spdlog::error("events: {}", swept.error().message);
  }
}

void EventPump::handle(const podlens_http_event& event) {
  events_.fetch_add(1, std::memory_order_relaxed);
  auto pod = view_->podsByIfindex.find(event.ifindex);
  if (pod == view_->podsByIfindex.end() && !refreshedInBatch_) {
    // The view was taken before poll() waited: a pod selected meanwhile is in a newer one (the
    // reconciler publishes it before the selectors reach the kernel). Once per batch, so a
    // deleted pod's queued events do not take the lock each.
    view_ = viewSource_();
    refreshedInBatch_ = true;
    pod = view_->podsByIfindex.find(event.ifindex);
  }
  if (pod == view_->podsByIfindex.end()) {
    unknownInterface_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  metrics_.record(event, pod->second, view_->policies->routes(event.policy_id));
}

}  // namespace podlens::daemon
