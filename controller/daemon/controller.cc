#include "controller.hpp"

#include "current_data_plane.hpp"

#include <podlens/attach.hpp>
#include <podlens/kube/kubernetes_policy_source.hpp>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <ctime>

namespace podlens::daemon {
namespace {

timespec toTimespec(std::chrono::milliseconds interval) {
  return timespec{static_cast<time_t>(interval.count() / 1000),
                  static_cast<long>(interval.count() % 1000) * 1000000L};
}

controller::AggregatorOptions aggregatorOptions(const Options& options) {
  controller::AggregatorOptions result;
  if (!options.durationBuckets.empty()) {
    result.buckets = options.durationBuckets;
  }
  result.maxSeriesPerPod = options.seriesPerPod;
  return result;
}

// Kubernetes mode when --kubeconfig is given or the process runs in a pod, else the directory.
Result<std::unique_ptr<PolicySource>> makePolicySource(const Options& options) {
  if (!options.kubernetes()) {
    return std::unique_ptr<PolicySource>(new DirectoryPolicySource(options.policyDir));
  }
  auto config = options.kubeconfig.empty() ? kube::loadInClusterConfig(kube::processEnvironment())
                                           : kube::loadKubeconfig(options.kubeconfig);
  if (!config) {
    return config.error();
  }
  auto client = kube::ApiClient::create(*config);
  if (!client) {
    return client.error();
  }
  if (options.nodeName.empty()) {
    return Error{"--node-name: needed in Kubernetes mode (or env NODE_NAME)"};
  }
  kube::KubernetesSourceOptions sourceOptions;
  sourceOptions.nodeName = options.nodeName;
  return std::unique_ptr<PolicySource>(
      new kube::KubernetesPolicySource(std::move(*client), sourceOptions));
}

}  // namespace

Controller::Controller(const Options& options)
    : options_(options), records_(options.stateDir) {}

Controller::~Controller() {
  http_.reset();  // no scrape sees a half-stopped controller
  pump_.reset();
}

Result<std::unique_ptr<Controller>> Controller::start(const Options& options) {
  std::unique_ptr<Controller> self(new Controller(options));
  self->features_ = probeKernelFeatures();
  if (auto status = self->openDataPlane(); !status) {
    return status.error();
  }
  self->features_.tcx = kernelHasTcx(self->plane_->ingressProgramFd());
  spdlog::info("{}", self->features_.summary());
  self->metrics_ = std::make_unique<controller::Aggregator>(aggregatorOptions(options));
  auto source = makePolicySource(options);
  if (!source) {
    return source.error();
  }
  auto* kubernetes = dynamic_cast<kube::KubernetesPolicySource*>(source->get());
  Controller* raw = self.get();
  self->reconciler_ = std::make_unique<Reconciler>(
      *self->plane_, *self->metrics_, std::move(*source),
      options.podGracePeriod, [raw](std::shared_ptr<const NodeView> view) {
        std::lock_guard lock(raw->mutex_);
        raw->view_ = std::move(view);
      });
  self->mover_ = std::make_unique<AttachmentMover>(*self->plane_, options.bpffsRoot,
                                                   options.stateDir, self->features_.tcx);
  self->view_ = std::make_shared<NodeView>();
  self->reconcileOnce();  // events are attributed from the first one on

  auto pump = EventPump::start(
      self->plane_->eventsFd(), *self->metrics_, [raw] { return raw->view(); },
      [raw] { return raw->plane_->sweepAnswers(); });
  if (!pump) {
    return pump.error();
  }
  self->pump_ = std::move(*pump);
  auto http = HttpEndpoint::start(
      options.metricsAddr.uri(),
      HttpHandlers{[raw] { return raw->renderMetrics(); }, [raw] { return raw->ready_.load(); }});
  if (!http) {
    return http.error();
  }
  self->http_ = std::move(*http);
  if (kubernetes) {
    kubernetes->start();  // after the endpoint: it sizes cpprestsdk's thread pool
  }
  spdlog::info("serving /metrics, /healthz, /readyz on {}", options.metricsAddr.uri());
  return self;
}

Status Controller::openDataPlane() {
  if (!features_.ringBuffer) {
    return Error{"this kernel has no BPF ring buffer (needs 5.8+); podlens cannot report events"};
  }
  if (auto status = ensurePinRoot(options_.bpffsRoot); !status) {
    return status.error().context("preparing the pin root");
  }
  DataPlaneOptions planeOptions{options_.maxConnections, options_.ringBufferBytes};
  auto current = openCurrentDataPlane(options_.bpffsRoot, options_.stateDir, planeOptions);
  if (!current) {
    return current.error();
  }
  plane_ = std::move(current->plane);
  switch (current->origin) {
    case DataPlaneOrigin::kLoaded:
      spdlog::info("loaded the data plane and pinned it under {}", options_.bpffsRoot);
      break;
    case DataPlaneOrigin::kReused:
      spdlog::info("reusing the data plane pinned under {} (attached pods stay attached)",
                   options_.bpffsRoot);
      break;
    case DataPlaneOrigin::kReplaced:
      spdlog::info("replaced the data plane pinned under {} with this build's",
                   options_.bpffsRoot);
      break;
  }
  return plane_->rebuildPortFilter();
}

int Controller::runUntilSignal(const sigset_t& signals) {
  const timespec interval = toTimespec(options_.resyncInterval);
  while (true) {
    siginfo_t info{};
    int signal = sigtimedwait(&signals, &info, &interval);
    if (signal > 0) {
      return signal;
    }
    if (errno == EAGAIN || errno == EINTR) {
      reconcileOnce();
    }
  }
}

void Controller::reconcileOnce() {
  const PodRecordList records = records_.list();  // read once for both
  // Half of a pass's interval at most, so policy changes are not held up behind new pods.
  mover_->run(AttachmentMover::Clock::now(), options_.resyncInterval / 2, records.records);
  if (!reconciler_->sourceSynced()) {
    return;  // not ready: selectors stay as the last instance left them
  }
  auto report = reconciler_->step(Reconciler::Clock::now(), records);
  if (!report) {
    reconcileErrors_.fetch_add(1, std::memory_order_relaxed);
    spdlog::error("reconcile: {}", report.error().message);
    return;
  }
  std::lock_guard lock(mutex_);
  report_ = std::move(*report);
  ready_ = true;
}

std::shared_ptr<const NodeView> Controller::view() const {
  std::lock_guard lock(mutex_);
  return view_;
}

std::string Controller::renderMetrics() const {
  controller::TextWriter writer;
  metrics_->render(writer);
  renderSelfMetrics(writer);
  return writer.take();
}

void Controller::renderSelfMetrics(controller::TextWriter& w) const {
  using controller::MetricType;
  ReconcileReport report;
  {
    std::lock_guard lock(mutex_);
    report = report_;
  }
  w.family("podlens_build_info", "podlens version of this controller.", MetricType::Gauge);
  w.sample("podlens_build_info", {{"version", PODLENS_VERSION}}, uint64_t{1});
  w.counter("podlens_events_total", "Transaction events read from the kernel.",
            pump_ ? pump_->events() : 0);
  w.family("podlens_user_drops_total",
           "Events read but not counted in a metric, by reason.", MetricType::Counter);
  w.sample("podlens_user_drops_total", {{"reason", "malformed_record"}},
           pump_ ? pump_->malformed() : 0);
  w.sample("podlens_user_drops_total", {{"reason", "unknown_interface"}},
           pump_ ? pump_->unknownInterface() : 0);
  if (auto losses = plane_->readLosses(); losses) {
    w.kernelLosses(*losses);
  }
  w.family("podlens_cni_faults_total",
           "Faults podlens-cni met and let pass (failPolicy open), by reason.",
           MetricType::Counter);
  for (const auto& [reason, count] : records_.readFaults()) {
    w.sample("podlens_cni_faults_total", {{"reason", reason}}, count);
  }
  const struct {
    const char* name;
    const char* help;
    size_t value;
  } gauges[] = {
      {"podlens_attached_interfaces", "Pod veths podlens-cni attached (live records).",
       report.pods},
      {"podlens_stale_pod_records", "Pod records whose veth no longer exists.", report.stalePods},
      {"podlens_selected_pods", "Pods with at least one selector.", report.selectedPods},
      {"podlens_selectors", "Entries in the kernel's selector map.", report.selectors},
      {"podlens_policies", "TelemetryPolicies in effect.", report.policies},
      {"podlens_policy_errors", "Current problems in the policy source.", report.policyErrors},
      {"podlens_selector_conflicts", "Pod ports two policies select (one wins).",
       report.selectorConflicts},
  };
  for (const auto& gauge : gauges) {
    w.gauge(gauge.name, gauge.help, static_cast<double>(gauge.value));
  }
  w.counter("podlens_reconcile_errors_total", "Reconcile passes that failed to write maps.",
            reconcileErrors_.load());
  w.family("podlens_attachment_moves_total",
           "Attachments moved from clsact to tcx after podlens-cni's fast ADD, by result.",
           MetricType::Counter);
  w.sample("podlens_attachment_moves_total", {{"result", "moved"}}, mover_->moved());
  w.sample("podlens_attachment_moves_total", {{"result", "failed"}}, mover_->failed());
  w.gauge("podlens_attachment_moves_pending",
          "Attachments still on clsact that podlens-cni asked to move to tcx.",
          static_cast<double>(mover_->pending()));
}

}  // namespace podlens::daemon
