// rate_client: an HTTP/1.1 GET load generator that does not fall for coordinated omission.
//
// Open loop (--rate R): request i is due at start + i/R whatever happened before it. A due
// request takes an idle keep-alive connection of the pool (or opens a new connection with
// --new-connection); when none is free it waits in a queue, and its latency still runs from
// the time it was due. A slow server therefore shows up as the queueing delay the users of a
// constant-rate service would see, not as fewer, faster samples (wrk's closed loop).
// Closed loop (--rate 0): each connection sends its next request as soon as the previous one
// is answered: the maximum throughput, latency measured from the actual send.
//
// One epoll loop per thread (--threads, default 1); thread k owns every T-th due time and
// connection. Prints a human summary and one "RESULT key=value ..." line for scripts.
//   rate_client --url http://IP:PORT/PATH [--rate R] [--duration S] [--warmup S]
//               [--connections N] [--new-connection] [--threads T] [--drain S]
//               [--histogram FILE]   also writes the run's latency histogram to FILE
//               [--phase-ms P]       with K --url and no --rate: alternating phases (below)
// Interleaved (--url given K times, K <= 16): the due requests go to the K servers in turn,
// each block of K consecutive requests to every server once, in an order drawn afresh for each
// block (R is the total), each server with its own N connections and histogram (--histogram
// once per --url, in the same order), and one RESULT line per server, starting with url=1..K.
// The servers' requests are sent in the same moments, so a stall of the machine or a drift
// falls on all of them: ratios between them are paired within the run. Requests that wait for
// a connection go out oldest first, whichever server they are for: no server goes first after
// a stall of this client.
// Alternating phases (closed loop, --url K times, --phase-ms P): time is cut into phases of P
// ms, each cycle of K phases gives every server one, in an order drawn afresh for each cycle,
// and only the phase's server gets requests: each server runs alone at its maximum, a few
// hundred milliseconds apart from the others, so a drift of the machine slower than a cycle
// falls on all alike. Answers count for their server only inside its own phases (the few in
// flight at a switch count for nobody); the window is whole cycles. Besides the RESULT lines,
// one "CYCLE url=U index=I achieved_rps=X" line per server and cycle, for ratios cycle by cycle.
//   rate_client --merge FILE...  the percentiles of the histograms' requests pooled (one
//                                RESULT line): every request of several runs counts once
//   rate_client --self-test      checks the histogram against known distributions
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <deque>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "histogram.hpp"

using podlens::bench::LatencyHistogram;

namespace {

uint64_t nowNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// One server the requests go to.
struct Target {
  sockaddr_in addr{};
  std::string host;  // "IP:PORT" for the Host header
  std::string path = "/";
  std::string histogramPath;  // where its histogram goes ("": nowhere)
};

constexpr size_t kMaxTargets = 16;  // --url given at most this many times

// The server of request `global` (over every thread's requests) among k: the requests of block
// global / k go to the k servers once each, in the order of a Fisher-Yates shuffle seeded by
// the block number (splitmix64), so no server keeps a place in the blocks.
size_t interleavedTarget(uint64_t global, size_t k) {
  if (k <= 1) {
    return 0;
  }
  uint64_t state = global / k;
  auto next = [&state] {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  };
  size_t order[kMaxTargets];
  for (size_t i = 0; i < k; ++i) {
    order[i] = i;
  }
  for (size_t i = k - 1; i > 0; --i) {
    std::swap(order[i], order[next() % (i + 1)]);
  }
  return order[global % k];
}

struct Options {
  std::vector<Target> targets;
  double rate = 0;  // 0: closed loop; the total over the targets
  double duration = 10;
  double warmup = 1;
  double drain = 2;  // after the schedule ends, how long answers are awaited
  int connections = 16;
  bool newConnection = false;
  int threads = 1;
  double phaseMs = 0;  // > 0: closed loop in alternating phases of this length
};

struct Totals {
  LatencyHistogram latency;
  uint64_t completed = 0;  // answered requests inside the measurement window
  uint64_t errors = 0;     // connect/reset/parse failures and non-2xx answers in the window
  uint64_t timeouts = 0;   // window requests never answered (sent or not) by the drain's end
  uint64_t lastDoneNs = 0;
  std::vector<uint64_t> cycleCompleted;  // alternating phases: answers in each whole cycle
};

// One slot of the pool: a keep-alive connection, or in new-connection mode the place of one
// connection at a time. A slot is free (in the idle list) or assigned to one request.
struct Conn {
  size_t target = 0;  // index in Options::targets
  int fd = -1;
  bool free = true;
  bool connecting = false;
  bool busy = false;         // a request is in progress
  bool awaitingEof = false;  // new-connection mode: answered, waiting for the server's FIN
  uint64_t due = 0;          // the request's intended send time
  size_t sent = 0;
  std::string head;  // response bytes up to the end of the header
  bool headDone = false;
  int status = 0;
  int64_t bodyLeft = 0;
};

class Worker {
 public:
  Worker(const Options& o, int index, uint64_t start)
      : o_(o), index_(index), start_(start), requests_(o.targets.size()),
        idle_(o.targets.size()), queue_(o.targets.size()), totals_(o.targets.size()) {
    for (size_t t = 0; t < o.targets.size(); ++t) {
      requests_[t] = "GET " + o.targets[t].path + " HTTP/1.1\r\nHost: " + o.targets[t].host +
                     "\r\nUser-Agent: podlens-rate-client\r\n" +
                     (o.newConnection ? "Connection: close\r\n" : "") + "\r\n";
    }
    windowStart_ = start + static_cast<uint64_t>(o.warmup * 1e9);
    windowEnd_ = windowStart_ + static_cast<uint64_t>(o.duration * 1e9);
    if (phased()) {  // the window in whole cycles: every server has as many phases in it
      phaseNs_ = static_cast<uint64_t>(o.phaseMs * 1e6);
      windowStart_ = start + (windowStart_ - start + cycleNs() - 1) / cycleNs() * cycleNs();
      windowEnd_ = windowStart_ + cycles(o) * cycleNs();
      for (Totals& t : totals_) {
        t.cycleCompleted.assign(cycles(o), 0);
      }
    }
    int share = o.connections / o.threads + (index < o.connections % o.threads ? 1 : 0);
    conns_.resize(std::max(share, 1) * o.targets.size());  // never resized: idle_ points in
    for (size_t k = 0; k < conns_.size(); ++k) {
      conns_[k].target = k % o.targets.size();
    }
  }

  void run();
  const Totals& totals(size_t target) const { return totals_[target]; }
  // Alternating phases: the whole cycles in the window (at least one)
  static size_t cycles(const Options& o) {
    double cycle = o.phaseMs / 1e3 * static_cast<double>(o.targets.size());
    return std::max<size_t>(1, static_cast<size_t>(o.duration / cycle + 1e-9));
  }

 private:
  bool inWindow(uint64_t t) const { return t >= windowStart_ && t < windowEnd_; }
  bool closedLoop() const { return o_.rate <= 0; }
  bool phased() const { return o_.phaseMs > 0; }
  uint64_t phaseOf(uint64_t t) const { return t > start_ ? (t - start_) / phaseNs_ : 0; }
  uint64_t cycleNs() const { return phaseNs_ * queue_.size(); }  // one phase per server
  // The server whose phase holds t (alternating phases); every server's otherwise
  bool active(size_t target, uint64_t t) const {
    return !phased() || interleavedTarget(phaseOf(t), queue_.size()) == target;
  }
  uint64_t phaseEnd(uint64_t t) const {
    return phased() ? start_ + (phaseOf(t) + 1) * phaseNs_ : windowEnd_;
  }
  uint64_t dueTime(uint64_t i) const {
    return start_ + static_cast<uint64_t>(static_cast<double>(globalIndex(i)) * 1e9 / o_.rate);
  }
  // The index over every thread's due requests of this thread's i-th; it picks the server.
  uint64_t globalIndex(uint64_t i) const { return i * o_.threads + index_; }
  size_t idleCount() const;
  bool open(Conn& c);
  void close(Conn& c);
  void release(Conn& c);
  void assign(Conn& c, uint64_t due);
  void dispatch();
  void onEvent(Conn& c, uint32_t events);
  void trySend(Conn& c);
  void onReadable(Conn& c);
  bool consume(Conn& c, const char* data, size_t n);
  void finish(Conn& c, bool ok);
  void fail(Conn& c);
  void countError(const Conn& c, uint64_t due) {
    totals_[c.target].errors += inWindow(due) ? 1 : 0;
  }

  const Options& o_;
  int index_;
  uint64_t start_, windowStart_, windowEnd_;
  uint64_t phaseNs_ = 0;  // alternating phases: the length of one
  int epoll_ = -1;
  std::vector<Conn> conns_;
  // Per target:
  std::vector<std::string> requests_;
  std::vector<std::vector<Conn*>> idle_;
  std::vector<std::deque<uint64_t>> queue_;  // due times waiting for a free slot
  std::vector<Totals> totals_;
};

size_t Worker::idleCount() const {
  size_t n = 0;
  for (const auto& idle : idle_) {
    n += idle.size();
  }
  return n;
}

bool Worker::open(Conn& c) {
  c.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c.fd < 0) {
    std::perror("rate_client: socket");
    std::exit(2);
  }
  int one = 1;
  setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  const sockaddr_in& addr = o_.targets[c.target].addr;
  int r = connect(c.fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  if (r < 0 && errno != EINPROGRESS) {
    close(c);
    return false;
  }
  c.connecting = r < 0;
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.ptr = &c;
  epoll_ctl(epoll_, EPOLL_CTL_ADD, c.fd, &ev);
  return true;
}

void Worker::close(Conn& c) {
  if (c.fd >= 0) {
    ::close(c.fd);  // also leaves the epoll set
  }
  c.fd = -1;
  c.connecting = false;
  c.awaitingEof = false;
}

void Worker::release(Conn& c) {
  c.busy = false;
  if (!c.free) {
    c.free = true;
    idle_[c.target].push_back(&c);
  }
}

void Worker::assign(Conn& c, uint64_t due) {
  c.free = false;
  if ((o_.newConnection || c.fd < 0) && !open(c)) {
    countError(c, due);
    release(c);
    return;
  }
  c.busy = true;
  c.due = due;
  c.sent = 0;
  c.head.clear();
  c.headDone = false;
  if (!c.connecting) {
    trySend(c);
  }
}

// Hands queued requests to free slots, the oldest due time first across the targets: after a
// stall of this client, the targets' backlogs go out in the order they fell due, not one
// target's whole backlog first (which kept the first target's p99 below the others').
void Worker::dispatch() {
  const size_t none = queue_.size();
  for (;;) {
    size_t oldest = none;
    for (size_t t = 0; t < queue_.size(); ++t) {
      if (!queue_[t].empty() && !idle_[t].empty() &&
          (oldest == none || queue_[t].front() < queue_[oldest].front())) {
        oldest = t;
      }
    }
    if (oldest == none) {
      return;
    }
    Conn* c = idle_[oldest].back();
    idle_[oldest].pop_back();
    uint64_t due = queue_[oldest].front();
    queue_[oldest].pop_front();
    assign(*c, due);
  }
}

void Worker::trySend(Conn& c) {
  const std::string& request = requests_[c.target];
  while (c.sent < request.size()) {
    ssize_t n = send(c.fd, request.data() + c.sent, request.size() - c.sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno != EAGAIN) {
        fail(c);
      }
      return;
    }
    c.sent += static_cast<size_t>(n);
  }
}

// A connection broke: its request (if any) is an error; a keep-alive slot reconnects so an
// unreachable server shows as errors rather than as a stalled pool.
void Worker::fail(Conn& c) {
  if (c.busy) {
    countError(c, c.due);
  }
  close(c);
  if (!o_.newConnection) {
    open(c);
  }
  release(c);
}

void Worker::finish(Conn& c, bool ok) {
  uint64_t done = nowNs();
  c.busy = false;
  Totals& totals = totals_[c.target];
  if (closedLoop() ? inWindow(done) && active(c.target, done) : inWindow(c.due)) {
    if (ok) {
      totals.latency.record(done - c.due);
      ++totals.completed;
      if (phased()) {
        ++totals.cycleCompleted[(done - windowStart_) / cycleNs()];
      }
      totals.lastDoneNs = std::max(totals.lastDoneNs, done);
    } else {
      ++totals.errors;
    }
  }
  if (o_.newConnection) {
    c.awaitingEof = true;  // the server closes first, so no TIME_WAIT piles up on this side
  } else {
    release(c);
  }
}

// Feeds response bytes of the current request; false when the response is malformed.
bool Worker::consume(Conn& c, const char* data, size_t n) {
  if (c.headDone) {
    c.bodyLeft -= static_cast<int64_t>(n);
  } else {
    c.head.append(data, n);
    size_t end = c.head.find("\r\n\r\n");
    if (end == std::string::npos) {
      return c.head.size() < 16384;
    }
    std::string_view head(c.head.data(), end + 2);
    if (head.size() < 12 || head.substr(0, 7) != "HTTP/1.") {
      return false;
    }
    c.status = std::atoi(c.head.c_str() + 9);
    c.bodyLeft = -1;
    for (size_t line = head.find("\r\n"); line + 2 < head.size();
         line = head.find("\r\n", line + 2)) {
      std::string_view h = head.substr(line + 2);
      if (h.size() > 15 && strncasecmp(h.data(), "content-length:", 15) == 0) {
        c.bodyLeft = std::atoll(h.data() + 15);
      }
    }
    if (c.bodyLeft < 0) {
      return false;  // chunked or close-delimited bodies: not needed by the benchmarks
    }
    c.headDone = true;
    c.bodyLeft -= static_cast<int64_t>(c.head.size() - end - 4);
  }
  if (c.bodyLeft <= 0) {
    finish(c, c.bodyLeft == 0 && c.status >= 200 && c.status < 300);
  }
  return true;
}

void Worker::onReadable(Conn& c) {
  char buf[65536];
  for (;;) {
    ssize_t n = recv(c.fd, buf, sizeof buf, 0);
    if (n > 0) {
      if (c.busy && !consume(c, buf, static_cast<size_t>(n))) {
        fail(c);
        return;
      }
      continue;
    }
    if (n < 0 && errno == EAGAIN) {
      return;
    }
    // EOF or error: the end of an answered new connection, an idle keep-alive connection
    // the server closed, or a failure in the middle of a request.
    if (c.busy) {
      fail(c);
      return;
    }
    close(c);
    if (o_.newConnection) {
      release(c);
    } else {
      open(c);
    }
    return;
  }
}

void Worker::onEvent(Conn& c, uint32_t events) {
  if (c.fd < 0) {
    return;
  }
  if (c.connecting && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      fail(c);
      return;
    }
    c.connecting = false;
  }
  if (c.busy && !c.connecting && (events & EPOLLOUT) && c.sent < requests_[c.target].size()) {
    trySend(c);
  }
  if (c.fd >= 0 && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
    onReadable(c);
  }
}

void Worker::run() {
  epoll_ = epoll_create1(EPOLL_CLOEXEC);
  for (Conn& c : conns_) {
    if (!o_.newConnection) {
      open(c);
    }
    idle_[c.target].push_back(&c);
  }
  const uint64_t drainEnd = windowEnd_ + static_cast<uint64_t>(o_.drain * 1e9);
  uint64_t next = 0;  // this thread's next due request (open loop)
  bool sending = true;
  std::vector<epoll_event> events(256);
  for (;;) {
    uint64_t now = nowNs();
    sending = sending && now < windowEnd_;
    if (sending && closedLoop()) {
      for (size_t t = 0; t < queue_.size(); ++t) {  // every free slot sends at once
        if (active(t, now)) {
          queue_[t].insert(queue_[t].end(), idle_[t].size(), now);
        }
      }
    } else if (sending) {
      for (uint64_t due = dueTime(next); due <= now && due < windowEnd_; due = dueTime(++next)) {
        queue_[interleavedTarget(globalIndex(next), queue_.size())].push_back(due);
      }
    }
    dispatch();
    bool queued = false;
    for (auto& queue : queue_) {
      if (closedLoop()) {
        queue.clear();  // a closed loop never queues: what found no slot was never due
      }
      queued = queued || !queue.empty();
    }
    bool idle = !queued && idleCount() == conns_.size();
    if ((!sending && idle) || now >= drainEnd) {
      break;
    }
    uint64_t wake = drainEnd;
    if (sending && closedLoop()) {  // a slot whose connect failed retries after 1 ms
      size_t sendable = 0;
      for (size_t t = 0; t < idle_.size(); ++t) {
        sendable += active(t, now) ? idle_[t].size() : 0;
      }
      uint64_t until = std::min(phaseEnd(now), windowEnd_);
      wake = sendable == 0 ? until : std::min(now + 1000000, until);
    } else if (sending) {
      wake = std::min(dueTime(next), windowEnd_);
    }
    uint64_t wait = wake > now ? wake - now : 0;
    timespec ts{static_cast<time_t>(wait / 1000000000ull),
                static_cast<long>(wait % 1000000000ull)};
    int n = epoll_pwait2(epoll_, events.data(), static_cast<int>(events.size()), &ts, nullptr);
    for (int i = 0; i < n; ++i) {
      onEvent(*static_cast<Conn*>(events[i].data.ptr), events[i].events);
    }
  }
  // Requests of the window never answered: still queued, or in flight when the drain ended.
  for (size_t t = 0; t < queue_.size(); ++t) {
    for (uint64_t due : queue_[t]) {
      totals_[t].timeouts += inWindow(due) ? 1 : 0;
    }
  }
  for (Conn& c : conns_) {
    totals_[c.target].timeouts += c.busy && inWindow(c.due) ? 1 : 0;
    close(c);
  }
  ::close(epoll_);
}

void usage() {
  std::fprintf(stderr,
               "usage: rate_client --url http://IP:PORT/PATH [--rate R (0: max)] [--duration S]\n"
               "         [--warmup S] [--drain S] [--connections N] [--new-connection]\n"
               "         [--threads T] [--histogram FILE] [--phase-ms P]\n"
               "       (--url K times: interleaved over K servers, --histogram once per --url;\n"
               "        with --phase-ms and no --rate, each at its maximum in turn, P ms each)\n"
               "       rate_client --merge FILE...\n"
               "       rate_client --self-test\n");
  std::exit(2);
}

bool parseUrl(const std::string& url, Target& t) {
  const std::string scheme = "http://";
  if (url.rfind(scheme, 0) != 0) {
    return false;
  }
  std::string rest = url.substr(scheme.size());
  size_t slash = rest.find('/');
  t.host = rest.substr(0, slash);
  t.path = slash == std::string::npos ? "/" : rest.substr(slash);
  size_t colon = t.host.find(':');
  std::string ip = t.host.substr(0, colon);
  int port = colon == std::string::npos ? 80 : std::atoi(t.host.c_str() + colon + 1);
  t.addr.sin_family = AF_INET;
  t.addr.sin_port = htons(static_cast<uint16_t>(port));
  return port > 0 && port < 65536 && inet_pton(AF_INET, ip.c_str(), &t.addr.sin_addr) == 1;
}

Options parseOptions(int argc, char** argv) {
  Options o;
  std::vector<std::string> histograms;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        usage();
      }
      return argv[++i];
    };
    if (a == "--url") {
      o.targets.emplace_back();
      if (!parseUrl(value(), o.targets.back())) {
        std::fprintf(stderr, "rate_client: --url must be http://IPv4:PORT/PATH\n");
        std::exit(2);
      }
    } else if (a == "--rate") {
      o.rate = std::atof(value().c_str());
    } else if (a == "--duration") {
      o.duration = std::atof(value().c_str());
    } else if (a == "--warmup") {
      o.warmup = std::atof(value().c_str());
    } else if (a == "--drain") {
      o.drain = std::atof(value().c_str());
    } else if (a == "--connections") {
      o.connections = std::atoi(value().c_str());
    } else if (a == "--threads") {
      o.threads = std::atoi(value().c_str());
    } else if (a == "--new-connection") {
      o.newConnection = true;
    } else if (a == "--histogram") {
      histograms.push_back(value());
    } else if (a == "--phase-ms") {
      o.phaseMs = std::atof(value().c_str());
    } else {
      usage();
    }
  }
  if (o.targets.empty() || o.duration <= 0 || o.warmup < 0 || o.connections < 1 ||
      o.threads < 1 || o.threads > o.connections || o.rate < 0) {
    usage();
  }
  if (o.targets.size() > kMaxTargets) {
    std::fprintf(stderr, "rate_client: at most %zu --url\n", kMaxTargets);
    std::exit(2);
  }
  if (o.phaseMs != 0 && (o.phaseMs < 1 || o.rate > 0 || o.targets.size() < 2)) {
    std::fprintf(stderr, "rate_client: --phase-ms takes P >= 1 with at least two --url and no "
                         "--rate (a closed loop)\n");
    std::exit(2);
  }
  if (!histograms.empty() && histograms.size() != o.targets.size()) {
    std::fprintf(stderr, "rate_client: give --histogram once per --url, or not at all\n");
    std::exit(2);
  }
  for (size_t t = 0; t < histograms.size(); ++t) {
    o.targets[t].histogramPath = histograms[t];
  }
  return o;
}

// The histogram against distributions whose quantiles are known exactly.
int selfTest() {
  LatencyHistogram h;
  for (uint64_t v = 1; v <= 1000000; ++v) {
    h.record(v * 1000);  // 1 us .. 1 s, uniform
  }
  int failures = 0, checks = 0;
  auto expect = [&](const char* what, double got, double want, double tolerance) {
    bool ok = std::fabs(got - want) <= tolerance * want;
    std::printf("%s %-28s got %.0f want %.0f\n", ok ? "ok  " : "FAIL", what, got, want);
    failures += ok ? 0 : 1;
    ++checks;
  };
  expect("uniform p50", h.quantile(0.5), 500000000, 0.01);
  expect("uniform p99", h.quantile(0.99), 990000000, 0.01);
  expect("uniform p99.9", h.quantile(0.999), 999000000, 0.01);
  expect("uniform max", h.max(), 1000000000, 0);
  expect("uniform mean", h.mean(), 500000500, 0.0001);
  LatencyHistogram small;
  for (uint64_t v = 0; v < 200; ++v) {
    small.record(v);  // the exact range
  }
  expect("exact p50", small.quantile(0.5), 99, 0);
  LatencyHistogram a, b;
  a.record(100);
  b.record(1000000);
  a.merge(b);
  expect("merged p100", a.quantile(1.0), 1000000, 0);
  expect("merged p50", a.quantile(0.5), 100, 0);
  std::FILE* file = std::tmpfile();
  LatencyHistogram reread;
  bool saved = file && h.save(file) && std::fseek(file, 0, SEEK_SET) == 0 && reread.load(file);
  if (file) {
    std::fclose(file);
  }
  expect("saved and reread", saved, 1, 0);
  expect("reread p99", reread.quantile(0.99), h.quantile(0.99), 0);
  expect("reread count, mean", reread.count() + reread.mean(), h.count() + h.mean(), 0);
  auto roundTrip = [](const LatencyHistogram& from, const char* cut) {
    std::FILE* f = std::tmpfile();
    if (!f || !from.save(f)) {
      return -1;
    }
    long size = std::ftell(f);
    if (cut != nullptr) {  // a file cut short: its last bucket line lost
      std::fseek(f, 0, SEEK_SET);
      std::string text(static_cast<size_t>(size), '\0');
      size_t got = std::fread(text.data(), 1, text.size(), f);
      text.resize(got);
      text.erase(text.rfind('\n', text.size() - 2) + 1);
      std::fclose(f);
      f = std::tmpfile();
      std::fputs(text.c_str(), f);
    }
    std::fseek(f, 0, SEEK_SET);
    LatencyHistogram to;
    to.record(5);  // load replaces what was there
    bool ok = to.load(f);
    std::fclose(f);
    return ok ? static_cast<int>(to.count()) : -2;
  };
  expect("empty saved and reread", roundTrip(LatencyHistogram{}, nullptr), 0, 0);
  expect("a truncated file refused", roundTrip(h, "cut"), -2, 0);
  for (size_t i = 1; i < LatencyHistogram::kBuckets; ++i) {
    if (LatencyHistogram::lowestOf(i) != LatencyHistogram::highestOf(i - 1) + 1 ||
        LatencyHistogram::indexOf(LatencyHistogram::lowestOf(i)) != i) {
      std::printf("FAIL bucket %zu is not contiguous\n", i);
      ++failures;
      break;
    }
  }
  ++checks;
  // Interleaving: every block of K requests a permutation of the servers, and each server at
  // each place of the blocks about as often (3,000 blocks of 3: 1,000 each).
  size_t place[3][3] = {};
  bool permutations = true;
  for (uint64_t block = 0; block < 3000; ++block) {
    bool seen[3] = {};
    for (size_t i = 0; i < 3; ++i) {
      size_t target = interleavedTarget(3 * block + i, 3);
      permutations = permutations && target < 3 && !seen[target];
      seen[target % 3] = true;
      ++place[target % 3][i];
    }
  }
  expect("every block a permutation", permutations, 1, 0);
  for (size_t target = 0; target < 3; ++target) {
    expect("a server first in a block", place[target][0], 1000, 0.1);
    expect("a server last in a block", place[target][2], 1000, 0.1);
  }
  expect("one server: always it", interleavedTarget(12345, 1), 0, 0);
  std::printf("%d passed, %d failed\n", checks - failures, failures);
  return failures == 0 ? 0 : 1;
}

// Achieved rate: answers over the window; in the open loop the window stretches to the last
// answer of a request due in it, so an overloaded server cannot look as fast as the schedule.
// With several targets, url is the target's number (1..K) and rate its share of --rate; 0 for
// a single target, whose lines stay as they always were.
void report(const Options& o, const Totals& t, uint64_t windowStart, size_t url) {
  double rate = o.rate / static_cast<double>(o.targets.size());
  double window = o.duration;
  if (o.phaseMs > 0) {  // the server's own phases in the window
    window = static_cast<double>(Worker::cycles(o)) * o.phaseMs / 1e3;
  }
  if (rate > 0 && t.lastDoneNs > windowStart) {
    window = std::max(window, (t.lastDoneNs - windowStart) / 1e9);
  }
  double achieved = t.completed / window;
  auto us = [&](double q) { return t.latency.quantile(q) / 1000.0; };
  std::string of = rate > 0 ? " of " + std::to_string(static_cast<long>(rate)) : "";
  std::string which = url ? " url " + std::to_string(url) : "";
  std::fprintf(stderr,
               "rate_client%s: %s %s, %d connection%s, %.1f s: %.0f requests/s%s, %llu answered, "
               "%llu errors, %llu timeouts%s\n"
               "  latency us: p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f  mean %.1f\n",
               which.c_str(), rate > 0 ? "open loop" : "closed loop",
               o.newConnection ? "new connection per request" : "keep-alive", o.connections,
               o.connections == 1 ? "" : "s", o.duration, achieved, of.c_str(),
               static_cast<unsigned long long>(t.completed),
               static_cast<unsigned long long>(t.errors),
               static_cast<unsigned long long>(t.timeouts),
               o.phaseMs > 0 ? " (in its own phases)" : "", us(0.5), us(0.9), us(0.99),
               us(0.999), t.latency.max() / 1000.0, t.latency.mean() / 1000.0);
  std::string urlKey = url ? "url=" + std::to_string(url) + " " : "";
  std::printf(
      "RESULT %starget_rps=%.0f achieved_rps=%.1f completed=%llu errors=%llu timeouts=%llu "
      "p50_us=%.1f p90_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f mean_us=%.1f\n",
      urlKey.c_str(), rate, achieved, static_cast<unsigned long long>(t.completed),
      static_cast<unsigned long long>(t.errors), static_cast<unsigned long long>(t.timeouts),
      us(0.5), us(0.9), us(0.99), us(0.999), t.latency.max() / 1000.0,
      t.latency.mean() / 1000.0);
}

bool saveHistogram(const LatencyHistogram& h, const std::string& path) {
  std::FILE* out = std::fopen(path.c_str(), "w");
  bool ok = out && h.save(out);
  if (out && std::fclose(out) != 0) {
    ok = false;
  }
  if (!ok) {
    std::fprintf(stderr, "rate_client: cannot write %s: %s\n", path.c_str(), std::strerror(errno));
  }
  return ok;
}

// --merge: the histograms of several runs pooled, as one RESULT line of percentiles.
int mergeHistograms(int count, char** paths) {
  LatencyHistogram all;
  for (int i = 0; i < count; ++i) {
    LatencyHistogram one;
    std::FILE* in = std::fopen(paths[i], "r");
    bool ok = in && one.load(in);
    if (in) {
      std::fclose(in);
    }
    if (!ok) {
      std::fprintf(stderr, "rate_client: %s is not a histogram rate_client wrote\n", paths[i]);
      return 1;
    }
    all.merge(one);
  }
  auto us = [&](double q) { return all.quantile(q) / 1000.0; };
  std::printf(
      "RESULT runs=%d count=%llu p50_us=%.1f p90_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f "
      "mean_us=%.1f\n",
      count, static_cast<unsigned long long>(all.count()), us(0.5), us(0.9), us(0.99), us(0.999),
      all.max() / 1000.0, all.mean() / 1000.0);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::strcmp(argv[1], "--self-test") == 0) {
    return selfTest();
  }
  if (argc >= 3 && std::strcmp(argv[1], "--merge") == 0) {
    return mergeHistograms(argc - 2, argv + 2);
  }
  Options o = parseOptions(argc, argv);
  uint64_t start = nowNs() + 20000000;  // 20 ms for the pools to connect
  std::vector<Worker> workers;
  workers.reserve(o.threads);
  for (int i = 0; i < o.threads; ++i) {
    workers.emplace_back(o, i, start);
  }
  std::vector<std::thread> threads;
  for (Worker& w : workers) {
    threads.emplace_back([&w] { w.run(); });
  }
  for (std::thread& thread : threads) {
    thread.join();
  }
  bool saved = true;
  for (size_t target = 0; target < o.targets.size(); ++target) {
    Totals all;
    for (const Worker& w : workers) {
      const Totals& t = w.totals(target);
      all.latency.merge(t.latency);
      all.completed += t.completed;
      all.errors += t.errors;
      all.timeouts += t.timeouts;
      all.lastDoneNs = std::max(all.lastDoneNs, t.lastDoneNs);
      all.cycleCompleted.resize(t.cycleCompleted.size());
      for (size_t i = 0; i < t.cycleCompleted.size(); ++i) {
        all.cycleCompleted[i] += t.cycleCompleted[i];
      }
    }
    report(o, all, start + static_cast<uint64_t>(o.warmup * 1e9),
           o.targets.size() > 1 ? target + 1 : 0);
    for (size_t i = 0; i < all.cycleCompleted.size(); ++i) {
      std::printf("CYCLE url=%zu index=%zu achieved_rps=%.1f\n", target + 1, i + 1,
                  static_cast<double>(all.cycleCompleted[i]) * 1e3 / o.phaseMs);
    }
    const std::string& path = o.targets[target].histogramPath;
    saved = (path.empty() || saveHistogram(all.latency, path)) && saved;
  }
  return saved ? 0 : 1;
}
