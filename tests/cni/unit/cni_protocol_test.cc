// podlens-cni's CNI protocol: environment, configuration, CNI_ARGS, replies and error codes.
#include <gtest/gtest.h>

#include <map>

#include "cni_protocol.hpp"

namespace podlens::cni {
namespace {

using nlohmann::json;

Getenv envOf(std::map<std::string, std::string> vars) {
  return [vars](const char* name) -> std::optional<std::string> {
    auto it = vars.find(name);
    return it == vars.end() ? std::nullopt : std::optional<std::string>(it->second);
  };
}

std::map<std::string, std::string> addEnv() {
  return {{"CNI_COMMAND", "ADD"}, {"CNI_CONTAINERID", "c0ffee"}, {"CNI_NETNS", "/run/netns/x"},
          {"CNI_IFNAME", "eth0"}, {"CNI_PATH", "/opt/cni/bin"}};
}

int codeOf(const Result<PluginConfig>& r) { return r ? 0 : r.error().code; }

TEST(CniEnvironmentTest, AddNeedsEveryVariable) {
  ASSERT_TRUE(parseEnvironment(envOf(addEnv())).ok());
  for (const char* var : {"CNI_COMMAND", "CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME",
                          "CNI_PATH"}) {
    auto env = addEnv();
    env.erase(var);
    auto parsed = parseEnvironment(envOf(env));
    ASSERT_FALSE(parsed.ok()) << var;
    EXPECT_EQ(parsed.error().code, kInvalidEnvironment) << var;
    EXPECT_NE(parsed.error().message.find(var), std::string::npos);
  }
}

TEST(CniEnvironmentTest, DelWithoutNetnsAndGcWithoutAnything) {
  auto del = addEnv();
  del["CNI_COMMAND"] = "DEL";
  del.erase("CNI_NETNS");
  EXPECT_TRUE(parseEnvironment(envOf(del)).ok());
  EXPECT_TRUE(parseEnvironment(envOf({{"CNI_COMMAND", "GC"}})).ok());
  EXPECT_TRUE(parseEnvironment(envOf({{"CNI_COMMAND", "STATUS"}})).ok());
  EXPECT_TRUE(parseEnvironment(envOf({{"CNI_COMMAND", "VERSION"}})).ok());
}

TEST(CniEnvironmentTest, RejectsUnknownCommandAndUnsafeNames) {
  auto env = addEnv();
  env["CNI_COMMAND"] = "FROB";
  EXPECT_EQ(parseEnvironment(envOf(env)).error().code, kInvalidEnvironment);
  env = addEnv();
  env["CNI_CONTAINERID"] = "../../etc";
  EXPECT_EQ(parseEnvironment(envOf(env)).error().code, kInvalidEnvironment);
  env = addEnv();
  env["CNI_IFNAME"] = "a/b";
  EXPECT_EQ(parseEnvironment(envOf(env)).error().code, kInvalidEnvironment);
  env["CNI_IFNAME"] = "waytoolongifname0";
  EXPECT_EQ(parseEnvironment(envOf(env)).error().code, kInvalidEnvironment);
}

TEST(CniArgsTest, ReadsPodIdentityIgnoresUnknownAndMalformed) {
  auto id = parsePodIdentity(
      "IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=cart-1;junk;K8S_POD_UID=u-1;X=", "c");
  EXPECT_EQ(id.namespace_, "shop");
  EXPECT_EQ(id.name, "cart-1");
  EXPECT_EQ(id.uid, "u-1");
}

TEST(CniArgsTest, DefaultsWithoutKubernetesKeys) {
  auto id = parsePodIdentity("", "0123456789abcdef0123");
  EXPECT_EQ(id.namespace_, "default");
  EXPECT_EQ(id.name, "0123456789ab");
  EXPECT_EQ(id.uid, "");
}

TEST(CniConfigTest, ParsesPodlensKeysAndIgnoresUnknownOnes) {
  auto config = parseConfig(R"({"cniVersion":"1.0.0","name":"net","type":"podlens-cni",
      "failPolicy":"closed","bpffsRoot":"/sys/fs/bpf/t","stateDir":"/tmp/s","logLevel":"debug",
      "attachMode":"clsact","somethingElse":{"x":1},"prevResult":{"ips":[]}})",
                            Command::kAdd);
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->failPolicy, FailPolicy::kClosed);
  EXPECT_EQ(config->bpffsRoot, "/sys/fs/bpf/t");
  EXPECT_EQ(config->stateDir, "/tmp/s");
  EXPECT_EQ(config->attachMode, AttachChoice::kClsact);
  EXPECT_TRUE(config->prevResult.has_value());
}

TEST(CniConfigTest, DefaultsAreFailOpenAndTheNodePaths) {
  auto config = parseConfig(R"({"cniVersion":"0.4.0","name":"n","type":"podlens-cni"})",
                            Command::kAdd);
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->failPolicy, FailPolicy::kOpen);
  EXPECT_EQ(config->bpffsRoot, "/sys/fs/bpf/podlens");
  EXPECT_EQ(config->stateDir, "/run/podlens");
  EXPECT_EQ(config->attachMode, AttachChoice::kAuto);
}

TEST(CniConfigTest, ErrorCodes) {
  EXPECT_EQ(codeOf(parseConfig("not json", Command::kAdd)), kDecodeFailure);
  EXPECT_EQ(codeOf(parseConfig("[1,2]", Command::kAdd)), kDecodeFailure);
  EXPECT_EQ(codeOf(parseConfig(R"({"name":"n","type":"t"})", Command::kAdd)), kInvalidConfig);
  EXPECT_EQ(codeOf(parseConfig(R"({"cniVersion":"0.2.0","name":"n","type":"t"})",
                               Command::kAdd)),
            kIncompatibleVersion);
  // 0.3.x (kindnet writes 0.3.1) is spoken, but it has no CHECK: that came with 0.4.0.
  EXPECT_TRUE(parseConfig(R"({"cniVersion":"0.3.1","name":"n","type":"t"})", Command::kAdd));
  EXPECT_EQ(codeOf(parseConfig(R"({"cniVersion":"0.3.1","name":"n","type":"t"})",
                               Command::kCheck)),
            kIncompatibleVersion);
  EXPECT_EQ(codeOf(parseConfig(R"({"cniVersion":"1.0.0","type":"t"})", Command::kAdd)),
            kInvalidConfig);
  EXPECT_EQ(codeOf(parseConfig(R"({"cniVersion":"1.0.0","name":"n","type":"t"})",
                               Command::kGc)),
            kIncompatibleVersion);
}

TEST(CniConfigTest, MistypedPodlensKeysNameTheKey) {
  const std::pair<const char*, const char*> cases[] = {
      {"failPolicy", R"("sometimes")"}, {"failPolicy", "1"},     {"bpffsRoot", "true"},
      {"bpffsRoot", R"("relative")"},   {"stateDir", "[]"},      {"logLevel", R"("loud")"},
      {"logFile", "3"},                 {"attachMode", R"("xdp")"}, {"prevResult", "7"}};
  for (const auto& [key, value] : cases) {
    const std::string text = std::string(R"({"cniVersion":"1.0.0","name":"n","type":"t",")") +
                             key + "\":" + value + "}";
    auto config = parseConfig(text, Command::kAdd);
    ASSERT_FALSE(config.ok()) << text;
    EXPECT_EQ(config.error().code, kInvalidConfig) << text;
    EXPECT_NE(config.error().message.find(key), std::string::npos) << config.error().message;
  }
}

TEST(CniConfigTest, ValidAttachmentsForGc) {
  auto config = parseConfig(R"({"cniVersion":"1.1.0","name":"n","type":"t",
      "cni.dev/valid-attachments":[{"containerID":"a","ifname":"eth0"}]})",
                            Command::kGc);
  ASSERT_TRUE(config.ok());
  ASSERT_EQ(config->validAttachments.size(), 1u);
  EXPECT_EQ(config->validAttachments[0].containerId, "a");
  EXPECT_EQ(codeOf(parseConfig(R"({"cniVersion":"1.1.0","name":"n","type":"t",
      "cni.dev/valid-attachments":[{"containerID":1}]})",
                               Command::kGc)),
            kInvalidConfig);
}

TEST(CniReplyTest, AddPassesPrevResultThroughInTheConfigVersion) {
  auto config = parseConfig(R"({"cniVersion":"1.0.0","name":"n","type":"t",
      "prevResult":{"cniVersion":"1.0.0","ips":[{"address":"10.0.0.2/24"}],"dns":{}}})",
                            Command::kAdd);
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(addResultJson(*config), config->prevResult.value());
}

TEST(CniReplyTest, ErrorJsonAndVersion) {
  json error = errorJson(Error{"bad", kInvalidConfig}, "1.0.0");
  EXPECT_EQ(error["code"], 7);
  EXPECT_EQ(error["msg"], "bad");
  EXPECT_EQ(error["cniVersion"], "1.0.0");
  EXPECT_EQ(errorJson(Error{"x"}, "1.1.0")["code"], kInternal);
  EXPECT_EQ(versionJson()["supportedVersions"], json({"0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"}));
  EXPECT_EQ(replyVersion(R"({"cniVersion":"0.4.0"})"), "0.4.0");
  EXPECT_EQ(replyVersion("garbage"), "1.1.0");
}

TEST(CniReplyTest, PodAddressesOfTheInterface) {
  json prev = json::parse(R"({"interfaces":[{"name":"br0"},{"name":"veth1"},
      {"name":"eth0","sandbox":"/run/netns/x"}],
      "ips":[{"address":"10.1.0.2/24","interface":2},{"address":"10.9.0.1/24","interface":0},
             {"address":"fd00::2/64"}]})");
  EXPECT_EQ(podAddresses(prev, "eth0"), (std::vector<std::string>{"10.1.0.2/24", "fd00::2/64"}));
}

TEST(CniReplyTest, CrossCheckOfInterfaces) {
  json bridge = json::parse(R"({"interfaces":[{"name":"br0"},{"name":"veth1"},
      {"name":"eth0","sandbox":"/run/netns/x"}]})");
  EXPECT_FALSE(crossCheckInterfaces(bridge, "eth0", "veth1").has_value());
  EXPECT_TRUE(crossCheckInterfaces(bridge, "eth0", "veth9").has_value());
  EXPECT_TRUE(crossCheckInterfaces(bridge, "eth1", "veth1").has_value());
  json podOnly = json::parse(R"({"interfaces":[{"name":"eth0","sandbox":"/x"}]})");
  EXPECT_FALSE(crossCheckInterfaces(podOnly, "eth0", "cali123").has_value());
  EXPECT_FALSE(crossCheckInterfaces(json::object(), "eth0", "veth1").has_value());
}

TEST(CniVersionTest, Compares) {
  EXPECT_TRUE(versionAtLeast("1.1.0", "1.1.0"));
  EXPECT_TRUE(versionAtLeast("1.2.0", "1.1.0"));
  EXPECT_FALSE(versionAtLeast("1.0.0", "1.1.0"));
  EXPECT_FALSE(versionAtLeast("0.4.0", "1.1.0"));
}

}  // namespace
}  // namespace podlens::cni
