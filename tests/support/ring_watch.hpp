// What a BPF test needs to watch the event ring and to keep its runs on one CPU.
#pragma once

#include <sched.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>

namespace podlens::test {

// The ring's producer position: bytes of records written so far (the kernel's read-only
// page after the consumer's, as libbpf maps it).
class ProducerPosition {
 public:
  explicit ProducerPosition(int ringFd)
      : page_(static_cast<size_t>(sysconf(_SC_PAGESIZE))),
        mapped_(mmap(nullptr, page_, PROT_READ, MAP_SHARED, ringFd, static_cast<off_t>(page_))) {}
  ~ProducerPosition() {
    if (mapped_ != MAP_FAILED) {
      munmap(mapped_, page_);
    }
  }
  ProducerPosition(const ProducerPosition&) = delete;  // owns its mapping
  ProducerPosition& operator=(const ProducerPosition&) = delete;
  bool ok() const { return mapped_ != MAP_FAILED; }
  uint64_t bytes() const {
    return __atomic_load_n(static_cast<const uint64_t*>(mapped_), __ATOMIC_ACQUIRE);
  }

 private:
  size_t page_;
  void* mapped_;
};

// Keeps the calling thread on one CPU (default: the one it runs on), so that its test runs
// run there; puts it back where it could run when it goes.
class StayOnThisCpu {
 public:
  explicit StayOnThisCpu(int cpu = sched_getcpu()) {
    sched_getaffinity(0, sizeof(saved_), &saved_);
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    sched_setaffinity(0, sizeof(one), &one);
  }
  ~StayOnThisCpu() { sched_setaffinity(0, sizeof(saved_), &saved_); }
  StayOnThisCpu(const StayOnThisCpu&) = delete;
  StayOnThisCpu& operator=(const StayOnThisCpu&) = delete;

 private:
  cpu_set_t saved_{};
};

}  // namespace podlens::test
