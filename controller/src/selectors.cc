#include <podlens/controller/selectors.hpp>

#include <algorithm>
#include <set>
#include <tuple>
#include <unordered_set>

namespace podlens::controller {

bool SelectorKeyLess::operator()(const podlens_selector_key& a,
                                 const podlens_selector_key& b) const {
  return std::tie(a.ifindex, a.port, a.direction) < std::tie(b.ifindex, b.port, b.direction);
}

podlens_selector_key makeSelectorKey(uint32_t ifindex, uint16_t port, Direction direction) {
  podlens_selector_key key{};
  key.ifindex = ifindex;
  key.port = port;
  key.direction = static_cast<uint8_t>(direction);
  return key;
}

uint32_t policyHash(std::string_view namespaceName) {
  uint32_t h = 2166136261u;
  for (unsigned char c : namespaceName) {
    h = (h ^ c) * 16777619u;
  }
  return h == 0 ? 1 : h;
}

PolicyTable::PolicyTable(std::vector<TelemetryPolicy> policies) {
  std::stable_sort(policies.begin(), policies.end(), [](const auto& a, const auto& b) {
    return std::tie(a.namespace_, a.name) < std::tie(b.namespace_, b.name);
  });
  std::unordered_set<std::string> keys;
  for (TelemetryPolicy& policy : policies) {
    if (!keys.insert(policy.key()).second) {
      continue;  // a duplicate: the first one stays
    }
    uint32_t id = policyHash(policy.key());
    while (id == 0 || byId_.count(id) != 0) {
      ++id;
    }
    byId_.emplace(id, entries_.size());
    RouteMatcher routes(policy.routes);
    entries_.push_back(Entry{std::move(policy), id, std::move(routes)});
  }
}

const PolicyTable::Entry* PolicyTable::find(uint32_t id) const {
  auto it = byId_.find(id);
  return it == byId_.end() ? nullptr : &entries_[it->second];
}

const PolicyTable::Entry* PolicyTable::find(std::string_view namespaceName) const {
  auto it = std::find_if(entries_.begin(), entries_.end(),
                         [&](const Entry& e) { return e.policy.key() == namespaceName; });
  return it == entries_.end() ? nullptr : &*it;
}

const RouteMatcher* PolicyTable::routes(uint32_t id) const {
  const Entry* entry = find(id);
  return entry == nullptr ? nullptr : &entry->routes;
}

std::string SelectorConflict::message() const {
  std::string out = "pod " + pod + " port " + std::to_string(port) + " " +
                    std::string(directionName(direction)) + ": policies " + winner;
  for (const std::string& loser : losers) {
    out += " and " + loser;
  }
  return out + " all select it; " + winner + " wins";
}

SelectorPlan planSelectors(const std::vector<Pod>& pods, const PolicyTable& table) {
  SelectorPlan plan;
  std::vector<const Pod*> sorted;
  for (const Pod& pod : pods) {
    sorted.push_back(&pod);
  }
  std::sort(sorted.begin(), sorted.end(), [](const Pod* a, const Pod* b) {
    return std::tie(a->namespace_, a->name) < std::tie(b->namespace_, b->name);
  });
  std::map<podlens_selector_key, size_t, SelectorKeyLess> winners;  // key -> entry index
  std::map<podlens_selector_key, SelectorConflict, SelectorKeyLess> conflicts;
  std::set<std::string> skipped;
  const auto& entries = table.entries();
  for (size_t e = 0; e < entries.size(); ++e) {
    const PolicyTable::Entry& entry = entries[e];
    PolicySelection selection{entry.policy.key(), {}, 0};
    for (const Pod* pod : sorted) {
      if (!entry.policy.selects(pod->namespace_, pod->labels)) {
        continue;
      }
      selection.pods.push_back(pod->key());
      if (pod->hostIfindex == 0) {
        skipped.insert(pod->key());
        continue;
      }
      for (const PortRule& rule : entry.policy.ports) {
        podlens_selector_key key = makeSelectorKey(pod->hostIfindex, rule.port, rule.direction);
        auto [it, inserted] = winners.emplace(key, e);
        if (inserted) {
          podlens_selector_value value{};
          value.protocol = static_cast<uint8_t>(rule.protocol);
          value.capture_flags = entry.policy.captureFlags();
          value.policy_id = entry.id;
          plan.selectors.emplace(key, value);
          ++selection.selectors;
          continue;
        }
        SelectorConflict& c = conflicts[key];
        if (c.losers.empty()) {
          c = SelectorConflict{pod->key(), rule.port, rule.direction,
                               entries[it->second].policy.key(), {}};
        }
        c.losers.push_back(entry.policy.key());  // entries are in order: losers stay sorted
      }
    }
    plan.policies.push_back(std::move(selection));
  }
  for (auto& [key, conflict] : conflicts) {
    plan.conflicts.push_back(std::move(conflict));
  }
  plan.skippedPods.assign(skipped.begin(), skipped.end());
  return plan;
}

SelectorDiff diffSelectors(const SelectorMap& desired, const SelectorMap& current) {
  SelectorDiff diff;
  SelectorKeyLess less;
  auto d = desired.begin();
  auto c = current.begin();
  while (d != desired.end() || c != current.end()) {
    if (c == current.end() || (d != desired.end() && less(d->first, c->first))) {
      diff.put.emplace_back(d->first, d->second);
      ++d;
    } else if (d == desired.end() || less(c->first, d->first)) {
      diff.remove.push_back(c->first);
      ++c;
    } else {
      const podlens_selector_value& a = d->second;
      const podlens_selector_value& b = c->second;
      if (a.protocol != b.protocol || a.capture_flags != b.capture_flags ||
          a.policy_id != b.policy_id) {
        diff.put.emplace_back(d->first, d->second);
      }
      ++d, ++c;
    }
  }
  return diff;
}

}  // namespace podlens::controller
