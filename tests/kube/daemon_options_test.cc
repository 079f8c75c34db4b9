// The daemon's Kubernetes-mode flags (controller/daemon/options.cc).
#include <gtest/gtest.h>
#include <options.hpp>

#include <cstdlib>

namespace podlens::daemon {
namespace {

TEST(KubernetesOptions, KubeconfigSelectsKubernetesModeWithTheNodeName) {
  auto options = parseOptions({"--kubeconfig", "/k", "--node-name", "n1"});
  ASSERT_TRUE(options) << options.error().message;
  EXPECT_TRUE(options->kubernetes());
  EXPECT_EQ(options->nodeName, "n1");
  EXPECT_TRUE(options->policyDir.empty());
}

TEST(KubernetesOptions, NodeNameFromTheEnvironmentElseTheHostName) {
  setenv("NODE_NAME", "from-env", 1);
  auto options = parseOptions({"--kubeconfig=/k"});
  ASSERT_TRUE(options);
  EXPECT_EQ(options->nodeName, "from-env");
  unsetenv("NODE_NAME");
  options = parseOptions({"--kubeconfig=/k"});
  ASSERT_TRUE(options);
  EXPECT_FALSE(options->nodeName.empty());
}

TEST(KubernetesOptions, InClusterWithoutFlagsAndNotMixedWithAPolicyDir) {
  setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1", 1);
  auto options = parseOptions({});
  unsetenv("KUBERNETES_SERVICE_HOST");
  ASSERT_TRUE(options) << options.error().message;
  EXPECT_TRUE(options->inCluster);
  auto mixed = parseOptions({"--kubeconfig=/k", "--policy-dir=/p"});
  ASSERT_FALSE(mixed);
  EXPECT_NE(mixed.error().message.find("--policy-dir"), std::string::npos);
  auto neither = parseOptions({});
  ASSERT_FALSE(neither);
  EXPECT_NE(neither.error().message.find("--kubeconfig"), std::string::npos);
}

}  // namespace
}  // namespace podlens::daemon
