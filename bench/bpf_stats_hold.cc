// bpf_stats_hold: keeps the kernel's BPF run-time statistics (run_time_ns, run_cnt) on for as
// long as it runs, through BPF_ENABLE_STATS. The kernel counts every holder, so another
// process that sets and restores the kernel.bpf_stats_enabled sysctl meanwhile cannot turn
// them off under a benchmark (the sysctl alone can: its last writer wins). Prints "ready",
// then waits for SIGTERM/SIGINT; the statistics stop when the last holder goes.
#include <bpf/bpf.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstring>

int main() {
  int fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
  if (fd < 0) {
    std::fprintf(stderr, "bpf_stats_hold: BPF_ENABLE_STATS failed: %s (needs root)\n",
                 std::strerror(-fd));
    return 1;
  }
  std::printf("ready\n");
  std::fflush(stdout);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  int sig = 0;
  sigwait(&set, &sig);
  close(fd);
  return 0;
}
