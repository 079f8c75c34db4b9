// hiccup_meter: how late a sleeping thread wakes on this machine, in the manner of jHiccup.
// Sleeps 100 us at a time for the given seconds and counts the wakeups that came more than
// 1 ms late: time the machine gave to something else (another process, the hypervisor).
// On an otherwise idle machine these stalls are what a latency percentile cannot go under;
// sidecar_bench.sh records them with the machine.
//   hiccup_meter SECONDS     prints one "RESULT key=value ..." line
#include <time.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace {

constexpr uint64_t kSleepNs = 100000;     // 100 us
constexpr uint64_t kHiccupNs = 1000000;   // a wakeup this much later than asked is a hiccup

uint64_t nowNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = argc == 2 ? std::atof(argv[1]) : 0;
  if (seconds <= 0) {
    std::fprintf(stderr, "usage: hiccup_meter SECONDS\n");
    return 2;
  }
  const uint64_t start = nowNs();
  const uint64_t end = start + static_cast<uint64_t>(seconds * 1e9);
  uint64_t wakeups = 0, hiccups = 0, lateNs = 0, worstNs = 0;
  for (uint64_t before = start; before < end;) {
    timespec nap{0, static_cast<long>(kSleepNs)};
    clock_nanosleep(CLOCK_MONOTONIC, 0, &nap, nullptr);
    uint64_t after = nowNs();
    uint64_t late = after - before > kSleepNs ? after - before - kSleepNs : 0;
    ++wakeups;
    if (late > kHiccupNs) {
      ++hiccups;
      lateNs += late;
    }
    worstNs = std::max(worstNs, late);
    before = after;
  }
  double elapsed = (nowNs() - start) / 1e9;
  std::printf("RESULT hiccup_seconds=%.1f wakeups=%llu hiccups=%llu hiccups_per_s=%.2f "
              "hiccup_ms_per_s=%.3f hiccup_worst_ms=%.2f\n",
              elapsed, static_cast<unsigned long long>(wakeups),
              static_cast<unsigned long long>(hiccups), hiccups / elapsed,
              lateNs / 1e6 / elapsed, worstNs / 1e6);
  return 0;
}
