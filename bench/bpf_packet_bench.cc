// Data-plane cost per packet, measured by the kernel through BPF_PROG_TEST_RUN on the real
// podlens_tc programs, beside a do-nothing TC program measured the same way in the same run.
//
//   unselected        a segment of a port no selector names (the common, cheap path)
//   unselected pod    a segment of a port selected only on another pod's interface
//   body              a selected segment inside a Content-Length body (skipped arithmetically)
//   request header    a selected segment holding a whole request (curl-like, 4 header lines)
//   minimal request   "GET / HTTP/1.1" and a blank line
//   response header   a status line + 6 header lines; completes the transaction (event)
//   chunked body      one chunk per packet: size line, 1432 bytes of data (skipped), CRLF
//   chunked response  a whole small chunked response in one packet (+event)
//   pipelined         4 minimal requests in one packet, then their 4 responses (+4 events)
//
// Then accuracy: random conversations (pipelining, Content-Length and chunked bodies both
// ways, HEAD, 204/304, 1xx, bodies until FIN, random segmentation) until 10,000 transactions
// (1,000 with --smoke): events against transactions, and kernel losses.
//
// The unselected packet runs with repeat=N (one syscall, N runs). Selected packets change
// their connection's state, so each run needs its own sequence number: they run one per
// syscall, where the kernel's timer adds a fixed cost per run. Both costs are measured on
// the null program and reported; "net" figures subtract the null program measured the same
// way (repeat for repeat, single for single). Needs root.
// Last, what the kernel's BPF run-time statistics (kernel.bpf_stats_enabled) add to every
// program run: the null program with repeat, statistics held on (BPF_ENABLE_STATS) against
// off. A node runs without them; sidecar_bench.sh turns them on only where it reads them.
// Usage: bpf_packet_bench [--smoke | --profile N [page] [cold] | --ab-sample N [cold]]
//   --profile N    N curl-like transactions only, for perf (see bench/README.md); page:
//                  minimal requests answered by nginx pages, the kind a server's CPU pays for;
//                  cold: as below
//   --ab-sample N [cold]  N transactions of each kind, trimmed means on one line
//                  (bench/replay_ab.sh); cold: each packet after a CacheSweep, as on a node,
//                  where the network stack and the pods run between two packets of a flow
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include <bpf/bpf.h>
#include <sys/mman.h>
#include <unistd.h>

#include "null_tc.skel.h"
#include "support/bpf_harness.hpp"
#include "support/conversation.hpp"

using namespace podlens;
using namespace podlens::test;

namespace {

// What BPF run-time statistics add to one program run: the null program timed with repeat
// while they are held on, less the same without them (withoutStats). -1 when they cannot be
// turned on, or were on already (the sysctl), so that there is nothing to compare.
double statisticsCostPerRun(int nullFd, const Segment& segment, uint32_t repeat,
                            double withoutStats) {
  std::FILE* sysctl = std::fopen("/proc/sys/kernel/bpf_stats_enabled", "r");
  int enabled = sysctl != nullptr ? std::fgetc(sysctl) : '0';
  if (sysctl != nullptr) {
    std::fclose(sysctl);
  }
  if (enabled != '0') {
    return -1;
  }
  int fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
  if (fd < 0) {
    return -1;
  }
  double withStats = BpfHarness::timeProgram(nullFd, segment, repeat);
  close(fd);
  return withStats - withoutStats;
}

double median(std::vector<uint32_t> v) {
  if (v.empty()) {
    return 0;
  }
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}

// Mean of the lowest 99%: finer than the median, whose runs move in steps of about 10 ns (a
// mean of many steps is not), and without the interrupts that land in the top 1%.
double trimmedMean(std::vector<uint32_t> v) {
  if (v.empty()) {
    return 0;
  }
  std::sort(v.begin(), v.end());
  size_t kept = v.size() - v.size() / 100;
  double sum = 0;
  for (size_t i = 0; i < kept; ++i) {
    sum += v[i];
  }
  return sum / static_cast<double>(kept);
}

const std::string kRequest =
    "GET /api/v1/users/12345/orders HTTP/1.1\r\nHost: orders.shop.svc.cluster.local\r\n"
    "User-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n";
const std::string kMinimalRequest = "GET / HTTP/1.1\r\n\r\n";
const std::string kResponse =
    "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Wed, 25 Nov 2026 03:00:00 GMT\r\n"
    "Content-Type: application/json\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n";
const std::string kPageResponse =
    "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Wed, 25 Nov 2026 03:00:00 GMT\r\n"
    "Content-Type: text/html\r\nContent-Length: 1024\r\nLast-Modified: Wed, 25 Nov 2026 "
    "02:00:00 GMT\r\nConnection: keep-alive\r\nETag: \"6565c4a0-400\"\r\n"
    "Accept-Ranges: bytes\r\n\r\n" + std::string(1024, 'p');

// Events are read back this often: well under PODLENS_EVENTS_WAKEUP_BYTES queued, so no
// replayed packet pays for a wake-up of the (absent) reader, which is rare on a node (one per
// PODLENS_EVENTS_WAKEUP_BYTES of events).
constexpr int kDrainEvery = 100;

// What runs on a node's CPU between two packets of a flow, as far as the caches can tell: the
// network stack and the pods' code push the data plane's code, data and branch history out.
// run() writes a line of every 64 bytes of a 128 KB buffer (four times a core's L1 data
// cache), then runs a sled of 16,384 taken jumps (64 KB: twice its L1 instruction cache, more
// jumps than its branch target buffers hold), so the next program run starts with its code
// and data out of L1 and its branches unknown. Smaller sleds left the figures on a cliff
// (32 KB: +/-10% from run to run); with this one they repeat to about 3%. A node's packets
// are not all this cold: on the development VM a keep-alive request and an nginx page read
// about 980 and 1,070 ns raw this way, 360 and 380 warm, where bpf_stats on real traffic puts
// a packet near 590 (bpf_stats in docs/benchmarks.md). A bound, not a model: it is for a change
// that takes code, taken branches or cache lines off the common path, which the warm replay
// cannot see.
class CacheSweep {
 public:
  CacheSweep() : data_(kDataBytes) {
    void* code = mmap(nullptr, kCodeBytes, PROT_READ | PROT_WRITE | PROT_EXEC,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (code == MAP_FAILED) {
      std::perror("mmap of the branch sled");
      std::exit(1);
    }
    auto* bytes = static_cast<unsigned char*>(code);
    for (size_t i = 0; i + 4 <= kCodeBytes - 1; i += 4) {  // jmp +2; nop; nop
      bytes[i] = 0xEB;
      bytes[i + 1] = 0x02;
      bytes[i + 2] = 0x90;
      bytes[i + 3] = 0x90;
    }
    bytes[kCodeBytes - 1] = 0xC3;  // ret (the bytes before it: nops of the last step)
    bytes[kCodeBytes - 2] = 0x90;
    bytes[kCodeBytes - 3] = 0x90;
    bytes[kCodeBytes - 4] = 0x90;
    sled_ = reinterpret_cast<void (*)()>(code);
  }
  CacheSweep(const CacheSweep&) = delete;
  CacheSweep& operator=(const CacheSweep&) = delete;
  ~CacheSweep() { munmap(reinterpret_cast<void*>(sled_), kCodeBytes); }

  void run() {
    for (size_t i = 0; i < data_.size(); i += 64) {
      data_[i] = static_cast<unsigned char>(data_[i] + 1);
    }
    sled_();
  }

 private:
  static constexpr size_t kDataBytes = 128u << 10;
  static constexpr size_t kCodeBytes = 64u << 10;
  std::vector<unsigned char> data_;
  void (*sled_)() = nullptr;
};

struct Row {
  const char* name;
  double raw;
  double net;
  double target;  // 0: none
};

// One request kind on its own keep-alive connection, answered each time so the FIFO never
// fills; returns the single-run durations of the request packets (and of the responses).
// With a sweep, each packet runs after it.
void timeTransactions(BpfHarness& h, uint16_t clientPort, const std::string& request,
                      const std::string& response, int runs, std::vector<uint32_t>* requests,
                      std::vector<uint32_t>* responses, size_t* events,
                      CacheSweep* sweep = nullptr) {
  TcpFlow flow({"10.9.0.2", clientPort}, {"10.9.0.1", 8080}, true);
  h.run(flow.clientSyn());
  h.run(flow.serverSynAck());
  for (int i = 0; i < runs; ++i) {
    Segment requestSegment = flow.client(request);
    if (sweep != nullptr) {
      sweep->run();
    }
    uint32_t q = h.timeRun(requestSegment, 1);
    if (requests != nullptr) {
      requests->push_back(q);
    }
    Segment responseSegment = flow.server(response);
    if (sweep != nullptr) {
      sweep->run();
    }
    uint32_t r = h.timeRun(responseSegment, 1);
    if (responses != nullptr) {
      responses->push_back(r);
    }
    if (i % kDrainEvery == kDrainEvery - 1) {
      *events += h.takeEvents().size();
    }
  }
  *events += h.takeEvents().size();
}

const std::string kChunkedResponse =
    "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nContent-Type: text/html\r\n"
    "Transfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n\r\n"
    "1f\r\n0123456789012345678901234567890\r\n0\r\n\r\n";

// A chunked response that never ends, one 1432-byte chunk per packet.
std::vector<uint32_t> timeChunkedBody(BpfHarness& h, uint16_t clientPort, int runs) {
  TcpFlow flow({"10.9.0.2", clientPort}, {"10.9.0.1", 8080}, true);
  h.runAll({flow.clientSyn(), flow.serverSynAck(), flow.client(kMinimalRequest),
            flow.server("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")});
  const std::string chunk = "598\r\n" + std::string(0x598, 'c') + "\r\n";
  std::vector<uint32_t> out;
  for (int i = 0; i < runs; ++i) {
    out.push_back(h.timeRun(flow.server(chunk), 1));
  }
  return out;
}

// Pipelined: a packet of 4 requests, then a packet of their 4 responses.
void timePipelined(BpfHarness& h, uint16_t clientPort, int runs, std::vector<uint32_t>* requests,
                   std::vector<uint32_t>* responses, size_t* events) {
  TcpFlow flow({"10.9.0.2", clientPort}, {"10.9.0.1", 8080}, true);
  h.runAll({flow.clientSyn(), flow.serverSynAck()});
  std::string fourRequests, fourResponses;
  for (int i = 0; i < 4; ++i) {
    fourRequests += kMinimalRequest;
    fourResponses += "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  }
  for (int i = 0; i < runs; ++i) {
    requests->push_back(h.timeRun(flow.client(fourRequests), 1));
    responses->push_back(h.timeRun(flow.server(fourResponses), 1));
    if (i % kDrainEvery == kDrainEvery - 1) {
      *events += h.takeEvents().size();
    }
  }
  *events += h.takeEvents().size();
}

struct Accuracy {
  size_t transactions = 0;
  size_t events = 0;
  size_t exact = 0;  // events whose method, path, status and flags are the expected ones
};

// Random conversations until `transactions` of them; events compared one by one.
Accuracy measureAccuracy(BpfHarness& h, size_t transactions) {
  Accuracy a;
  for (uint32_t seed = 1; a.transactions < transactions; ++seed) {
    ConversationGenerator g(seed);
    Conversation c = g.conversation();
    bool v6 = seed % 3 == 0;
    TcpFlow flow({v6 ? "fd09::2" : "10.9.1.2", static_cast<uint16_t>(1024 + seed % 60000)},
                 {v6 ? "fd09::1" : "10.9.1.1", 8080}, true, v6);
    std::vector<podlens_http_event> got = playConversation(h, g, c, flow);
    a.transactions += c.expected.size();
    a.events += got.size();
    for (size_t i = 0; i < got.size() && i < c.expected.size(); ++i) {
      const Txn& want = c.expected[i];
      a.exact += got[i].method == want.method && eventPath(got[i]) == want.path &&
                 got[i].status == want.status && got[i].flags == want.flags;
    }
  }
  return a;
}

}  // namespace

// --ab-sample N [cold]: N transactions of each kind a keep-alive connection sees, one line of
// trimmed means (raw ns per run) for bench/replay_ab.sh to compare between two builds.
int abSample(int runs, bool cold) {
  BpfHarness h;
  h.select(8080, PODLENS_DIR_INBOUND);
  size_t events = 0;
  std::vector<uint32_t> requests, responses, minimal, pages;
  std::optional<CacheSweep> sweep;
  if (cold) {
    sweep.emplace();
  }
  CacheSweep* between = sweep ? &*sweep : nullptr;
  timeTransactions(h, 50001, kRequest, kResponse, runs, &requests, &responses, &events,
                   between);
  timeTransactions(h, 50008, kMinimalRequest, kPageResponse, runs, &minimal, &pages, &events,
                   between);
  std::printf("AB request=%.1f response=%.1f minimal=%.1f page=%.1f events=%zu\n",
              trimmedMean(requests), trimmedMean(responses), trimmedMean(minimal),
              trimmedMean(pages), events);
  return events == 2 * static_cast<size_t>(runs) ? 0 : 2;
}

int main(int argc, char** argv) {
  bool smoke = argc > 1 && std::strcmp(argv[1], "--smoke") == 0;
  if (argc > 2 && std::strcmp(argv[1], "--ab-sample") == 0) {
    return abSample(std::atoi(argv[2]), argc > 3 && std::strcmp(argv[3], "cold") == 0);
  }
  if (argc > 2 && std::strcmp(argv[1], "--profile") == 0) {
    BpfHarness h;
    h.select(8080, PODLENS_DIR_INBOUND);
    size_t events = 0;
    std::vector<uint32_t> requests, responses;
    bool page = false, cold = false;
    for (int i = 3; i < argc; ++i) {
      page = page || std::strcmp(argv[i], "page") == 0;
      cold = cold || std::strcmp(argv[i], "cold") == 0;
    }
    std::optional<CacheSweep> sweep;
    if (cold) {
      sweep.emplace();
    }
    timeTransactions(h, 50001, page ? kMinimalRequest : kRequest,
                     page ? kPageResponse : kResponse, std::atoi(argv[2]), &requests,
                     &responses, &events, sweep ? &*sweep : nullptr);
    std::printf("request %.0f ns, response %.0f ns (raw), %zu events\n", median(requests),
                median(responses), events);
    return 0;
  }
  const uint32_t repeat = smoke ? 10000 : 2000000;
  const int singles = smoke ? 2000 : 100000;

  BpfHarness h;
  h.select(8080, PODLENS_DIR_INBOUND);
  null_tc* baseline = null_tc__open_and_load();
  if (baseline == nullptr) {
    std::fprintf(stderr, "cannot load the null baseline program (root needed)\n");
    return 1;
  }
  const int nullFd = bpf_program__fd(baseline->progs.null_tc);

  TcpFlow unselected({"10.9.0.2", 50000}, {"10.9.0.1", 9999}, true);
  Segment cold = unselected.client(std::string(1000, 'u'));
  double nullRepeat = BpfHarness::timeProgram(nullFd, cold, repeat);
  double unselectedRepeat = h.timeRun(cold, repeat);
  h.selectOn(kTestIfindex + 1000, 9998, PODLENS_DIR_INBOUND);
  TcpFlow unselectedPod({"10.9.0.2", 50009}, {"10.9.0.1", 9998}, true);
  double unselectedPodRepeat = h.timeRun(unselectedPod.client(std::string(1000, 'u')), repeat);
  std::vector<uint32_t> nullSingles;
  for (int i = 0; i < singles; ++i) {
    nullSingles.push_back(BpfHarness::timeProgram(nullFd, cold, 1));
  }
  double nullSingle = median(nullSingles);
  double statsCost = statisticsCostPerRun(nullFd, cold, repeat, nullRepeat);

  size_t events = 0;
  std::vector<uint32_t> requestRuns, responseRuns, minimalRuns;
  timeTransactions(h, 50001, kRequest, kResponse, singles, &requestRuns, &responseRuns, &events);
  timeTransactions(h, 50003, kMinimalRequest, kResponse, singles, &minimalRuns, nullptr, &events);
  std::vector<uint32_t> pageRuns;
  timeTransactions(h, 50008, kMinimalRequest, kPageResponse, singles, nullptr, &pageRuns,
                   &events);

  TcpFlow upload({"10.9.0.2", 50002}, {"10.9.0.1", 8080}, true);
  h.run(upload.clientSyn());
  h.run(upload.serverSynAck());
  h.run(upload.client("POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000000000\r\n\r\n"));
  const std::string bodyChunk(1448, 'b');
  std::vector<uint32_t> bodyRuns;
  for (int i = 0; i < singles; ++i) {
    bodyRuns.push_back(h.timeRun(upload.client(bodyChunk), 1));
  }

  std::vector<uint32_t> ackRuns;  // a pure ACK on a selected, open connection
  {
    TcpFlow flow({"10.9.0.2", 50007}, {"10.9.0.1", 8080}, true);
    h.runAll({flow.clientSyn(), flow.serverSynAck()});
    for (int i = 0; i < singles; ++i) {
      ackRuns.push_back(h.timeRun(flow.client("", kAck), 1));
    }
  }
  std::vector<uint32_t> chunkedBodyRuns = timeChunkedBody(h, 50004, singles);
  std::vector<uint32_t> chunkedRuns, pipelinedRequestRuns, pipelinedResponseRuns;
  {
    TcpFlow flow({"10.9.0.2", 50005}, {"10.9.0.1", 8080}, true);
    h.runAll({flow.clientSyn(), flow.serverSynAck()});
    for (int i = 0; i < singles; ++i) {
      h.run(flow.client(kMinimalRequest));
      chunkedRuns.push_back(h.timeRun(flow.server(kChunkedResponse), 1));
      if (i % kDrainEvery == kDrainEvery - 1) {
        events += h.takeEvents().size();
      }
    }
    events += h.takeEvents().size();
  }
  timePipelined(h, 50006, singles, &pipelinedRequestRuns, &pipelinedResponseRuns, &events);

  uint64_t lossTotal = 0;
  for (uint64_t v : h.losses()) {
    lossTotal += v;
  }
  Accuracy accuracy = measureAccuracy(h, smoke ? 1000 : 10000);
  uint64_t mixLosses = 0;
  for (uint64_t v : h.losses()) {
    mixLosses += v;
  }
  mixLosses -= lossTotal;
  null_tc__destroy(baseline);

  std::vector<Row> rows = {
      {"unselected packet", unselectedRepeat, unselectedRepeat - nullRepeat, 50},
      {"unselected pod, port selected elsewhere", unselectedPodRepeat,
       unselectedPodRepeat - nullRepeat, 50},
      {"pure ACK (selected connection)", median(ackRuns), median(ackRuns) - nullSingle, 0},
      {"selected body packet", median(bodyRuns), median(bodyRuns) - nullSingle, 0},
      {"request header packet (curl-like)", median(requestRuns),
       median(requestRuns) - nullSingle, 300},
      {"request header packet (minimal)", median(minimalRuns), median(minimalRuns) - nullSingle,
       300},
      {"response header packet (+event)", median(responseRuns),
       median(responseRuns) - nullSingle, 0},
      {"nginx page: headers + 1 KB body (+event)", median(pageRuns),
       median(pageRuns) - nullSingle, 0},
      {"chunked body packet (1 chunk, 1439 B)", median(chunkedBodyRuns),
       median(chunkedBodyRuns) - nullSingle, 0},
      {"chunked response packet (+event)", median(chunkedRuns), median(chunkedRuns) - nullSingle,
       0},
      {"pipelined packet, 4 requests", median(pipelinedRequestRuns),
       median(pipelinedRequestRuns) - nullSingle, 0},
      {"pipelined packet, 4 responses (+4 ev)", median(pipelinedResponseRuns),
       median(pipelinedResponseRuns) - nullSingle, 0},
  };
  std::printf("podlens data plane through BPF_PROG_TEST_RUN (%s)\n", smoke ? "smoke" : "full");
  std::printf("null TC program, same harness: %.0f ns/run with repeat=%u, %.0f ns/run single\n",
              nullRepeat, repeat, nullSingle);
  if (statsCost >= 0) {
    std::printf("BPF run-time statistics on (kernel.bpf_stats_enabled): +%.0f ns per program run\n",
                statsCost);
  }
  std::printf("%-40s %9s %9s %8s\n", "packet", "raw ns", "net ns", "target");
  for (const Row& r : rows) {
    if (r.target > 0) {
      std::printf("%-40s %9.0f %9.0f %5.0f %s\n", r.name, r.raw, r.net, r.target,
                  r.net <= r.target ? "ok" : "MISSED");
    } else {
      std::printf("%-40s %9.0f %9.0f %8s\n", r.name, r.raw, r.net, "-");
    }
  }
  // curl-like, minimal, page, chunked, and 4 per pipelined round
  const size_t transactions = 8 * static_cast<size_t>(singles);
  std::printf("timed transactions: %zu events for %zu completed; kernel losses: %llu\n", events,
              transactions, static_cast<unsigned long long>(lossTotal));
  std::printf("accuracy over a random mix: %zu events for %zu transactions, %zu exact "
              "(method, path, status, flags); kernel losses: %llu\n",
              accuracy.events, accuracy.transactions, accuracy.exact,
              static_cast<unsigned long long>(mixLosses));
  bool ok = events == transactions && lossTotal == 0 && accuracy.events == accuracy.transactions &&
            accuracy.exact == accuracy.transactions && mixLosses == 0;
  return ok ? 0 : 2;
}
