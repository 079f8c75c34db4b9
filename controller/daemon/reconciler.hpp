// One reconcile pass of the standalone controller: policy files + podlens-cni's pod records →
// the selectors in the pinned map, and the view the event thread attributes events with.
// Runs on the main thread only; the published NodeView is immutable.
#pragma once

#include <podlens/controller/selectors.hpp>
#include <podlens/dataplane.hpp>
#include <podlens/pod_record.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "node_view.hpp"
#include "policy_source.hpp"

namespace podlens::daemon {

struct ReconcileReport {
  size_t pods = 0;                  // recorded pods whose veth exists
  size_t stalePods = 0;             // records whose veth is gone (awaiting CNI DEL or GC)
  size_t selectedPods = 0;          // pods with at least one selector
  size_t selectors = 0;             // entries in pl_selectors
  size_t policies = 0;              // policies in effect
  size_t policyErrors = 0;          // current problems in the policy directory
  size_t selectorConflicts = 0;
};

class Reconciler {
 public:
  using Clock = std::chrono::steady_clock;
  using ViewSink = std::function<void(std::shared_ptr<const NodeView>)>;

  // Pods are interned in `metrics` (their series ids) as they appear. Each step hands the new
  // view to publishView before it writes the selectors.
  Reconciler(DataPlane& plane, controller::Aggregator& metrics,
             std::unique_ptr<PolicySource> policies,
             std::chrono::seconds gracePeriod, ViewSink publishView);

  // Reads what changed, publishes the new view, writes the selector diff. Errors of single files
  // or records are logged and counted, never fatal; an Error means the map could not be written.
  // `records` is podlens-cni's pod records as listed for this pass.
  Result<ReconcileReport> step(Clock::time_point now, const PodRecordList& records);
  bool sourceSynced() const { return policies_->synced(); }

 private:
  std::vector<controller::Pod> livePods(const controller::PolicySnapshot& snapshot,
                                        const PodRecordList& records,
                                        std::vector<std::string>& problems,
                                        ReconcileReport& report);
  std::shared_ptr<const NodeView> makeView(const std::vector<controller::Pod>& pods,
                                           const controller::SelectorPlan& plan,
                                           std::shared_ptr<const controller::PolicyTable> table,
                                           ReconcileReport& report);
  Status applySelectors(const controller::SelectorMap& desired, ReconcileReport& report);
  void trackDeletedPods(const std::vector<controller::Pod>& pods, Clock::time_point now);
  void logNewProblems(const std::vector<std::string>& problems);

  DataPlane& plane_;
  controller::Aggregator& metrics_;
  std::unique_ptr<PolicySource> policies_;
  ViewSink publishView_;
  std::chrono::seconds gracePeriod_;
  std::map<std::string, PodRef> knownPods_;  // by "ns/name"
  std::map<std::string, std::pair<PodRef, Clock::time_point>> deletedPods_;  // → expiry
  std::set<std::string> reportedProblems_;
  uint64_t policyGeneration_ = 0;
};

}  // namespace podlens::daemon
