// Data-plane cost per packet, measured by the kernel through BPF_PROG_TEST_RUN on the real
// podlens_tc programs. Prints ns per packet for:
//   unselected      a segment of a port no selector names (the common, cheap path)
//   body            a selected segment inside a Content-Length body (skipped arithmetically)
//   request header  a selected segment holding a whole request line + headers
//   response header a selected segment holding a status line + headers (emits an event)
// The unselected figure uses repeat=N (one syscall, N runs). Selected packets change the
// connection's state, so each run needs its own sequence number: they run one per syscall,
// and the per-run timer overhead (measured on the unselected packet as the difference
// between one-per-syscall and repeat=N) is reported beside them and subtracted.
// Needs root. Usage: bpf_packet_bench [--smoke]
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "support/bpf_harness.hpp"

using namespace podlens;
using namespace podlens::test;

namespace {

struct Figure {
  const char* name;
  double nsPerPacket;
  double targetNs;  // 0: no target
};

double mean(const std::vector<uint32_t>& v) {
  double sum = 0;
  for (uint32_t x : v) {
    sum += x;
  }
  return v.empty() ? 0 : sum / static_cast<double>(v.size());
}

double median(std::vector<uint32_t> v) {
  if (v.empty()) {
    return 0;
  }
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}

const std::string kRequest =
    "GET /api/v1/users/12345/orders HTTP/1.1\r\nHost: orders.shop.svc.cluster.local\r\n"
    "User-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n";
const std::string kResponse =
    "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Wed, 25 Nov 2026 03:00:00 GMT\r\n"
    "Content-Type: application/json\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n";

}  // namespace

int main(int argc, char** argv) {
  bool smoke = argc > 1 && std::strcmp(argv[1], "--smoke") == 0;
  const uint32_t repeat = smoke ? 10000 : 2000000;
  const int singles = smoke ? 2000 : 200000;

  BpfHarness h;
  h.select(8080, PODLENS_DIR_INBOUND);

  // Unselected: same veth, a port nobody selected.
  TcpFlow unselected({"10.9.0.2", 50000}, {"10.9.0.1", 9999}, true);
  Segment cold = unselected.client(std::string(1000, 'u'));
  double unselectedRepeat = h.timeRun(cold, repeat);
  std::vector<uint32_t> coldSingles;
  for (int i = 0; i < singles; ++i) {
    coldSingles.push_back(h.timeRun(cold, 1));
  }
  double timerOverhead = std::max(0.0, median(coldSingles) - unselectedRepeat);

  // Request/response header packets on one keep-alive connection.
  TcpFlow flow({"10.9.0.2", 50001}, {"10.9.0.1", 8080}, true);
  h.run(flow.clientSyn());
  h.run(flow.serverSynAck());
  std::vector<uint32_t> requestRuns;
  std::vector<uint32_t> responseRuns;
  for (int i = 0; i < singles; ++i) {
    requestRuns.push_back(h.timeRun(flow.client(kRequest), 1));
    responseRuns.push_back(h.timeRun(flow.server(kResponse), 1));
    if (i % 1000 == 999) {
      h.takeEvents();
    }
  }
  size_t events = h.takeEvents().size();

  // Body packets: one request announcing a body far larger than the run.
  TcpFlow upload({"10.9.0.2", 50002}, {"10.9.0.1", 8080}, true);
  h.run(upload.clientSyn());
  h.run(upload.serverSynAck());
  h.run(upload.client("POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000000000\r\n\r\n"));
  const std::string bodyChunk(1448, 'b');
  std::vector<uint32_t> bodyRuns;
  for (int i = 0; i < singles; ++i) {
    bodyRuns.push_back(h.timeRun(upload.client(bodyChunk), 1));
  }

  LossCounters losses = h.losses();
  uint64_t lossTotal = 0;
  for (uint64_t v : losses) {
    lossTotal += v;
  }

  std::vector<Figure> figures = {
      {"unselected packet (repeat)", unselectedRepeat, 50},
      {"selected body packet", median(bodyRuns) - timerOverhead, 0},
      {"request header packet", median(requestRuns) - timerOverhead, 300},
      {"response header packet (+event)", median(responseRuns) - timerOverhead, 0},
  };
  std::printf("podlens data plane, BPF_PROG_TEST_RUN, %s\n", smoke ? "smoke" : "full");
  std::printf("runs: repeat=%u for unselected; %d single runs per selected kind\n", repeat,
              singles);
  std::printf("per-run timer overhead subtracted from single runs: %.1f ns (median single "
              "unselected %.1f ns)\n",
              timerOverhead, median(coldSingles));
  std::printf("%-34s %10s %10s %8s\n", "packet", "ns/packet", "target", "");
  for (const Figure& f : figures) {
    if (f.targetNs > 0) {
      std::printf("%-34s %10.1f %10.0f %8s\n", f.name, f.nsPerPacket, f.targetNs,
                  f.nsPerPacket <= f.targetNs ? "ok" : "MISSED");
    } else {
      std::printf("%-34s %10.1f %10s\n", f.name, f.nsPerPacket, "-");
    }
  }
  std::printf("means (uncorrected): request %.1f, response %.1f, body %.1f ns\n",
              mean(requestRuns), mean(responseRuns), mean(bodyRuns));
  std::printf("events: %zu of %d transactions; kernel losses: %llu\n",
              events + static_cast<size_t>(singles > 1000 ? (singles / 1000) * 1000 : 0) -
                  static_cast<size_t>(singles > 1000 ? (singles / 1000) * 1000 : 0),
              singles, static_cast<unsigned long long>(lossTotal));
  return 0;
}
