// podlens-cni ADD and DEL latency: the real binary run as a runtime runs it (fork/exec, conf on
// stdin) on real netns pods with a veth each, timed from exec to exit.
//   pinned   the data plane is already pinned (the normal case: controller running)
//     auto     the default: clsact at ADD, then the controller's move to tcx, timed apart
//              (moveClsactToTcx, the kernel work of AttachmentMover) since pod creation does
//              not wait for it
//     tcx      tcx links at ADD (attachMode tcx)
//     clsact   cls_bpf filters for good (attachMode clsact)
//   unpinned every ADD finds an empty pin root and loads + pins the programs itself
// Usage (root): cni_bench [--smoke] [--pods N] [--plugin PATH]
#include <fcntl.h>
#include <net/if.h>
#include <podlens/attach.hpp>
#include <podlens/dataplane.hpp>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

extern char** environ;

namespace {

struct Pod {
  std::string netns;
  std::string containerId;
  std::string hostVeth;
};

double msSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

int sh(const std::string& command) { return std::system(command.c_str()); }

// Runs plugin with env + stdin; returns wall milliseconds, or -1 when it failed.
double runPlugin(const std::string& plugin, const std::vector<std::string>& env,
                 const std::string& input) {
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) {
    return -1;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  std::vector<char*> envp;
  for (const auto& e : env) {
    envp.push_back(const_cast<char*>(e.c_str()));
  }
  envp.push_back(nullptr);
  char* argv[] = {const_cast<char*>(plugin.c_str()), nullptr};
  const auto start = std::chrono::steady_clock::now();
  pid_t pid = -1;
  const int spawned = posix_spawn(&pid, plugin.c_str(), &actions, nullptr, argv, envp.data());
  close(in[0]);
  close(out[1]);
  if (spawned == 0) {
    (void)!write(in[1], input.data(), input.size());
  }
  close(in[1]);
  char buf[4096];
  while (read(out[0], buf, sizeof(buf)) > 0) {
  }
  close(out[0]);
  int status = 0;
  if (spawned == 0) {
    waitpid(pid, &status, 0);
  }
  posix_spawn_file_actions_destroy(&actions);
  const double ms = msSince(start);
  return spawned == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? ms : -1;
}

class Bench {
 public:
  Bench(std::string plugin, int pods) : plugin_(std::move(plugin)) {
    tag_ = "plb" + std::to_string(getpid() % 100000);
    base_ = "/sys/fs/bpf/" + tag_;
    state_ = "/tmp/" + tag_ + "-state";
    for (int i = 0; i < pods; ++i) {
      Pod pod{tag_ + "n" + std::to_string(i), tag_ + "-pod-" + std::to_string(i),
              tag_ + "v" + std::to_string(i)};
      const std::string& host = pod.hostVeth;
      sh("ip netns add " + pod.netns + " && ip link add " + host +
         " type veth peer name eth0 netns " + pod.netns + " && ip link set " + host +
         " up && ip -n " + pod.netns + " link set eth0 up");
      pods_.push_back(pod);
    }
  }
  ~Bench() {
    for (const auto& pod : pods_) {
      sh("ip netns del " + pod.netns + " 2>/dev/null");
    }
    std::error_code ec;
    std::filesystem::remove_all(base_, ec);
    std::filesystem::remove_all(state_, ec);
  }

  // One ADD then one DEL per pod (with the controller's move to tcx between them when the ADD
  // asked for one); prints the medians.
  bool run(const std::string& label, const std::string& attachMode, bool pinned) {
    std::vector<double> adds, moves, dels;
    const std::string root = base_ + "/" + std::to_string(runs_++);
    if (pinned && !warm(root, attachMode)) {
      return false;
    }
    std::unique_ptr<podlens::DataPlane> plane;
    if (pinned && attachMode == "auto") {
      auto opened = podlens::DataPlane::openPinned(root);
      if (opened && podlens::kernelHasTcx((*opened)->ingressProgramFd())) {
        plane = std::move(*opened);
      }
    }
    for (size_t i = 0; i < pods_.size(); ++i) {
      const std::string podRoot = pinned ? root : root + std::to_string(i);
      adds.push_back(runPlugin(plugin_, env("ADD", pods_[i]), conf(podRoot, attachMode)));
      if (plane) {
        moves.push_back(moveToTcx(*plane, podRoot, pods_[i]));
      }
      dels.push_back(runPlugin(plugin_, env("DEL", pods_[i]), conf(podRoot, attachMode)));
      if (!pinned) {  // the next ADD must find nothing pinned again
        std::error_code ec;
        std::filesystem::remove_all(podRoot, ec);
      }
    }
    return report("ADD " + label, adds) &&
           (moves.empty() || report("move to tcx (controller)", moves)) &&
           report("DEL " + label, dels);
  }

 private:
  static double moveToTcx(const podlens::DataPlane& plane, const std::string& root,
                          const Pod& pod) {
    const podlens::AttachTarget target{root, pod.containerId, "eth0",
                                       if_nametoindex(pod.hostVeth.c_str())};
    const auto start = std::chrono::steady_clock::now();
    auto moved = podlens::moveClsactToTcx(target, plane.ingressProgramFd(),
                                          plane.egressProgramFd());
    return moved ? msSince(start) : -1;
  }

  bool warm(const std::string& root, const std::string& attachMode) {
    return runPlugin(plugin_, env("ADD", pods_[0]), conf(root, attachMode)) >= 0 &&
           runPlugin(plugin_, env("DEL", pods_[0]), conf(root, attachMode)) >= 0;
  }

  std::vector<std::string> env(const char* command, const Pod& pod) const {
    return {std::string("CNI_COMMAND=") + command, "CNI_CONTAINERID=" + pod.containerId,
            "CNI_NETNS=/var/run/netns/" + pod.netns, "CNI_IFNAME=eth0", "CNI_PATH=/usr/lib/cni",
            "CNI_ARGS=K8S_POD_NAMESPACE=bench;K8S_POD_NAME=" + pod.containerId};
  }

  std::string conf(const std::string& root, const std::string& attachMode) const {
    return R"({"cniVersion":"1.0.0","name":"bench","type":"podlens-cni","failPolicy":"closed",)"
           R"("logLevel":"warn","attachMode":")" + attachMode + R"(","bpffsRoot":")" + root +
           R"(","stateDir":")" + state_ + R"(","prevResult":{"cniVersion":"1.0.0",)"
           R"("interfaces":[{"name":"eth0","sandbox":"x"}],"ips":[{"address":"10.0.0.2/24"}]}})";
  }

  static bool report(const std::string& what, std::vector<double> ms) {
    if (std::any_of(ms.begin(), ms.end(), [](double v) { return v < 0; })) {
      std::printf("cni_bench: %s: a plugin run failed\n", what.c_str());
      return false;
    }
    std::sort(ms.begin(), ms.end());
    std::printf("cni_bench: %-26s median %7.2f ms   p90 %7.2f ms   min %7.2f ms   (%zu pods)\n",
                what.c_str(), ms[ms.size() / 2], ms[ms.size() * 9 / 10], ms.front(), ms.size());
    return true;
  }

  std::string plugin_, tag_, base_, state_;
  int runs_ = 0;
  std::vector<Pod> pods_;
};

}  // namespace

int main(int argc, char** argv) {
  int pods = 100;
  std::string plugin = PODLENS_CNI_PLUGIN_DEFAULT;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--smoke") == 0) {
      pods = 5;
    } else if (std::strcmp(argv[i], "--pods") == 0 && i + 1 < argc) {
      pods = std::atoi(argv[++i]);
    } else if (std::strcmp(argv[i], "--plugin") == 0 && i + 1 < argc) {
      plugin = argv[++i];
    }
  }
  if (geteuid() != 0 || pods < 1) {
    std::fprintf(stderr, "cni_bench: needs root (netns, BPF) and --pods >= 1\n");
    return 2;
  }
  Bench bench(plugin, pods);
  bool ok = bench.run("pinned, auto", "auto", true) && bench.run("pinned, tcx", "tcx", true) &&
            bench.run("pinned, clsact", "clsact", true);
  ok = ok && bench.run("unpinned (load + pin)", "auto", false);
  return ok ? 0 : 1;
}
