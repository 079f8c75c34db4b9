// TelemetryPolicy .status, written by every node's controller without losing another node's
// update and without write storms:
//   - status.nodes is a list-map keyed by node; each node writes only its own entry, by
//     server-side apply with a field manager of its own ("podlens-controller/<node>"), so
//     concurrent writers never overwrite each other (the API server merges by key);
//   - status.conditions[Accepted], status.ports and status.matchedPods are the same on every
//     node once they see the same object: each node derives them from the spec and from the
//     other nodes' entries it observes, keeps lastTransitionTime when the status is unchanged,
//     and applies with force, so identical values are co-owned and a race converges on the
//     next watch event;
//   - a node writes only when the object it observes differs from what it would write.
// Pure functions; the writer thread is in KubernetesPolicySource.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace podlens::kube {

inline constexpr size_t kMaxStatusPods = 32;
inline constexpr size_t kMaxStatusConflicts = 16;

// This node's entry in status.nodes.
struct NodeStatus {
  int64_t observedGeneration = 0;
  uint32_t matchedPods = 0;
  std::vector<std::string> pods;  // names (the policy's namespace), sorted, at most 32
  uint32_t observedPorts = 0;
  std::vector<std::string> conflicts;

  bool operator==(const NodeStatus&) const = default;
};

struct DesiredStatus {
  std::string node;
  int64_t generation = 0;     // metadata.generation the decision was made on
  std::string rejection;      // "" = accepted; else the parser's reasons
  std::optional<NodeStatus> entry;  // nullopt = this node selects nothing (no entry)
};

// "8080, 9090/Outbound" from spec.ports of the object as the API returned it.
std::string portsSummary(const nlohmann::json& policy);

// The server-side apply body that makes `observed` (the policy as last seen) say `desired`, or
// nullopt when it already does. `now` is RFC 3339 ("2026-01-02T03:04:05Z").
std::optional<nlohmann::json> statusApplyBody(const nlohmann::json& observed,
                                              const DesiredStatus& desired,
                                              const std::string& now);

std::string rfc3339Now();

}  // namespace podlens::kube
