// The daemon: owns the pinned data plane, the reconcile loop (main thread), the event thread
// and the HTTP endpoint. Stopping it leaves every pin in place, so pods stay attached and
// their events queue in the ring buffer until the next instance reads them.
#pragma once

#include <podlens/controller/aggregator.hpp>
#include <podlens/dataplane.hpp>
#include <podlens/pod_record.hpp>
#include <signal.h>

#include <atomic>
#include <memory>
#include <mutex>

#include "attachment_mover.hpp"
#include "event_pump.hpp"
#include "http_endpoint.hpp"
#include "kernel_features.hpp"
#include "options.hpp"
#include "reconciler.hpp"

namespace podlens::daemon {

class Controller {
 public:
  static Result<std::unique_ptr<Controller>> start(const Options& options);
  ~Controller();
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  // Reconciles every resync interval until one of `signals` arrives; returns its number.
  int runUntilSignal(const sigset_t& signals);

 private:
  explicit Controller(const Options& options);
  Status openDataPlane();
  void reconcileOnce();
  std::shared_ptr<const NodeView> view() const;
  std::string renderMetrics() const;
  void renderSelfMetrics(controller::TextWriter& writer) const;

  Options options_;
  KernelFeatures features_;
  std::unique_ptr<DataPlane> plane_;
  std::unique_ptr<controller::Aggregator> metrics_;
  std::unique_ptr<Reconciler> reconciler_;
  std::unique_ptr<AttachmentMover> mover_;
  std::unique_ptr<EventPump> pump_;
  std::unique_ptr<HttpEndpoint> http_;
  PodRecordStore records_;

  mutable std::mutex mutex_;  // guards view_ and report_
  std::shared_ptr<const NodeView> view_;
  ReconcileReport report_;
  std::atomic<bool> ready_{false};
  std::atomic<uint64_t> reconcileErrors_{0};
};

}  // namespace podlens::daemon
