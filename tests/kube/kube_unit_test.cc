// Kubernetes mode's pure logic: kubeconfig and in-cluster config, watch-line state transitions,
// backoff, policy/pod conversion, status apply bodies.
#include <gtest/gtest.h>
#include <podlens/kube/api_client.hpp>
#include <podlens/kube/cluster_config.hpp>
#include <podlens/kube/informer.hpp>
#include <podlens/kube/kubernetes_policy_source.hpp>
#include <podlens/kube/policy_status.hpp>

#include <filesystem>
#include <fstream>

namespace podlens::kube {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    char pattern[] = "/tmp/podlens-kube-test-XXXXXX";
    path_ = mkdtemp(pattern);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string write(const std::string& name, const std::string& text) const {
    std::string file = path_ + "/" + name;
    std::ofstream(file) << text;
    return file;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

const char* kKubeconfig = R"(apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: other
  cluster: {server: "https://other:6443"}
- name: c1
  cluster:
    server: https://127.0.0.1:6443/
    certificate-authority: ca.crt
contexts:
- name: dev
  context: {cluster: c1, user: u1, namespace: shop}
users:
- name: u1
  user:
    client-certificate-data: Y2VydA==
    client-key: keys/u1.key
)";

TEST(Kubeconfig, CurrentContextClusterAndUserWithRelativeFiles) {
  TempDir dir;
  dir.write("ca.crt", "CA PEM");
  fs::create_directories(dir.path() + "/keys");
  dir.write("keys/u1.key", "KEY PEM");
  auto config = loadKubeconfig(dir.write("config", kKubeconfig));
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->server, "https://127.0.0.1:6443");
  EXPECT_EQ(config->caPem, "CA PEM");
  EXPECT_EQ(config->clientCertPem, "cert");
  EXPECT_EQ(config->clientKeyPem, "KEY PEM");
  EXPECT_EQ(config->namespace_, "shop");
  EXPECT_NE(config->origin.find("context dev"), std::string::npos);
}

TEST(Kubeconfig, TokenFileAndInlineToken) {
  TempDir dir;
  auto config = loadKubeconfig(dir.write("config", R"(current-context: a
clusters: [{name: c, cluster: {server: "https://h:1", insecure-skip-tls-verify: true}}]
contexts: [{name: a, context: {cluster: c, user: u}}]
users: [{name: u, user: {token: abc, tokenFile: tok}}]
)"));
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_TRUE(config->insecureSkipVerify);
  EXPECT_EQ(config->token, "abc");
  EXPECT_EQ(config->tokenFile, dir.path() + "/tok");
}

TEST(Kubeconfig, ErrorsSayWhatIsWrong) {
  TempDir dir;
  struct Case {
    const char* text;
    const char* expected;
  } cases[] = {
      {"clusters: []", "has no current-context"},
      {"current-context: x\ncontexts: []", "\"x\" is not in contexts"},
      {"current-context: a\ncontexts: [{name: a, context: {cluster: c}}]\nclusters: []",
       "names cluster \"c\", which is not in clusters"},
      {"current-context: a\ncontexts: [{name: a, context: {cluster: c}}]\n"
       "clusters: [{name: c, cluster: {server: ftp://x}}]",
       "is not an http(s) URL"},
      {"current-context: a\ncontexts: [{name: a, context: {cluster: c, user: u}}]\n"
       "clusters: [{name: c, cluster: {server: https://x}}]\n"
       "users: [{name: u, user: {exec: {command: aws}}}]",
       "authenticates with exec"},
      {"current-context: a\ncontexts: [{name: a, context: {cluster: c, user: u}}]\n"
       "clusters: [{name: c, cluster: {server: https://x}}]\n"
       "users: [{name: u, user: {client-certificate-data: eA==}}]",
       "without its key"},
      {"current-context: a\ncontexts: [{name: a, context: {cluster: c}}]\n"
       "clusters: [{name: c, cluster: {server: https://x, certificate-authority: nope}}]",
       "cannot read"},
      {"a: [", "line"},
  };
  for (const auto& c : cases) {
    auto config = loadKubeconfig(dir.write("config", c.text));
    ASSERT_FALSE(config) << c.text;
    EXPECT_NE(config.error().message.find(c.expected), std::string::npos)
        << c.text << " -> " << config.error().message;
  }
  EXPECT_FALSE(loadKubeconfig(dir.path() + "/missing"));
}

TEST(InClusterConfig, ServiceHostPortTokenAndCa) {
  TempDir dir;
  dir.write("token", "tok\n");
  dir.write("ca.crt", "CA");
  dir.write("namespace", "podlens-system");
  auto config = loadInClusterConfig(
      {{"KUBERNETES_SERVICE_HOST", "fd00::1"}, {"KUBERNETES_SERVICE_PORT", "443"}}, dir.path());
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->server, "https://[fd00::1]:443");
  EXPECT_EQ(config->tokenFile, dir.path() + "/token");
  EXPECT_EQ(config->caPem, "CA");
  EXPECT_EQ(config->namespace_, "podlens-system");
  auto outside = loadInClusterConfig({}, dir.path());
  ASSERT_FALSE(outside);
  EXPECT_NE(outside.error().message.find("--kubeconfig"), std::string::npos);
}

TEST(ApiClient, RejectsBadPemAtCreation) {
  ClusterConfig config;
  config.server = "https://127.0.0.1:1";
  config.caPem = "not a certificate";
  config.origin = "test config";
  auto client = ApiClient::create(config);
  ASSERT_FALSE(client);
  EXPECT_NE(client.error().message.find("test config"), std::string::npos);
}

TEST(ApiClient, UrlEncode) {
  EXPECT_EQ(urlEncode("spec.nodeName=node-1"), "spec.nodeName%3Dnode-1");
  EXPECT_EQ(urlEncode("a/b c"), "a%2Fb%20c");
}

json object(const std::string& ns, const std::string& name, const std::string& rv) {
  return {{"metadata", {{"namespace", ns}, {"name", name}, {"resourceVersion", rv}}}};
}

std::string line(const std::string& type, const json& obj) {
  return json{{"type", type}, {"object", obj}}.dump();
}

TEST(WatchLine, AddModifyDeleteMoveTheVersion) {
  ObjectStore store;
  auto step = applyWatchLine(line("ADDED", object("a", "x", "5")), store);
  EXPECT_EQ(step.kind, WatchStep::Kind::Changed);
  EXPECT_EQ(step.resourceVersion, "5");
  ASSERT_EQ(store.count("a/x"), 1u);
  json modified = object("a", "x", "7");
  modified["spec"] = 1;
  applyWatchLine(line("MODIFIED", modified), store);
  EXPECT_EQ(store["a/x"]["spec"], 1);
  step = applyWatchLine(line("DELETED", object("a", "x", "9")), store);
  EXPECT_EQ(step.kind, WatchStep::Kind::Changed);
  EXPECT_EQ(step.resourceVersion, "9");
  EXPECT_TRUE(store.empty());
}

TEST(WatchLine, BookmarkOnlyMovesTheVersion) {
  ObjectStore store;
  auto step = applyWatchLine(line("BOOKMARK", {{"metadata", {{"resourceVersion", "42"}}}}), store);
  EXPECT_EQ(step.kind, WatchStep::Kind::Bookmark);
  EXPECT_EQ(step.resourceVersion, "42");
  EXPECT_TRUE(store.empty());
}

TEST(WatchLine, GoneMeansRelistOtherErrorsRetry) {
  ObjectStore store;
  json gone = {{"kind", "Status"}, {"code", 410}, {"message", "too old resource version: 1 (90)"}};
  auto step = applyWatchLine(line("ERROR", gone), store);
  EXPECT_EQ(step.kind, WatchStep::Kind::Gone);
  EXPECT_NE(step.message.find("too old"), std::string::npos);
  step = applyWatchLine(line("ERROR", {{"kind", "Status"}, {"code", 500}, {"message", "boom"}}),
                        store);
  EXPECT_EQ(step.kind, WatchStep::Kind::Error);
  EXPECT_EQ(applyWatchLine("{not json", store).kind, WatchStep::Kind::Ignored);
  EXPECT_EQ(applyWatchLine(R"({"type":"ADDED"})", store).kind, WatchStep::Kind::Ignored);
  EXPECT_EQ(applyWatchLine(line("WHAT", object("a", "x", "1")), store).kind,
            WatchStep::Kind::Ignored);
  EXPECT_TRUE(store.empty());
}

TEST(Backoff, GrowsWithJitterUpToTheCapAndResets) {
  Backoff backoff(std::chrono::milliseconds(100), std::chrono::milliseconds(1000), 7);
  int64_t ceilings[] = {100, 200, 400, 800, 1000, 1000, 1000};
  std::set<int64_t> seen;
  for (int64_t ceiling : ceilings) {
    int64_t delay = backoff.next().count();
    EXPECT_GE(delay, ceiling / 2);
    EXPECT_LE(delay, ceiling);
    seen.insert(delay);
  }
  EXPECT_GT(seen.size(), 3u);  // jitter: not the same numbers every time
  backoff.reset();
  EXPECT_LE(backoff.next().count(), 100);
}

json policyObject(json spec) {
  return {{"apiVersion", "podlens.io/v1alpha1"},
          {"kind", "TelemetryPolicy"},
          {"metadata",
           {{"name", "web"},
            {"namespace", "shop"},
            {"generation", 3},
            {"uid", "u-1"},
            {"resourceVersion", "77"},
            {"creationTimestamp", "2026-01-01T00:00:00Z"},
            {"managedFields", json::array({{{"manager", "kubectl"}}})},
            {"annotations", {{"kubectl.kubernetes.io/last-applied-configuration", "{}"}}}}},
          {"spec", std::move(spec)},
          {"status", {{"matchedPods", 1}}}};
}

TEST(ConvertPolicy, TheServersObjectGoesThroughTheFileParser) {
  auto converted = convertPolicy(policyObject(
      {{"podSelector", {{"matchLabels", {{"app", "web"}}}}},
       {"ports", json::array({{{"port", 8080}, {"protocol", "HTTP"}, {"direction", "Inbound"}},
                              {{"port", 80}, {"direction", "Outbound"}}})},
       {"routes", json::array({"/users/{id}"})},
       {"capture", {{"keepQuery", true}}}}));
  ASSERT_TRUE(converted.policy) << converted.rejection;
  const auto& policy = *converted.policy;
  EXPECT_EQ(policy.key(), "shop/web");
  ASSERT_EQ(policy.ports.size(), 2u);
  EXPECT_EQ(policy.ports[1].direction, controller::Direction::Outbound);
  EXPECT_EQ(policy.routes, std::vector<std::string>{"/users/{id}"});
  EXPECT_TRUE(policy.capture.keepQuery);
  EXPECT_TRUE(policy.podSelector.matches({{"app", "web"}}));
  EXPECT_EQ(policy.source, "TelemetryPolicy shop/web");
}

TEST(ConvertPolicy, WhatTheSchemaCannotSayIsRejectedNamingTheField) {
  std::string longPrefix(300, 'a');
  auto converted = convertPolicy(policyObject(
      {{"podSelector", {{"matchLabels", {{longPrefix + "/x", "y"}}}}},
       {"ports", json::array({{{"port", 8080}}})}}));
  EXPECT_FALSE(converted.policy);
  EXPECT_EQ(converted.rejection.rfind("spec.podSelector.matchLabels", 0), 0u)
      << converted.rejection;
  converted = convertPolicy(policyObject({{"ports", json::array({{{"port", 0}}})}}));
  EXPECT_NE(converted.rejection.find("spec.ports[0].port: 0 is out of range"), std::string::npos)
      << converted.rejection;
}

TEST(ConvertPod, MetadataOnlyPodsGiveLabelsAndUid) {
  json pod = {{"kind", "PartialObjectMetadata"},
              {"metadata",
               {{"name", "web-1"},
                {"namespace", "shop"},
                {"uid", "1234"},
                {"labels", {{"app", "web"}, {"n", 1}}}}}};
  auto labels = convertPod(pod);
  EXPECT_EQ(labels.key(), "shop/web-1");
  EXPECT_EQ(labels.uid, "1234");
  EXPECT_EQ(labels.labels, (controller::Labels{{"app", "web"}}));
}

TEST(PortsSummary, ShortFormForKubectlGet) {
  auto object = policyObject({{"ports", json::array({{{"port", 8080}, {"direction", "Inbound"}},
                                                     {{"port", 9090}, {"direction", "Outbound"}}})}});
  EXPECT_EQ(portsSummary(object), "8080, 9090/Outbound");
}

DesiredStatus desiredFor(const std::string& node, uint32_t matched) {
  DesiredStatus desired;
  desired.node = node;
  desired.generation = 3;
  if (matched > 0) {
    NodeStatus entry;
    entry.observedGeneration = 3;
    entry.matchedPods = matched;
    entry.pods = {"web-1"};
    entry.observedPorts = matched;
    desired.entry = entry;
  }
  return desired;
}

TEST(StatusApply, WritesOwnEntrySharedFieldsAndTotalOverNodes) {
  auto observed = policyObject({{"ports", json::array({{{"port", 8080}}})}});
  observed["status"] = {{"nodes", json::array({{{"node", "n2"}, {"matchedPods", 4}}})}};
  auto body = statusApplyBody(observed, desiredFor("n1", 2), "2026-01-02T00:00:00Z");
  ASSERT_TRUE(body);
  const json& status = (*body)["status"];
  EXPECT_EQ(status["matchedPods"], 6);
  EXPECT_EQ(status["ports"], "8080");
  ASSERT_EQ(status["nodes"].size(), 1u);  // only this node's entry: n2's stays n2's
  EXPECT_EQ(status["nodes"][0]["node"], "n1");
  EXPECT_EQ(status["nodes"][0]["matchedPods"], 2);
  EXPECT_EQ(status["conditions"][0]["type"], "Accepted");
  EXPECT_EQ(status["conditions"][0]["status"], "True");
  EXPECT_EQ((*body)["metadata"]["name"], "web");
  EXPECT_FALSE((*body)["metadata"].contains("resourceVersion"));  // apply, not update
}

TEST(StatusApply, NothingToWriteWhenTheObjectAlreadySaysIt) {
  auto observed = policyObject({{"ports", json::array({{{"port", 8080}}})}});
  auto body = statusApplyBody(observed, desiredFor("n1", 2), "2026-01-02T00:00:00Z");
  ASSERT_TRUE(body);
  observed["status"] = (*body)["status"];
  EXPECT_FALSE(statusApplyBody(observed, desiredFor("n1", 2), "2026-01-03T00:00:00Z"));
  // Another node's change moves the total: this node writes again (the total only).
  observed["status"]["nodes"].push_back({{"node", "n2"}, {"matchedPods", 1}});
  auto again = statusApplyBody(observed, desiredFor("n1", 2), "2026-01-03T00:00:00Z");
  ASSERT_TRUE(again);
  EXPECT_EQ((*again)["status"]["matchedPods"], 3);
  // The transition time stays while the condition's status does not change.
  EXPECT_EQ((*again)["status"]["conditions"][0]["lastTransitionTime"], "2026-01-02T00:00:00Z");
}

TEST(StatusApply, NoPodsMeansNoEntryAndRejectionsAreConditions) {
  auto observed = policyObject({{"ports", json::array({{{"port", 8080}}})}});
  observed["status"] = {{"nodes", json::array({{{"node", "n1"}, {"matchedPods", 2}}})}};
  auto desired = desiredFor("n1", 0);
  desired.rejection = "spec.routes[0]: bad";
  auto body = statusApplyBody(observed, desired, "2026-01-02T00:00:00Z");
  ASSERT_TRUE(body);
  EXPECT_FALSE((*body)["status"].contains("nodes"));  // dropping it releases n1's entry
  EXPECT_EQ((*body)["status"]["matchedPods"], 0);
  const json& condition = (*body)["status"]["conditions"][0];
  EXPECT_EQ(condition["status"], "False");
  EXPECT_EQ(condition["reason"], "InvalidSpec");
  EXPECT_EQ(condition["message"], "spec.routes[0]: bad");
  EXPECT_EQ(condition["observedGeneration"], 3);
}

}  // namespace
}  // namespace podlens::kube
