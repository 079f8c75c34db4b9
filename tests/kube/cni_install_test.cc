// podlens-cni-install: conflist edits, the config dir operations, and the binary's repair loop
// (a primary CNI rewriting its file, as kindnet does on every start). No root needed.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "cni_conflist.hpp"

namespace podlens::install {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

// kindnet's config, as it writes it (cniVersion 0.3.1, ptp + portmap).
const json kKindnet = json::parse(R"({
  "cniVersion": "0.3.1", "name": "kindnet",
  "plugins": [
    {"type": "ptp", "ipMasq": false, "ipam": {"type": "host-local", "dataDir": "/run/cni-ipam-state",
     "routes": [{"dst": "0.0.0.0/0"}], "ranges": [[{"subnet": "10.244.0.0/24"}]]}, "mtu": 1500},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]})");
const json kEntry = {{"type", "podlens-cni"}};

class TempDir {
 public:
  TempDir() {
    char pattern[] = "/tmp/podlens-install-test-XXXXXX";
    path_ = mkdtemp(pattern);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  void write(const std::string& name, const std::string& text) const {
    std::ofstream(file(name)) << text;
  }
  std::string read(const std::string& name) const {
    std::ifstream in(file(name));
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }
  json readJson(const std::string& name) const { return json::parse(read(name)); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(DefaultConfig, FirstConfigFileByName) {
  EXPECT_EQ(defaultConfigName({"20-b.conflist", "10-a.conf", "README", ".hidden.conf"}),
            "10-a.conf");
  EXPECT_EQ(defaultConfigName({"99-x.json", "50-y.txt"}), "99-x.json");
  EXPECT_FALSE(defaultConfigName({"notes.txt"}));
  EXPECT_FALSE(defaultConfigName({}));
}

TEST(InsertPlugin, AppendsAfterThePrimaryAndLeavesTheVersionAlone) {
  auto edited = insertPlugin(kKindnet, kEntry);
  ASSERT_TRUE(edited) << edited.error().message;
  EXPECT_TRUE(edited->changed);
  const json& plugins = edited->config["plugins"];
  ASSERT_EQ(plugins.size(), 3u);
  EXPECT_EQ(plugins[0], kKindnet["plugins"][0]);  // the primary untouched
  EXPECT_EQ(plugins[2], kEntry);
  EXPECT_EQ(edited->config["cniVersion"], kKindnet["cniVersion"]);  // 0.3.1: spoken as is
  EXPECT_EQ(edited->config["name"], "kindnet");
}

TEST(InsertPlugin, IdempotentAndUpdatesItsOwnEntryInPlace) {
  auto once = insertPlugin(kKindnet, kEntry);
  auto twice = insertPlugin(once->config, kEntry);
  ASSERT_TRUE(twice);
  EXPECT_FALSE(twice->changed);
  EXPECT_EQ(twice->config, once->config);
  json entry = {{"type", "podlens-cni"}, {"failPolicy", "closed"}};
  auto updated = insertPlugin(once->config, entry);
  EXPECT_TRUE(updated->changed);
  EXPECT_EQ(updated->config["plugins"].size(), 3u);
  EXPECT_EQ(updated->config["plugins"][2], entry);
}

TEST(InsertPlugin, ConvertsASinglePluginConf) {
  json conf = json::parse(R"({"cniVersion": "1.0.0", "name": "br", "type": "bridge",
                              "bridge": "cni0", "ipam": {"type": "host-local"}})");
  auto edited = insertPlugin(conf, kEntry);
  ASSERT_TRUE(edited);
  EXPECT_EQ(edited->config["cniVersion"], "1.0.0");
  EXPECT_EQ(edited->config["name"], "br");
  ASSERT_EQ(edited->config["plugins"].size(), 2u);
  EXPECT_EQ(edited->config["plugins"][0],
            json::parse(R"({"type": "bridge", "bridge": "cni0", "ipam": {"type": "host-local"}})"));
}

TEST(InsertPlugin, RefusesWhatItCannotChain) {
  EXPECT_FALSE(insertPlugin(json::parse(R"({"name": "x"})"), kEntry));
  EXPECT_FALSE(insertPlugin(json::parse(R"({"plugins": []})"), kEntry));
  EXPECT_FALSE(insertPlugin(json::parse(R"({"plugins": [{"type": "podlens-cni"}]})"), kEntry));
  EXPECT_FALSE(insertPlugin(kKindnet, json{{"type", "other"}}));
  json ancient = kKindnet;
  ancient["cniVersion"] = "0.2.0";  // older than podlens-cni speaks: left alone, with a reason
  auto refused = insertPlugin(ancient, kEntry);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("0.2.0"), std::string::npos);
}

TEST(RemovePlugin, RemovesOnlyItsEntry) {
  auto installed = insertPlugin(kKindnet, kEntry);
  Edited removed = removePlugin(installed->config);
  EXPECT_TRUE(removed.changed);
  EXPECT_EQ(removed.config["plugins"], kKindnet["plugins"]);
  EXPECT_FALSE(removePlugin(kKindnet).changed);
}

TEST(ConfigDir, InstallConvertRepairUninstall) {
  TempDir dir;
  EXPECT_TRUE(installIntoDir(dir.path(), kEntry)->file.empty());  // nothing to chain into yet
  dir.write("10-bridge.conf", R"({"cniVersion": "0.4.0", "name": "br", "type": "bridge"})");
  dir.write("20-other.conflist", kKindnet.dump());
  auto result = installIntoDir(dir.path(), kEntry);
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_TRUE(result->wrote);
  EXPECT_EQ(result->file, dir.file("10-bridge.conflist"));
  EXPECT_FALSE(fs::exists(dir.file("10-bridge.conf")));  // the list is the first file now
  EXPECT_EQ(dir.readJson("10-bridge.conflist")["plugins"][1], kEntry);
  EXPECT_EQ(dir.readJson("20-other.conflist"), kKindnet);  // only the default is touched
  EXPECT_FALSE(installIntoDir(dir.path(), kEntry)->wrote);  // no rewrite when nothing changed
  // The primary CNI writes its .conf again: it is first by name, so it is chained again.
  dir.write("10-bridge.conf", R"({"cniVersion": "0.4.0", "name": "br", "type": "bridge"})");
  EXPECT_TRUE(installIntoDir(dir.path(), kEntry)->wrote);
  EXPECT_FALSE(fs::exists(dir.file("10-bridge.conf")));
  auto removed = uninstallFromDir(dir.path());
  ASSERT_TRUE(removed);
  EXPECT_EQ(dir.readJson("10-bridge.conflist")["plugins"].size(), 1u);
  for (const auto& entry : fs::directory_iterator(dir.path())) {
    EXPECT_NE(entry.path().filename().string()[0], '.') << "temp file left behind";
  }
}

TEST(ConfigDir, BrokenJsonIsReportedNotOverwritten) {
  TempDir dir;
  dir.write("10-x.conflist", "{\"plugins\": [");
  auto result = installIntoDir(dir.path(), kEntry);
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message.find("10-x.conflist is not JSON"), std::string::npos);
  EXPECT_EQ(dir.read("10-x.conflist"), "{\"plugins\": [");
}

TEST(Binary, CopiedOnlyWhenDifferentWithItsMode) {
  TempDir dir;
  dir.write("source", "binary v1");
  fs::create_directories(dir.file("bin"));
  EXPECT_TRUE(installBinary(dir.file("source"), dir.file("bin")).value());
  EXPECT_FALSE(installBinary(dir.file("source"), dir.file("bin")).value());
  EXPECT_EQ(dir.read("bin/podlens-cni"), "binary v1");
  EXPECT_EQ(fs::status(dir.file("bin/podlens-cni")).permissions() & fs::perms::owner_exec,
            fs::perms::owner_exec);
  dir.write("source", "binary v2");
  EXPECT_TRUE(installBinary(dir.file("source"), dir.file("bin")).value());
  EXPECT_EQ(dir.read("bin/podlens-cni"), "binary v2");
  EXPECT_TRUE(removeBinary(dir.file("bin")));
  EXPECT_FALSE(fs::exists(dir.file("bin/podlens-cni")));
}

// The image's bundle on a host without the plugin's libraries: a wrapper runs it with its own.
TEST(Binary, BundleRunsWithItsOwnLoaderAndLibraries) {
  TempDir dir;
  fs::create_directories(dir.file("bundle"));
  fs::create_directories(dir.file("bin"));
  fs::copy_file("/bin/true", dir.file("bundle/podlens-cni"));
  fs::copy_file("/lib64/ld-linux-x86-64.so.2", dir.file("bundle/ld-linux-x86-64.so.2"));
  fs::copy_file("/lib/x86_64-linux-gnu/libc.so.6", dir.file("bundle/libc.so.6"));
  EXPECT_TRUE(installBundle(dir.file("bundle"), dir.file("bin")).value());
  EXPECT_FALSE(installBundle(dir.file("bundle"), dir.file("bin")).value());
  EXPECT_EQ(std::system((dir.file("bin/podlens-cni") + " VERSION").c_str()), 0);
  EXPECT_TRUE(removeBinary(dir.file("bin")));
  EXPECT_TRUE(fs::is_empty(dir.file("bin")));
}

bool eventually(const std::function<bool()>& condition) {
  for (int i = 0; i < 100; ++i) {
    if (condition()) {
      return true;
    }
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

// The real binary: installs, repairs after the primary CNI rewrites its file, and removes the
// entry on SIGTERM when asked to.
TEST(InstallLoop, RepairsRewritesAndUninstallsOnTerm) {
  TempDir dir;
  fs::create_directories(dir.file("bin"));
  fs::create_directories(dir.file("net.d"));
  dir.write("podlens-cni", "plugin");
  dir.write("net.d/10-kindnet.conflist", kKindnet.dump());
  pid_t pid = fork();
  if (pid == 0) {
    execl(PODLENS_CNI_INSTALL, PODLENS_CNI_INSTALL, "--cni-bin-dir", dir.file("bin").c_str(),
          "--cni-conf-dir", dir.file("net.d").c_str(), "--plugin-binary",
          dir.file("podlens-cni").c_str(), "--interval-ms", "5000", "--uninstall-on-term",
          nullptr);
    _exit(127);
  }
  auto chained = [&] {
    try {
      auto plugins = dir.readJson("net.d/10-kindnet.conflist")["plugins"];
      return plugins.size() == 3 && plugins[2] == kEntry;
    } catch (const std::exception&) {
      return false;
    }
  };
  EXPECT_TRUE(eventually(chained));
  EXPECT_EQ(dir.read("bin/podlens-cni"), "plugin");
  // kindnet starts again and writes its file (not through rename): repaired through inotify,
  // well before the 5 s poll.
  dir.write("net.d/10-kindnet.conflist", kKindnet.dump());
  EXPECT_TRUE(eventually(chained));
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(dir.readJson("net.d/10-kindnet.conflist")["plugins"].size(), 2u);
  EXPECT_FALSE(fs::exists(dir.file("bin/podlens-cni")));
}

}  // namespace
}  // namespace podlens::install
