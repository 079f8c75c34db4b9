#include <gtest/gtest.h>

#include <podlens/controller/policy_directory.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace podlens::controller {
namespace {

namespace fs = std::filesystem;

class PolicyDirectoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/podlens-policies-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Writes through a temporary and a rename (as editors and ConfigMaps do); a distinct
  // mtime is forced so a same-size rewrite within one clock tick is still seen.
  void write(const std::string& name, const std::string& text) {
    fs::path tmp = dir_ / (".tmp-" + name);
    std::ofstream(tmp) << text;
    fs::rename(tmp, dir_ / name);
    struct timespec times[2] = {{0, UTIME_NOW}, {++tick_, 0}};
    ::utimensat(AT_FDCWD, (dir_ / name).c_str(), times, 0);
  }

  static std::string policy(const std::string& name, int port) {
    return "apiVersion: podlens.io/v1alpha1\nkind: TelemetryPolicy\nmetadata: {name: " + name +
           "}\nspec: {ports: [{port: " + std::to_string(port) + "}]}\n";
  }

  fs::path dir_;
  time_t tick_ = 1000000;
};

TEST_F(PolicyDirectoryTest, AddModifyBreakFixDelete) {
  PolicyDirectory d(dir_);
  PolicySnapshot s = d.scan();
  EXPECT_TRUE(s.policies.empty());
  EXPECT_TRUE(s.errors.empty());

  write("web.yaml", policy("web", 80));
  s = d.scan();
  EXPECT_TRUE(s.changed);
  ASSERT_EQ(s.policies.size(), 1u);
  EXPECT_EQ(s.policies[0].ports[0].port, 80);
  uint64_t generation = s.generation;

  s = d.scan();  // nothing changed
  EXPECT_FALSE(s.changed);
  EXPECT_EQ(s.generation, generation);
  ASSERT_EQ(s.policies.size(), 1u);

  write("web.yaml", policy("web", 81));
  s = d.scan();
  EXPECT_TRUE(s.changed);
  EXPECT_EQ(s.policies[0].ports[0].port, 81);

  write("web.yaml", policy("web", 70000));  // broken: the last good content stays
  s = d.scan();
  EXPECT_TRUE(s.changed);
  ASSERT_EQ(s.policies.size(), 1u);
  EXPECT_EQ(s.policies[0].ports[0].port, 81);
  ASSERT_EQ(s.errors.size(), 2u);
  EXPECT_EQ(s.errors[0],
            "web.yaml: document 1 (TelemetryPolicy default/web): spec.ports[0].port: 70000 is "
            "out of range 1-65535");
  EXPECT_EQ(s.errors[1], "web.yaml: rejected; its last valid content (1 objects) stays in effect");
  s = d.scan();  // still broken: reported again, but nothing changed
  EXPECT_FALSE(s.changed);
  EXPECT_EQ(s.errors.size(), 2u);

  write("web.yaml", policy("web", 82));  // fixed
  s = d.scan();
  EXPECT_TRUE(s.changed);
  EXPECT_TRUE(s.errors.empty());
  EXPECT_EQ(s.policies[0].ports[0].port, 82);

  fs::remove(dir_ / "web.yaml");
  s = d.scan();
  EXPECT_TRUE(s.changed);
  EXPECT_TRUE(s.policies.empty());
}

TEST_F(PolicyDirectoryTest, BadNewFileDoesNotAffectOthers) {
  write("a.yaml", policy("a", 80));
  write("b.yml", "apiVersion: podlens.io/v1alpha1\nkind: TelemetryPolicy\nmetadata: {name: b}\n"
                 "spec: {ports: [{port: 80, protocol: UDP}]}\n");
  write("c.json", R"({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}})");
  write("notes.txt", "not a policy");
  PolicyDirectory d(dir_);
  PolicySnapshot s = d.scan();
  ASSERT_EQ(s.policies.size(), 1u);
  EXPECT_EQ(s.policies[0].name, "a");
  ASSERT_EQ(s.pods.size(), 1u);
  ASSERT_EQ(s.errors.size(), 1u);
  EXPECT_EQ(s.errors[0].rfind("b.yml: document 1 (TelemetryPolicy default/b): "
                              "spec.ports[0].protocol: unknown protocol \"UDP\"",
                              0),
            0u);
}

TEST_F(PolicyDirectoryTest, DuplicateAcrossFilesFirstFileWins) {
  write("a.yaml", policy("web", 80));
  write("b.yaml", policy("web", 90));
  PolicyDirectory d(dir_);
  PolicySnapshot s = d.scan();
  ASSERT_EQ(s.policies.size(), 1u);
  EXPECT_EQ(s.policies[0].ports[0].port, 80);
  ASSERT_EQ(s.errors.size(), 1u);
  EXPECT_EQ(s.errors[0],
            "b.yaml document 1: TelemetryPolicy default/web is also defined in a.yaml document "
            "1, which wins; ignored");
}

TEST_F(PolicyDirectoryTest, ConfigMapMountLayout) {
  // kubelet's layout: ..2024_x/ holds the files, ..data -> ..2024_x, name -> ..data/name.
  fs::create_directory(dir_ / "..2024_01");
  std::ofstream(dir_ / "..2024_01" / "web.yaml") << policy("web", 80);
  fs::create_directory_symlink("..2024_01", dir_ / "..data");
  fs::create_symlink("..data/web.yaml", dir_ / "web.yaml");
  fs::create_directory(dir_ / "sub.yaml");  // a directory with a policy-like name: skipped
  PolicyDirectory d(dir_);
  PolicySnapshot s = d.scan();
  ASSERT_EQ(s.policies.size(), 1u);
  EXPECT_TRUE(s.errors.empty());

  // An update: a new timestamped dir, ..data swapped atomically.
  fs::create_directory(dir_ / "..2024_02");
  std::ofstream(dir_ / "..2024_02" / "web.yaml") << policy("web", 8080);
  fs::create_directory_symlink("..2024_02", dir_ / "..data_tmp");
  fs::rename(dir_ / "..data_tmp", dir_ / "..data");
  fs::remove_all(dir_ / "..2024_01");
  s = d.scan();
  EXPECT_TRUE(s.changed);
  ASSERT_EQ(s.policies.size(), 1u);
  EXPECT_EQ(s.policies[0].ports[0].port, 8080);
}

TEST_F(PolicyDirectoryTest, MissingDirectoryKeepsStateAndReports) {
  write("a.yaml", policy("a", 80));
  PolicyDirectory d(dir_);
  ASSERT_EQ(d.scan().policies.size(), 1u);
  fs::path moved = dir_.string() + ".away";
  fs::rename(dir_, moved);
  PolicySnapshot s = d.scan();
  EXPECT_EQ(s.policies.size(), 1u);
  ASSERT_EQ(s.errors.size(), 1u);
  EXPECT_NE(s.errors[0].find("cannot read the policy directory"), std::string::npos);
  fs::rename(moved, dir_);
  s = d.scan();
  EXPECT_TRUE(s.errors.empty());
  EXPECT_EQ(s.policies.size(), 1u);
}

}  // namespace
}  // namespace podlens::controller

namespace podlens::controller {
namespace {

TEST(PolicySamples, CrdSamplesAreValid) {
  PolicyDirectory d(PODLENS_SOURCE_DIR "/crds/samples");
  PolicySnapshot s = d.scan();
  EXPECT_TRUE(s.errors.empty()) << s.errors[0];
  EXPECT_GE(s.policies.size(), 2u);
  EXPECT_GE(s.pods.size(), 1u);
}

}  // namespace
}  // namespace podlens::controller
