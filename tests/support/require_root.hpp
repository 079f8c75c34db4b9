// The bpf tier loads programs into the kernel: without root its tests skip, saying why.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#define PODLENS_REQUIRE_ROOT()                                                          \
  do {                                                                                  \
    if (geteuid() != 0) {                                                               \
      GTEST_SKIP() << "needs root (CAP_BPF + CAP_NET_ADMIN): loads BPF programs; run " \
                      "scripts/test.sh as root";                                        \
    }                                                                                   \
  } while (0)
