// podlens-cni-install: the DaemonSet's install/repair loop for the CNI chain entry.
//   podlens-cni-install [--cni-bin-dir /host/opt/cni/bin] [--cni-conf-dir /host/etc/cni/net.d]
//                       [--plugin-binary PATH | --plugin-bundle DIR] [--entry JSON]
//                       [--interval-ms 2000]
//                       [--once | --uninstall] [--uninstall-on-term]
// Copies podlens-cni into the CNI bin dir, chains it into the node's default conflist, then
// watches the config dir (inotify, and a poll as a safety net) and repairs the list whenever
// the primary CNI rewrites it (kindnet does on every start). SIGTERM ends the loop and leaves
// the chain in place (a restart or upgrade must not leave a window where new pods are missed),
// unless --uninstall-on-term (or PODLENS_UNINSTALL_ON_TERM=true) asks to remove it.
#include <spdlog/spdlog.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>

#include "cni_conflist.hpp"

namespace {

using namespace podlens::install;

struct Options {
  std::string binDir = "/host/opt/cni/bin";
  std::string confDir = "/host/etc/cni/net.d";
  std::string pluginBinary;  // default: podlens-cni beside this executable
  std::string pluginBundle;  // a self-contained bundle (the image's), instead of the binary
  nlohmann::json entry = {{"type", kPluginType}};
  int intervalMs = 2000;
  bool once = false;
  bool uninstall = false;
  bool uninstallOnTerm = false;
};

int usage(const std::string& error) {
  if (!error.empty()) {
    std::fprintf(stderr, "podlens-cni-install: %s\n", error.c_str());
  }
  std::fprintf(stderr,
               "usage: podlens-cni-install [--cni-bin-dir DIR] [--cni-conf-dir DIR] "
               "[--plugin-binary PATH | --plugin-bundle DIR] [--entry JSON] [--interval-ms N] [--once | --uninstall] "
               "[--uninstall-on-term]\n");
  return 2;
}

bool parse(int argc, char** argv, Options& o, std::string& error) {
  const char* env = std::getenv("PODLENS_UNINSTALL_ON_TERM");
  o.uninstallOnTerm = env && std::string(env) == "true";
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        error = arg + " needs a value";
        return "";
      }
      return argv[++i];
    };
    if (arg == "--cni-bin-dir") {
      o.binDir = value();
    } else if (arg == "--cni-conf-dir") {
      o.confDir = value();
    } else if (arg == "--plugin-binary") {
      o.pluginBinary = value();
    } else if (arg == "--plugin-bundle") {
      o.pluginBundle = value();
    } else if (arg == "--entry") {
      try {
        o.entry = nlohmann::json::parse(value());
      } catch (const std::exception& e) {
        error = "--entry: not JSON: " + std::string(e.what());
      }
    } else if (arg == "--interval-ms") {
      o.intervalMs = std::atoi(value().c_str());
      if (o.intervalMs < 100) {
        error = "--interval-ms: at least 100";
      }
    } else if (arg == "--once") {
      o.once = true;
    } else if (arg == "--uninstall") {
      o.uninstall = true;
    } else if (arg == "--uninstall-on-term") {
      o.uninstallOnTerm = true;
    } else {
      error = "unknown argument " + arg;
    }
    if (!error.empty()) {
      return false;
    }
  }
  if (o.pluginBinary.empty()) {
    o.pluginBinary = (std::filesystem::read_symlink("/proc/self/exe").parent_path() / kPluginType)
                         .string();
  }
  return true;
}

bool uninstall(const Options& o) {
  auto result = uninstallFromDir(o.confDir);
  if (!result) {
    spdlog::error("uninstall: {}", result.error().message);
    return false;
  }
  for (const auto& note : result->notes) {
    spdlog::info("{}: {}", result->file, note);
  }
  if (auto status = removeBinary(o.binDir); !status) {
    spdlog::error("uninstall: {}", status.error().message);
    return false;
  }
  spdlog::info("podlens-cni removed from {} and {}", o.confDir, o.binDir);
  return true;
}

// One pass: the binary (when `binary`), then the conflist. Logs only what changed or failed.
void installOnce(const Options& o, bool binary, std::string& lastProblem) {
  std::string problem;
  if (binary) {
    auto copied = o.pluginBundle.empty() ? installBinary(o.pluginBinary, o.binDir)
                                         : installBundle(o.pluginBundle, o.binDir);
    if (!copied) {
      problem = copied.error().message;
    } else if (copied.value()) {
      spdlog::info("installed {} into {}",
                   o.pluginBundle.empty() ? o.pluginBinary : o.pluginBundle, o.binDir);
    }
  }
  if (problem.empty()) {
    auto result = installIntoDir(o.confDir, o.entry);
    if (!result) {
      problem = result.error().message;
    } else if (result->file.empty()) {
      problem = "no CNI config in " + o.confDir + " yet; waiting for the primary CNI";
    } else {
      for (const auto& note : result->notes) {
        spdlog::info("{}: {}", result->file, note);
      }
    }
  }
  if (problem != lastProblem) {
    if (problem.empty()) {
      spdlog::info("podlens-cni chained in {}", o.confDir);
    } else {
      spdlog::warn("{}", problem);
    }
    lastProblem = problem;
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  std::string error;
  if (!parse(argc, argv, o, error)) {
    return usage(error);
  }
  if (o.uninstall) {
    return uninstall(o) ? 0 : 1;
  }
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigprocmask(SIG_BLOCK, &signals, nullptr);
  std::string lastProblem;
  installOnce(o, true, lastProblem);
  if (o.once) {
    return lastProblem.empty() ? 0 : 1;
  }
  int sfd = signalfd(-1, &signals, SFD_CLOEXEC);
  int ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  if (ifd >= 0 && inotify_add_watch(ifd, o.confDir.c_str(),
                                    IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE |
                                        IN_DELETE | IN_ATTRIB) < 0) {
    spdlog::warn("inotify on {} failed ({}); polling every {} ms", o.confDir,
                 std::strerror(errno), o.intervalMs);
  }
  spdlog::info("watching {} (repairs the chain when the primary CNI rewrites it)", o.confDir);
  auto lastBinaryCheck = std::chrono::steady_clock::now();
  while (true) {
    pollfd fds[2] = {{sfd, POLLIN, 0}, {ifd, POLLIN, 0}};
    int ready = poll(fds, ifd >= 0 ? 2 : 1, o.intervalMs);
    if (ready > 0 && (fds[0].revents & POLLIN)) {
      signalfd_siginfo info{};
      (void)!read(sfd, &info, sizeof info);
      spdlog::info("signal {}: stopping{}", info.ssi_signo,
                   o.uninstallOnTerm ? " and removing podlens-cni" : " (the chain stays)");
      return o.uninstallOnTerm && !uninstall(o) ? 1 : 0;
    }
    if (ready > 0 && ifd >= 0 && (fds[1].revents & POLLIN)) {
      char buffer[4096];
      while (read(ifd, buffer, sizeof buffer) > 0) {
      }
      usleep(50 * 1000);  // let a writer that writes in several steps finish
    }
    auto now = std::chrono::steady_clock::now();
    bool checkBinary = now - lastBinaryCheck > std::chrono::seconds(60);
    if (checkBinary) {
      lastBinaryCheck = now;
    }
    installOnce(o, checkBinary, lastProblem);
  }
}
