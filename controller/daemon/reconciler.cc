#include "reconciler.hpp"

#include <spdlog/spdlog.h>

#include <unordered_map>

namespace podlens::daemon {
namespace {

using controller::Labels;
using controller::Pod;

controller::SelectorMap currentSelectors(const DataPlane& plane) {
  controller::SelectorMap map;
  auto entries = plane.listSelectors();
  if (entries) {
    for (const auto& [key, value] : *entries) {
      map.emplace(key, value);
    }
  }
  return map;
}

}  // namespace

Reconciler::Reconciler(DataPlane& plane, controller::Aggregator& metrics,
                       std::unique_ptr<PolicySource> policies,
                       std::chrono::seconds gracePeriod, ViewSink publishView)
    : plane_(plane),
      metrics_(metrics),
      policies_(std::move(policies)),
      publishView_(std::move(publishView)),
      gracePeriod_(gracePeriod) {}

Result<ReconcileReport> Reconciler::step(Clock::time_point now, const PodRecordList& records) {
  ReconcileReport report;
  controller::PolicySnapshot snapshot = policies_->snapshot();
  report.policies = snapshot.policies.size();
  report.policyErrors = snapshot.errors.size();
  if (snapshot.generation != policyGeneration_) {
    policyGeneration_ = snapshot.generation;
    spdlog::info("policies: {} in effect from {} ({} problems)", snapshot.policies.size(),
                 policies_->describe(), snapshot.errors.size());
  }

  std::vector<std::string> problems = snapshot.errors;
  std::vector<Pod> pods = livePods(snapshot, records, problems, report);
  auto table = std::make_shared<const controller::PolicyTable>(snapshot.policies);
  controller::SelectorPlan plan = controller::planSelectors(pods, *table);
  report.selectorConflicts = plan.conflicts.size();
  for (const auto& conflict : plan.conflicts) {
    problems.push_back(conflict.message());
  }
  logNewProblems(problems);
  // Published before the selectors reach the kernel: the first event of a newly selected pod
  // then always finds its pod.
  publishView_(makeView(pods, plan, table, report));
  if (auto status = applySelectors(plan.selectors, report); !status) {
    return status.error();
  }
  policies_->publishSelection(plan);
  trackDeletedPods(pods, now);
  return report;
}

std::shared_ptr<const NodeView> Reconciler::makeView(
    const std::vector<Pod>& pods, const controller::SelectorPlan& plan,
    std::shared_ptr<const controller::PolicyTable> table, ReconcileReport& report) {
  auto view = std::make_shared<NodeView>();
  view->policies = std::move(table);
  std::set<uint32_t> selectedIfindexes;
  for (const auto& [key, value] : plan.selectors) {
    selectedIfindexes.insert(key.ifindex);
  }
  for (const Pod& pod : pods) {
    view->podsByIfindex[pod.hostIfindex] = metrics_.internPod(pod.namespace_, pod.name);
    report.selectedPods += selectedIfindexes.count(pod.hostIfindex);
  }
  return view;
}

std::vector<Pod> Reconciler::livePods(const controller::PolicySnapshot& snapshot,
                                      const PodRecordList& records,
                                      std::vector<std::string>& problems,
                                      ReconcileReport& report) {
  // Join: podlens-cni's record to the pod it names, by uid (K8S_POD_UID) when both have one,
  // else by namespace/name (a pod re-created under the same name has a new uid: not a match).
  std::unordered_map<std::string, const controller::PodLabels*> byKey, byUid;
  for (const auto& doc : snapshot.pods) {
    byKey[doc.key()] = &doc;
    if (!doc.uid.empty()) {
      byUid[doc.uid] = &doc;
    }
  }
  auto find = [&](const PodRecord& record) -> const controller::PodLabels* {
    if (auto it = byUid.find(record.uid); !record.uid.empty() && it != byUid.end()) {
      return it->second;
    }
    auto it = byKey.find(record.namespace_ + "/" + record.name);
    bool sameUid = it != byKey.end() &&
                   (record.uid.empty() || it->second->uid.empty() || it->second->uid == record.uid);
    return sameUid ? it->second : nullptr;
  };
  problems.insert(problems.end(), records.errors.begin(), records.errors.end());
  std::vector<Pod> pods;
  for (const PodRecord& record : records.records) {
    if (!hostVethStillThere(record)) {  // its ifindex may be another pod's by now
      ++report.stalePods;
      continue;
    }
    Pod pod{record.namespace_, record.name, record.uid, record.hostIfindex, {}};
    if (const controller::PodLabels* known = find(record)) {
      pod.namespace_ = known->namespace_;
      pod.name = known->name;
      pod.labels = known->labels;
    } else if (policies_->podsAuthoritative()) {
      continue;  // deleted from the API: no selectors; its series go after the grace period
    }
    pods.push_back(std::move(pod));
  }
  report.pods = pods.size();
  return pods;
}

Status Reconciler::applySelectors(const controller::SelectorMap& desired,
                                  ReconcileReport& report) {
  if (auto status = plane_.publishUnpublishedSelectorChange(); !status) {
    return status.error().context("applying policies");
  }
  controller::SelectorDiff diff = controller::diffSelectors(desired, currentSelectors(plane_));
  for (const auto& [key, value] : diff.put) {
    if (auto status = plane_.putSelector(key, value); !status) {
      return status.error().context("applying policies");
    }
    spdlog::info("selector on: {} (policy id {})", toString(key), value.policy_id);
  }
  for (const auto& key : diff.remove) {
    if (auto status = plane_.deleteSelector(key); !status) {
      return status.error().context("applying policies");
    }
    spdlog::info("selector off: {}", toString(key));
  }
  report.selectors = desired.size();
  return ok();
}

void Reconciler::trackDeletedPods(const std::vector<Pod>& pods, Clock::time_point now) {
  std::map<std::string, PodRef> present;
  for (const Pod& pod : pods) {
    present.emplace(pod.key(), PodRef{pod.namespace_, pod.name});
    deletedPods_.erase(pod.key());  // back again (same name): its series continue
  }
  for (const auto& [key, ref] : knownPods_) {
    if (!present.count(key)) {
      spdlog::info("pod {} gone: its series stay {} s", key, gracePeriod_.count());
      deletedPods_.emplace(key, std::make_pair(ref, now + gracePeriod_));
    }
  }
  for (auto it = deletedPods_.begin(); it != deletedPods_.end();) {
    if (it->second.second <= now) {
      const PodRef& pod = it->second.first;
      metrics_.removePod(pod.namespace_, pod.name);
      spdlog::info("pod {}/{}: grace period over, series removed", pod.namespace_, pod.name);
      it = deletedPods_.erase(it);
    } else {
      ++it;
    }
  }
  knownPods_ = std::move(present);
}

// Each problem is logged once while it lasts, again if it comes back after being fixed.
void Reconciler::logNewProblems(const std::vector<std::string>& problems) {
  std::set<std::string> current(problems.begin(), problems.end());
  for (const auto& problem : current) {
    if (!reportedProblems_.count(problem)) {
      spdlog::warn("{}", problem);
    }
  }
  for (const auto& problem : reportedProblems_) {
    if (!current.count(problem)) {
      spdlog::info("resolved: {}", problem);
    }
  }
  reportedProblems_ = std::move(current);
}

}  // namespace podlens::daemon
