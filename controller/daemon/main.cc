// podlens-controller: the per-node daemon. See controller/README.md.
#include <signal.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <iostream>

#include "controller.hpp"
#include "options.hpp"

namespace {

// SIGTERM and SIGINT are taken synchronously by the main loop (sigtimedwait), so every thread
// started after this sees them blocked and shutdown runs in one place.
sigset_t blockShutdownSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
  return set;
}

}  // namespace

int main(int argc, char** argv) {
  auto options = podlens::daemon::parseOptions({argv + 1, argv + argc});
  if (!options) {
    std::cerr << "podlens-controller: " << options.error().message << "\n";
    return 2;
  }
  if (options->showHelp) {
    std::cout << podlens::daemon::usage();
    return 0;
  }
  if (options->showVersion) {
    std::cout << "podlens-controller " << PODLENS_VERSION << "\n";
    return 0;
  }
  spdlog::set_level(spdlog::level::from_str(options->logLevel));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");

  sigset_t shutdownSignals = blockShutdownSignals();
  auto controller = podlens::daemon::Controller::start(*options);
  if (!controller) {
    spdlog::error("{}", controller.error().message);
    return 1;
  }
  int signal = (*controller)->runUntilSignal(shutdownSignals);
  spdlog::info("received {}: stopping; programs, maps and links stay pinned under {}",
               strsignal(signal), options->bpffsRoot);
  return 0;
}
