// Kubernetes mode's PolicySource: TelemetryPolicies of every namespace and the Pods of this node,
// each through an Informer (list + watch), converted through the same parser as policy files;
// the policies' status written back by a thread of its own (policy_status.hpp).
//
//   auto client = ApiClient::create(loadKubeconfig(path));
//   KubernetesPolicySource source(std::move(*client), "node-1");
//   source.start();
//   ... source.snapshot() every reconcile; source.publishSelection(plan) after it ...
#pragma once

#include <podlens/kube/api_client.hpp>
#include <podlens/kube/informer.hpp>
#include <podlens/kube/policy_status.hpp>

#include <policy_source.hpp>

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace podlens::kube {

inline constexpr const char* kPoliciesPath = "/apis/podlens.io/v1alpha1/telemetrypolicies";

// One TelemetryPolicy object through the policy parser: the policy, or the reasons it is
// rejected ("spec.routes[0]: ..."). Metadata is reduced to name and namespace first.
struct ConvertedPolicy {
  std::optional<controller::TelemetryPolicy> policy;
  std::string rejection;
};
ConvertedPolicy convertPolicy(const nlohmann::json& object);
// A Pod (or its PartialObjectMetadata) as the labels the selectors match.
controller::PodLabels convertPod(const nlohmann::json& object);

struct KubernetesSourceOptions {
  std::string nodeName;
  InformerOptions policies;  // defaults filled by the constructor where empty
  InformerOptions pods;
  bool writeStatus = true;
};

class KubernetesPolicySource : public daemon::PolicySource {
 public:
  KubernetesPolicySource(std::unique_ptr<ApiClient> client, KubernetesSourceOptions options);
  ~KubernetesPolicySource() override;

  // Starts the watches. In the daemon: after its HTTP endpoint (which sizes cpprestsdk's pool).
  void start();
  // Both initial lists are done: before that a snapshot is not the cluster's state, and the
  // daemon must not act on it (it would drop every selector of a restarted node).
  bool synced() const override;
  bool podsAuthoritative() const override { return true; }  // the API's pods are all pods

  controller::PolicySnapshot snapshot() override;
  void publishSelection(const controller::SelectorPlan& plan) override;
  std::string describe() const override;

  InformerStats policyStats() const { return policyInformer_->stats(); }
  InformerStats podStats() const { return podInformer_->stats(); }
  uint64_t statusWrites() const;

 private:
  struct PolicyEntry {
    nlohmann::json object;  // as last observed (status included)
    int64_t generation = 0;
    ConvertedPolicy converted;
  };

  void onPolicies(const ObjectStore& store);
  void onPods(const ObjectStore& store);
  void statusLoop();
  void writeDueStatus();

  std::unique_ptr<ApiClient> client_;
  KubernetesSourceOptions options_;
  std::unique_ptr<Informer> policyInformer_;
  std::unique_ptr<Informer> podInformer_;

  mutable std::mutex mutex_;
  std::map<std::string, PolicyEntry> policies_;  // by "ns/name"
  std::map<std::string, controller::PodLabels> pods_;
  controller::PolicySnapshot last_;
  std::string fingerprint_;  // what the last snapshot held (policy generations, pods)
  std::map<std::string, int64_t> snapshotGenerations_;  // of the last snapshot()
  std::map<std::string, std::optional<NodeStatus>> selection_;  // of the last publish
  std::map<std::string, int64_t> selectionGenerations_;
  std::map<std::string, std::pair<std::string, std::chrono::steady_clock::time_point>> sent_;
  uint64_t statusWrites_ = 0;

  std::thread statusThread_;
  std::condition_variable statusWake_;
  bool statusDirty_ = false;
  bool stopping_ = false;
};

}  // namespace podlens::kube
