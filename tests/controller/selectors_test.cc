#include <gtest/gtest.h>

#include <podlens/controller/selectors.hpp>

namespace podlens::controller {
namespace {

TelemetryPolicy policy(std::string ns, std::string name, Labels match,
                       std::vector<PortRule> ports, bool keepQuery = false) {
  TelemetryPolicy p;
  p.namespace_ = std::move(ns);
  p.name = std::move(name);
  p.podSelector.matchLabels = std::move(match);
  p.ports = std::move(ports);
  p.capture.keepQuery = keepQuery;
  return p;
}

Pod pod(std::string ns, std::string name, uint32_t ifindex, Labels labels) {
  return Pod{std::move(ns), std::move(name), "uid-" + name, ifindex, std::move(labels)};
}

TEST(PolicyTable, IdsAreStableNonZeroAndFindable) {
  PolicyTable table({policy("shop", "b", {}, {{80}}), policy("shop", "a", {}, {{80}})});
  ASSERT_EQ(table.entries().size(), 2u);
  EXPECT_EQ(table.entries()[0].policy.name, "a");  // sorted
  uint32_t idA = table.entries()[0].id;
  EXPECT_EQ(idA, policyHash("shop/a"));
  EXPECT_NE(idA, 0u);
  EXPECT_EQ(table.find(idA), &table.entries()[0]);
  EXPECT_EQ(table.find("shop/b"), &table.entries()[1]);
  EXPECT_EQ(table.find(12345), nullptr);
  EXPECT_EQ(table.routes(12345), nullptr);
  EXPECT_NE(table.routes(idA), nullptr);
  // Same set in another order: same ids.
  PolicyTable again({policy("shop", "a", {}, {{80}}), policy("shop", "b", {}, {{80}})});
  EXPECT_EQ(again.entries()[1].id, table.entries()[1].id);
}

TEST(PolicyTable, FnvKnownValue) {
  EXPECT_EQ(policyHash(""), 2166136261u);
  EXPECT_EQ(policyHash("a"), 0xe40c292cu);
}

TEST(PolicyTable, DuplicateKeysKeepFirst) {
  PolicyTable table({policy("s", "a", {}, {{80}}), policy("s", "a", {}, {{90}})});
  ASSERT_EQ(table.entries().size(), 1u);
  EXPECT_EQ(table.entries()[0].policy.ports[0].port, 80);
}

TEST(SelectorPlan, SelectsByLabelsAndNamespace) {
  PolicyTable table({policy("shop", "web", {{"app", "web"}},
                            {{8080}, {443, Protocol::HTTP, Direction::Outbound}}, true)});
  std::vector<Pod> pods = {pod("shop", "web-1", 11, {{"app", "web"}}),
                           pod("shop", "db-1", 12, {{"app", "db"}}),
                           pod("other", "web-x", 13, {{"app", "web"}}),
                           pod("shop", "web-2", 0, {{"app", "web"}})};
  SelectorPlan plan = planSelectors(pods, table);
  ASSERT_EQ(plan.selectors.size(), 2u);
  auto in = plan.selectors.at(makeSelectorKey(11, 8080, Direction::Inbound));
  EXPECT_EQ(in.protocol, PODLENS_PROTO_HTTP1);
  EXPECT_EQ(in.capture_flags, PODLENS_CAPTURE_KEEP_QUERY);
  EXPECT_EQ(in.policy_id, table.entries()[0].id);
  EXPECT_TRUE(plan.selectors.count(makeSelectorKey(11, 443, Direction::Outbound)));
  EXPECT_TRUE(plan.conflicts.empty());
  ASSERT_EQ(plan.policies.size(), 1u);
  EXPECT_EQ(plan.policies[0].pods, (std::vector<std::string>{"shop/web-1", "shop/web-2"}));
  EXPECT_EQ(plan.policies[0].selectors, 2u);
  EXPECT_EQ(plan.skippedPods, (std::vector<std::string>{"shop/web-2"}));
}

TEST(SelectorPlan, ConflictHasDeterministicWinner) {
  std::vector<TelemetryPolicy> policies = {policy("shop", "zeta", {}, {{80}}),
                                           policy("shop", "alpha", {{"app", "web"}}, {{80}}),
                                           policy("shop", "mid", {}, {{80}, {81}})};
  PolicyTable table(policies);
  std::vector<Pod> pods = {pod("shop", "web-1", 7, {{"app", "web"}})};
  SelectorPlan plan = planSelectors(pods, table);
  ASSERT_EQ(plan.selectors.size(), 2u);
  EXPECT_EQ(plan.selectors.at(makeSelectorKey(7, 80, Direction::Inbound)).policy_id,
            table.find("shop/alpha")->id);
  EXPECT_EQ(plan.selectors.at(makeSelectorKey(7, 81, Direction::Inbound)).policy_id,
            table.find("shop/mid")->id);
  ASSERT_EQ(plan.conflicts.size(), 1u);
  EXPECT_EQ(plan.conflicts[0].winner, "shop/alpha");
  EXPECT_EQ(plan.conflicts[0].losers, (std::vector<std::string>{"shop/mid", "shop/zeta"}));
  EXPECT_EQ(plan.conflicts[0].message(),
            "pod shop/web-1 port 80 Inbound: policies shop/alpha and shop/mid and shop/zeta all "
            "select it; shop/alpha wins");
  std::reverse(pods.begin(), pods.end());
  std::reverse(policies.begin(), policies.end());
  SelectorPlan again = planSelectors(pods, PolicyTable(policies));
  EXPECT_EQ(again.selectors.size(), plan.selectors.size());
  EXPECT_EQ(again.conflicts[0].winner, "shop/alpha");
}

TEST(SelectorPlan, DiffPutsChangedAndNewRemovesStale) {
  auto value = [](uint32_t id, uint8_t flags = 0) {
    podlens_selector_value v{};
    v.protocol = PODLENS_PROTO_HTTP1;
    v.capture_flags = flags;
    v.policy_id = id;
    return v;
  };
  SelectorMap current = {{makeSelectorKey(1, 80, Direction::Inbound), value(5)},
                         {makeSelectorKey(1, 81, Direction::Inbound), value(5)},
                         {makeSelectorKey(2, 80, Direction::Outbound), value(6)}};
  SelectorMap desired = {{makeSelectorKey(1, 80, Direction::Inbound), value(5)},
                         {makeSelectorKey(1, 81, Direction::Inbound), value(5, 1)},
                         {makeSelectorKey(3, 80, Direction::Inbound), value(7)}};
  SelectorDiff diff = diffSelectors(desired, current);
  ASSERT_EQ(diff.put.size(), 2u);
  EXPECT_EQ(diff.put[0].first, makeSelectorKey(1, 81, Direction::Inbound));
  EXPECT_EQ(diff.put[1].first, makeSelectorKey(3, 80, Direction::Inbound));
  ASSERT_EQ(diff.remove.size(), 1u);
  EXPECT_EQ(diff.remove[0], makeSelectorKey(2, 80, Direction::Outbound));
  EXPECT_TRUE(diffSelectors(desired, desired).empty());
  EXPECT_EQ(diffSelectors({}, current).remove.size(), 3u);
}

TEST(SelectorPlan, PodRemovalAndPolicyDeletionShrinkThePlan) {
  PolicyTable table({policy("s", "p", {}, {{80}})});
  std::vector<Pod> pods = {pod("s", "a", 1, {}), pod("s", "b", 2, {})};
  SelectorMap before = planSelectors(pods, table).selectors;
  pods.pop_back();
  SelectorDiff diff = diffSelectors(planSelectors(pods, table).selectors, before);
  EXPECT_TRUE(diff.put.empty());
  ASSERT_EQ(diff.remove.size(), 1u);
  EXPECT_EQ(diff.remove[0].ifindex, 2u);
  diff = diffSelectors(planSelectors(pods, PolicyTable{}).selectors, before);
  EXPECT_EQ(diff.remove.size(), 2u);
}

}  // namespace
}  // namespace podlens::controller
