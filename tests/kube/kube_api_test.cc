// Kubernetes mode against a real kube-apiserver (tests/kube/with_control_plane.sh starts it and
// sets KUBECONFIG, CP_DIR, KUBECTL): informer paging and watch events, the policy source's
// snapshot and status with two nodes writing, an API server restart mid-watch.
#include <gtest/gtest.h>
#include <podlens/controller/selectors.hpp>
#include <podlens/kube/kubernetes_policy_source.hpp>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <thread>

namespace podlens::kube {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

// Runs a shell command with the admin kubeconfig; returns its stdout.
std::string sh(const std::string& command) {
  std::string full = "KUBECONFIG=" + env("KUBECONFIG") + " " + command + " 2>&1";
  FILE* pipe = popen(full.c_str(), "r");
  std::string out;
  char buffer[4096];
  while (pipe && fgets(buffer, sizeof buffer, pipe)) {
    out += buffer;
  }
  if (pipe) {
    pclose(pipe);
  }
  return out;
}

std::string kubectl(const std::string& args) { return sh(env("KUBECTL") + " " + args); }

void apply(const std::string& yaml) {
  std::string out = sh("printf '%s' '" + yaml + "' | " + env("KUBECTL") + " apply -f -");
  ASSERT_EQ(out.find("rror"), std::string::npos) << out;
}

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds limit = 10s) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (condition()) {
      return true;
    }
    std::this_thread::sleep_for(50ms);
  }
  return condition();
}

std::string policyYaml(const std::string& ns, const std::string& name, int port,
                       const std::string& app) {
  return "apiVersion: podlens.io/v1alpha1\nkind: TelemetryPolicy\nmetadata: {namespace: " + ns +
         ", name: " + name + "}\nspec:\n  podSelector: {matchLabels: {app: " + app +
         "}}\n  ports: [{port: " + std::to_string(port) + "}]\n";
}

std::string podYaml(const std::string& ns, const std::string& name, const std::string& node,
                    const std::string& app) {
  return "apiVersion: v1\nkind: Pod\nmetadata: {namespace: " + ns + ", name: " + name +
         ", labels: {app: " + app + "}}\nspec: {nodeName: " + node +
         ", containers: [{name: c, image: none}]}\n";
}

std::unique_ptr<ApiClient> client() {
  auto config = loadKubeconfig(env("KUBECONFIG"));
  EXPECT_TRUE(config) << config.error().message;
  auto made = ApiClient::create(*config);
  EXPECT_TRUE(made) << made.error().message;
  return std::move(*made);
}

class KubeApi : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_FALSE(env("KUBECONFIG").empty()) << "run through tests/kube/with_control_plane.sh";
    kubectl("create namespace t1");
    kubectl("create namespace t2");
  }
};

TEST_F(KubeApi, InformerPagesTheListAndFollowsTheWatch) {
  for (int i = 0; i < 23; ++i) {
    apply(policyYaml("t1", "p" + std::to_string(i), 8000 + i, "a"));
  }
  auto api = client();
  std::mutex mutex;
  ObjectStore seen;
  InformerOptions options{.name = "test", .path = kPoliciesPath, .pageSize = 5};
  Informer informer(*api, options, [&](const ObjectStore& store) {
    std::lock_guard lock(mutex);
    seen = store;
  });
  informer.start();
  auto count = [&](const std::string& prefix) {
    std::lock_guard lock(mutex);
    return std::count_if(seen.begin(), seen.end(),
                         [&](const auto& kv) { return kv.first.rfind(prefix, 0) == 0; });
  };
  ASSERT_TRUE(eventually([&] { return informer.synced(); }));
  EXPECT_EQ(count("t1/p"), 23);
  apply(policyYaml("t1", "late", 9999, "a"));
  kubectl("delete tp -n t1 p3");
  ASSERT_TRUE(eventually([&] { return count("t1/late") == 1 && count("t1/p3") == 0; }));
  apply(policyYaml("t1", "late", 9998, "a"));
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(mutex);
    return seen["t1/late"]["spec"]["ports"][0]["port"] == 9998;
  }));
  EXPECT_EQ(informer.stats().lists, 1u);  // one LIST (5 pages), then only the watch
  kubectl("delete tp -n t1 --all");
  api->cancel();
}

TEST_F(KubeApi, TwoNodesWriteTheirOwnStatusEntries) {
  apply(policyYaml("t2", "web", 8080, "web"));
  apply(podYaml("t2", "web-1", "node-a", "web"));
  apply(podYaml("t2", "web-2", "node-a", "web"));
  apply(podYaml("t2", "web-3", "node-b", "web"));
  apply(podYaml("t2", "other", "node-a", "db"));
  auto makeSource = [](const std::string& node) {
    KubernetesSourceOptions options;
    options.nodeName = node;
    auto source = std::make_unique<KubernetesPolicySource>(client(), options);
    source->start();
    return source;
  };
  auto a = makeSource("node-a");
  auto b = makeSource("node-b");
  ASSERT_TRUE(eventually([&] { return a->synced() && b->synced(); }));
  auto reconcile = [](KubernetesPolicySource& source) {
    auto snapshot = source.snapshot();
    std::vector<controller::Pod> pods;
    uint32_t ifindex = 10;
    for (const auto& labels : snapshot.pods) {
      pods.push_back({labels.namespace_, labels.name, labels.uid, ifindex++, labels.labels});
    }
    controller::PolicyTable table(snapshot.policies);
    source.publishSelection(controller::planSelectors(pods, table));
    return snapshot;
  };
  auto snapshotA = reconcile(*a);
  EXPECT_EQ(snapshotA.pods.size(), 3u);  // only node-a's pods (fieldSelector)
  EXPECT_FALSE(snapshotA.pods[0].uid.empty());
  reconcile(*b);
  auto status = [&] {
    auto text = kubectl("get tp -n t2 web -o json");
    try {
      return json::parse(text).value("status", json::object());
    } catch (const json::exception&) {
      return json::object();
    }
  };
  ASSERT_TRUE(eventually([&] {
    json s = status();
    return s.value("matchedPods", 0) == 3 && s.contains("nodes") && s["nodes"].size() == 2;
  })) << status().dump(2);
  json s = status();
  EXPECT_EQ(s["ports"], "8080");
  EXPECT_EQ(s["conditions"][0]["status"], "True");
  for (const json& entry : s["nodes"]) {
    if (entry["node"] == "node-a") {
      EXPECT_EQ(entry["pods"], json::array({"web-1", "web-2"}));
    } else {
      EXPECT_EQ(entry["pods"], json::array({"web-3"}));
    }
  }
  // No write storm: reconciling again (as the daemon does every 250 ms) writes nothing.
  std::this_thread::sleep_for(3s);
  uint64_t writes = a->statusWrites() + b->statusWrites();
  for (int i = 0; i < 20; ++i) {
    reconcile(*a);
    reconcile(*b);
    std::this_thread::sleep_for(100ms);
  }
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(a->statusWrites() + b->statusWrites(), writes);
  // A pod leaves node-b: its entry goes, the total follows, node-a's entry stays.
  kubectl("delete pod -n t2 web-3 --grace-period=0 --force");
  ASSERT_TRUE(eventually([&] {
    reconcile(*b);
    json s = status();
    return s.value("matchedPods", 0) == 2 && s["nodes"].size() == 1;
  })) << status().dump(2);
}

TEST_F(KubeApi, RejectedPoliciesAreReportedNotFatal) {
  // The schema cannot bound a label key prefix (CEL cost), the parser does.
  std::string key(260, 'a');
  apply("apiVersion: podlens.io/v1alpha1\nkind: TelemetryPolicy\nmetadata: {namespace: t2, "
        "name: odd}\nspec:\n  podSelector: {matchExpressions: [{key: \"" + key +
        "/x\", operator: Exists}]}\n  ports: [{port: 81}]\n");
  KubernetesSourceOptions options;
  options.nodeName = "node-a";
  KubernetesPolicySource source(client(), options);
  source.start();
  ASSERT_TRUE(eventually([&] { return source.synced(); }));
  auto snapshot = source.snapshot();
  bool reported = false;
  for (const auto& error : snapshot.errors) {
    reported = reported || error.find("TelemetryPolicy t2/odd: spec.podSelector.matchExpressions[0]"
                                      ".key") == 0;
  }
  EXPECT_TRUE(reported) << ::testing::PrintToString(snapshot.errors);
  source.publishSelection(controller::planSelectors({}, controller::PolicyTable(snapshot.policies)));
  ASSERT_TRUE(eventually([&] {
    return kubectl("get tp -n t2 odd -o jsonpath={.status.conditions[0].reason}") == "InvalidSpec";
  }));
  kubectl("delete tp -n t2 odd");
}

TEST_F(KubeApi, CatchesUpAfterAnApiServerRestart) {
  KubernetesSourceOptions options;
  options.nodeName = "node-r";
  options.policies.backoffMax = 1000ms;
  options.pods.backoffMax = 1000ms;
  KubernetesPolicySource source(client(), options);
  source.start();
  ASSERT_TRUE(eventually([&] { return source.synced(); }));
  apply(podYaml("t2", "r-1", "node-r", "web"));
  ASSERT_TRUE(eventually([&] { return source.snapshot().pods.size() == 1; }));
  std::string lib = "CP_DIR=" + env("CP_DIR") + " bash -c 'source " + env("CP_LIB") + "; ";
  sh(lib + "cp_apiserver_stop'");
  std::this_thread::sleep_for(1500ms);
  EXPECT_FALSE(source.snapshot().errors.empty());  // the outage is reported
  std::string out = sh(lib + "cp_apiserver_start'");
  ASSERT_EQ(out.find("error"), std::string::npos) << out;
  apply(podYaml("t2", "r-2", "node-r", "web"));
  kubectl("delete pod -n t2 r-1 --grace-period=0 --force");
  ASSERT_TRUE(eventually(
      [&] {
        auto snapshot = source.snapshot();
        return snapshot.pods.size() == 1 && snapshot.pods[0].name == "r-2" &&
               snapshot.errors.empty();
      },
      20s));
  auto stats = source.podStats();
  std::printf("after the restart: %lu lists, %lu watches, %lu gone, %lu errors\n",
              static_cast<unsigned long>(stats.lists), static_cast<unsigned long>(stats.watches),
              static_cast<unsigned long>(stats.gone), static_cast<unsigned long>(stats.errors));
  EXPECT_GE(stats.errors, 1u);
}

}  // namespace
}  // namespace podlens::kube
