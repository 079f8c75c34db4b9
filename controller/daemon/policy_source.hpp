// Where the controller learns policies and pod labels: a directory of YAML files in standalone
// mode (PolicyDirectory), the Kubernetes API in cluster mode. The reconciler asks for a snapshot
// every resync interval and reports back what the policies selected.
#pragma once

#include <podlens/controller/policy_directory.hpp>
#include <podlens/controller/selectors.hpp>

#include <memory>
#include <string>

namespace podlens::daemon {

class PolicySource {
 public:
  virtual ~PolicySource() = default;
  // The current policies, pod labels and problems. Must not block for long: sources that
  // watch an API keep their state on their own thread and copy it here.
  virtual controller::PolicySnapshot snapshot() = 0;
  // What the last reconcile selected, for sources that publish status (TelemetryPolicy
  // .status in Kubernetes mode). Standalone mode logs nothing here.
  virtual void publishSelection(const controller::SelectorPlan& plan) { (void)plan; }
  // "policy directory /etc/podlens/policies", "Kubernetes API https://10.0.0.1:443".
  virtual std::string describe() const = 0;
  // False until the source has the cluster's state (the first LISTs): the reconciler must not
  // act on an empty snapshot then, or a restarted controller would drop every selector.
  virtual bool synced() const { return true; }
  // True when snapshot().pods is every pod that exists (the API's): a recorded pod missing
  // from it was deleted and loses its selectors. False for standalone Pod-label documents.
  virtual bool podsAuthoritative() const { return false; }
};

// Standalone mode: PolicyDirectory, rescanned on every snapshot().
class DirectoryPolicySource : public PolicySource {
 public:
  explicit DirectoryPolicySource(std::string dir) : directory_(std::move(dir)) {}
  controller::PolicySnapshot snapshot() override { return directory_.scan(); }
  std::string describe() const override { return "policy directory " + directory_.dir(); }

 private:
  controller::PolicyDirectory directory_;
};

}  // namespace podlens::daemon
