#include "options.hpp"

#include <gtest/gtest.h>

namespace podlens::daemon {
namespace {

Result<Options> parse(std::vector<std::string> args) { return parseOptions(args); }

TEST(Options, DefaultsFollowTheContract) {
  auto options = parse({"--policy-dir", "/etc/podlens/policies"});
  ASSERT_TRUE(options) << options.error().message;
  EXPECT_EQ(options->policyDir, "/etc/podlens/policies");
  EXPECT_EQ(options->metricsAddr.uri(), "http://0.0.0.0:9464");
  EXPECT_EQ(options->bpffsRoot, "/sys/fs/bpf/podlens");
  EXPECT_EQ(options->stateDir, "/run/podlens");
}

TEST(Options, EqualsFormAndSpaceFormAreTheSame) {
  auto a = parse({"--policy-dir=/p", "--metrics-addr=127.0.0.1:9000", "--series-per-pod=7"});
  auto b = parse({"--policy-dir", "/p", "--metrics-addr", "127.0.0.1:9000", "--series-per-pod",
                  "7"});
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->metricsAddr.uri(), "http://127.0.0.1:9000");
  EXPECT_EQ(b->metricsAddr.uri(), a->metricsAddr.uri());
  EXPECT_EQ(a->seriesPerPod, 7u);
  EXPECT_EQ(b->seriesPerPod, 7u);
}

TEST(Options, Ipv6ListenAddress) {
  auto options = parse({"--policy-dir=/p", "--metrics-addr=[::1]:9464"});
  ASSERT_TRUE(options) << options.error().message;
  EXPECT_EQ(options->metricsAddr.uri(), "http://[::1]:9464");
}

TEST(Options, BucketsParsedInOrder) {
  auto options = parse({"--policy-dir=/p", "--duration-buckets=0.001,0.01,0.1,1"});
  ASSERT_TRUE(options) << options.error().message;
  EXPECT_EQ(options->durationBuckets, (std::vector<double>{0.001, 0.01, 0.1, 1}));
}

struct BadFlag {
  std::vector<std::string> args;
  std::string mentions;
};

class OptionsRejects : public testing::TestWithParam<BadFlag> {};

TEST_P(OptionsRejects, NamingTheFlag) {
  auto options = parse(GetParam().args);
  ASSERT_FALSE(options);
  EXPECT_NE(options.error().message.find(GetParam().mentions), std::string::npos)
      << options.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    Table, OptionsRejects,
    testing::Values(BadFlag{{}, "--policy-dir is required"},
                    BadFlag{{"--policy-dir=/p", "--metrics-addr=:70000"}, "--metrics-addr"},
                    BadFlag{{"--policy-dir=/p", "--metrics-addr=9464"}, "--metrics-addr"},
                    BadFlag{{"--policy-dir=/p", "--series-per-pod=many"}, "--series-per-pod"},
                    BadFlag{{"--policy-dir=/p", "--series-per-pod=0"}, "out of range"},
                    BadFlag{{"--policy-dir=/p", "--duration-buckets=1,0.5"}, "increasing"},
                    BadFlag{{"--policy-dir=/p", "--duration-buckets=0.1,x"}, "'x'"},
                    BadFlag{{"--policy-dir=/p", "--ring-buffer-bytes=100000"}, "power of two"},
                    BadFlag{{"--policy-dir=/p", "--log-level=loud"}, "--log-level"},
                    BadFlag{{"--policy-dir=/p", "--no-such-flag=1"}, "unknown flag"},
                    BadFlag{{"--policy-dir"}, "needs a value"},
                    BadFlag{{"--policy-dir=/p", "stray"}, "unexpected argument"}));

}  // namespace
}  // namespace podlens::daemon
