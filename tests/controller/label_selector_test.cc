#include <gtest/gtest.h>

#include <podlens/controller/labels.hpp>
#include <podlens/controller/policy.hpp>

namespace podlens::controller {
namespace {

LabelRequirement req(std::string key, SelectorOperator op, std::vector<std::string> values = {}) {
  return LabelRequirement{std::move(key), op, std::move(values)};
}

const Labels kWeb = {{"app", "web"}, {"tier", "front"}};
const Labels kDb = {{"app", "db"}};
const Labels kNone = {};

TEST(LabelSelector, EmptySelectsEverything) {
  LabelSelector empty;
  EXPECT_TRUE(empty.empty());
  EXPECT_TRUE(empty.matches(kWeb));
  EXPECT_TRUE(empty.matches(kNone));
  EXPECT_EQ(empty.toString(), "");
}

TEST(LabelSelector, MatchLabelsNeedsEveryPair) {
  LabelSelector s{{{"app", "web"}, {"tier", "front"}}, {}};
  EXPECT_TRUE(s.matches(kWeb));
  EXPECT_FALSE(s.matches(kDb));
  EXPECT_FALSE(s.matches({{"app", "web"}}));
  EXPECT_FALSE(s.matches(kNone));
}

struct OperatorRow {
  const char* name;
  LabelRequirement requirement;
  bool web, db, none;
};

TEST(LabelSelector, EveryOperator) {
  const OperatorRow rows[] = {
      {"In", req("app", SelectorOperator::In, {"web", "api"}), true, false, false},
      {"NotIn", req("app", SelectorOperator::NotIn, {"web"}), false, true, true},
      {"Exists", req("tier", SelectorOperator::Exists), true, false, false},
      {"DoesNotExist", req("tier", SelectorOperator::DoesNotExist), false, true, true},
      {"InEmptyValue", req("tier", SelectorOperator::In, {""}), false, false, false},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.name);
    LabelSelector s{{}, {row.requirement}};
    EXPECT_EQ(s.matches(kWeb), row.web);
    EXPECT_EQ(s.matches(kDb), row.db);
    EXPECT_EQ(s.matches(kNone), row.none);
  }
}

TEST(LabelSelector, ExpressionsAndLabelsAreAnded) {
  LabelSelector s{{{"app", "web"}},
                  {req("tier", SelectorOperator::In, {"front"}),
                   req("canary", SelectorOperator::DoesNotExist)}};
  EXPECT_TRUE(s.matches(kWeb));
  Labels canary = kWeb;
  canary["canary"] = "true";
  EXPECT_FALSE(s.matches(canary));
  EXPECT_EQ(s.toString(), "app=web,tier in (front),!canary");
}

TEST(LabelSelector, PolicySelectsOnlyItsNamespace) {
  TelemetryPolicy p;
  p.namespace_ = "shop";
  EXPECT_TRUE(p.selects("shop", kWeb));
  EXPECT_FALSE(p.selects("default", kWeb));
  p.podSelector.matchLabels = {{"app", "db"}};
  EXPECT_FALSE(p.selects("shop", kWeb));
  EXPECT_TRUE(p.selects("shop", kDb));
}

TEST(LabelSyntax, NamesKeysAndValues) {
  EXPECT_EQ(checkDnsLabel("shop-1"), "");
  EXPECT_NE(checkDnsLabel("Shop"), "");
  EXPECT_NE(checkDnsLabel("-a"), "");
  EXPECT_NE(checkDnsLabel(std::string(64, 'a')), "");
  EXPECT_EQ(checkDnsSubdomain("web.v2"), "");
  EXPECT_NE(checkDnsSubdomain("web..v2"), "");
  EXPECT_NE(checkDnsSubdomain("web_v2"), "");
  EXPECT_EQ(checkLabelKey("app.kubernetes.io/name"), "");
  EXPECT_EQ(checkLabelKey("App_Name"), "");
  EXPECT_NE(checkLabelKey("bad key"), "");
  EXPECT_NE(checkLabelKey("UPPER.io/x"), "");
  EXPECT_NE(checkLabelKey(""), "");
  EXPECT_EQ(checkLabelValue(""), "");
  EXPECT_EQ(checkLabelValue("v1.2_3"), "");
  EXPECT_NE(checkLabelValue("-v"), "");
  EXPECT_NE(checkLabelValue(std::string(64, 'x')), "");
}

}  // namespace
}  // namespace podlens::controller
