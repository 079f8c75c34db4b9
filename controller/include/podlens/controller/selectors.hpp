// Selector planning: which (pod veth, port, direction) the kernel observes, under which policy.
//
//   PolicyTable table(snapshot.policies);         // stable ids + routes by id
//   SelectorPlan plan = planSelectors(pods, table);
//   SelectorDiff diff = diffSelectors(plan.selectors, currentMapContents);
//   for (auto& [k, v] : diff.put) dataPlane.putSelector(k, v);
//   for (auto& k : diff.remove) dataPlane.deleteSelector(k);
#pragma once

#include <podlens/abi.hpp>
#include <podlens/controller/policy.hpp>
#include <podlens/controller/route.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace podlens::controller {

// A pod on this node as the daemon knows it (podlens-cni's record joined with its labels).
struct Pod {
  std::string namespace_;
  std::string name;
  std::string uid;
  uint32_t hostIfindex = 0;  // host-side veth; 0 = unknown (the pod gets no selectors)
  Labels labels;

  std::string key() const { return namespace_ + "/" + name; }
};

// Orders selector keys by (ifindex, port, direction); padding ignored.
struct SelectorKeyLess {
  bool operator()(const podlens_selector_key& a, const podlens_selector_key& b) const;
};
using SelectorMap = std::map<podlens_selector_key, podlens_selector_value, SelectorKeyLess>;

podlens_selector_key makeSelectorKey(uint32_t ifindex, uint16_t port, Direction direction);

// FNV-1a 32 of "namespace/name", 0 mapped to 1. PolicyTable resolves collisions.
uint32_t policyHash(std::string_view namespaceName);

// Policies with their ids and compiled route matchers. Immutable once built: share it between
// threads through a shared_ptr<const PolicyTable>.
//
// Ids: policyHash(key); on a collision the policy later in namespace/name order takes the
// next free value (skipping 0), so ids depend only on the set of policies.
class PolicyTable {
 public:
  struct Entry {
    TelemetryPolicy policy;
    uint32_t id = 0;
    RouteMatcher routes;
  };

  PolicyTable() = default;
  explicit PolicyTable(std::vector<TelemetryPolicy> policies);

  const std::vector<Entry>& entries() const { return entries_; }  // namespace/name order
  const Entry* find(uint32_t id) const;
  const Entry* find(std::string_view namespaceName) const;
  // The route matcher of the policy an event names; nullptr when unknown (the policy went
  // away while the event was in flight): use the heuristic.
  const RouteMatcher* routes(uint32_t id) const;

 private:
  std::vector<Entry> entries_;
  std::unordered_map<uint32_t, size_t> byId_;
};

// Two policies name the same (pod, port, direction): the first in namespace/name order wins.
struct SelectorConflict {
  std::string pod;  // "ns/name"
  uint16_t port = 0;
  Direction direction = Direction::Inbound;
  std::string winner;               // "ns/policy"
  std::vector<std::string> losers;  // "ns/policy", sorted
  std::string message() const;      // "pod shop/web-1 port 8080 Inbound: policies shop/a and
                                    //  shop/b both select it; shop/a wins"
};

struct PolicySelection {
  std::string policy;                 // "ns/name"
  std::vector<std::string> pods;      // pods it selects (by label), sorted "ns/name"
  size_t selectors = 0;               // map entries it won
};

struct SelectorPlan {
  SelectorMap selectors;
  std::vector<SelectorConflict> conflicts;
  std::vector<PolicySelection> policies;  // one per table entry, same order (for status)
  std::vector<std::string> skippedPods;   // selected pods with no ifindex yet ("ns/name")
};

// Desired map contents for these pods under these policies. Deterministic.
SelectorPlan planSelectors(const std::vector<Pod>& pods, const PolicyTable& table);

struct SelectorDiff {
  std::vector<std::pair<podlens_selector_key, podlens_selector_value>> put;  // new or changed
  std::vector<podlens_selector_key> remove;  // in current, not desired
  bool empty() const { return put.empty() && remove.empty(); }
};

SelectorDiff diffSelectors(const SelectorMap& desired, const SelectorMap& current);

}  // namespace podlens::controller
