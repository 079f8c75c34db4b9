// User-space cost of turning kernel events into metrics, on one core (no root, no BPF):
//
//   route            resolveRoute alone: policy templates, else the id heuristic
//   aggregate        Aggregator::record per event (route, lookup, two histograms, the lock)
//   hostile          every event a new path: the series cap and overflow path
//   render           Aggregator::render of the resulting exposition
//
// Realistic mix: 100 pods under 10 policies with 5 route templates each (50 routes, Zipf-like
// popularity), ids in the paths (numbers, UUIDs, hex), 80% inbound with templates, 20%
// outbound resolved by the heuristic; methods and statuses skewed as in production traffic.
// Target: >= 1 M events/s aggregated. Usage: aggregate_bench [--smoke]
#include <podlens/controller/aggregator.hpp>
#include <podlens/controller/selectors.hpp>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

using namespace podlens::controller;

namespace {

constexpr int kPods = 100;
constexpr int kPolicies = 10;
constexpr int kRoutesPerPolicy = 5;

struct Input {
  podlens_http_event event;
  PodId pod;
  const RouteMatcher* routes;
};

double seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

long rssKb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      return std::stol(line.substr(6));
    }
  }
  return -1;
}

std::string templateFor(int policy, int route) {
  static const char* kShapes[] = {"/api/v1/{kind}/{id}", "/api/v1/{kind}/{id}/items",
                                  "/api/v1/{kind}", "/static/*", "/healthz"};
  std::string t = kShapes[route];
  size_t k = t.find("{kind}");
  if (k != std::string::npos) {
    t.replace(k, 6, "svc" + std::to_string(policy));
  }
  return t;
}

std::string fill(const std::string& tpl, std::mt19937_64& rng) {
  std::string out;
  size_t i = 0;
  while (i < tpl.size()) {
    if (tpl[i] == '{') {
      size_t end = tpl.find('}', i);
      uint64_t r = rng();
      char buf[40];
      if (r % 3 == 0) {
        std::snprintf(buf, sizeof(buf), "%llu", static_cast<unsigned long long>(r % 1000000));
      } else if (r % 3 == 1) {
        std::snprintf(buf, sizeof(buf), "%08x-%04x-4%03x-a%03x-%012llx", uint32_t(r),
                      uint32_t(r >> 32) & 0xffff, uint32_t(r >> 8) & 0xfff,
                      uint32_t(r >> 20) & 0xfff, static_cast<unsigned long long>(r >> 16));
      } else {
        std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(r));
      }
      out += buf;
      i = end + 1;
    } else if (tpl[i] == '*') {
      out += "js/app." + std::to_string(rng() % 7) + ".js";
      ++i;
    } else {
      out += tpl[i++];
    }
  }
  return out;
}

void setPath(podlens_http_event& e, const std::string& path) {
  e.path_len = static_cast<uint16_t>(std::min<size_t>(path.size(), PODLENS_PATH_MAX));
  std::memcpy(e.path, path.data(), e.path_len);
  if (path.size() > PODLENS_PATH_MAX) {
    e.flags |= PODLENS_EVENT_PATH_TRUNCATED;
  }
}

std::vector<Input> makeInputs(size_t count, Aggregator& agg, const PolicyTable& table,
                              std::mt19937_64& rng) {
  std::vector<PodId> pods;
  for (int p = 0; p < kPods; ++p) {
    pods.push_back(agg.internPod("ns" + std::to_string(p % kPolicies), "pod-" + std::to_string(p)));
  }
  std::discrete_distribution<int> route({50, 20, 15, 10, 5});
  std::discrete_distribution<int> method({0, 70, 2, 18, 5, 5});  // _OTHER GET HEAD POST PUT DEL
  std::discrete_distribution<int> status({90, 3, 1, 4, 1, 1});
  static const uint16_t kStatus[] = {200, 201, 302, 404, 500, 503};
  std::lognormal_distribution<double> latencyMs(1.5, 1.0);
  std::vector<Input> inputs(count);
  for (Input& in : inputs) {
    int pod = static_cast<int>(rng() % kPods);
    int policy = pod % kPolicies;
    podlens_http_event& e = in.event;
    e = {};
    bool outbound = rng() % 5 == 0;
    e.direction = outbound ? PODLENS_DIR_OUTBOUND : PODLENS_DIR_INBOUND;
    e.method = static_cast<uint8_t>(method(rng));
    e.status = kStatus[status(rng)];
    e.pod_port = 8080;
    e.peer_port = outbound ? 443 : static_cast<uint16_t>(32768 + rng() % 28000);
    e.request_start_ns = 1'000'000'000'000ull + rng() % 1'000'000'000;
    uint64_t ns = static_cast<uint64_t>(latencyMs(rng) * 1e6);
    e.response_first_byte_ns = e.request_start_ns + ns * 3 / 4;
    e.response_last_byte_ns = e.request_start_ns + ns;
    const PolicyTable::Entry& entry = table.entries()[policy];
    e.policy_id = entry.id;
    setPath(e, fill(entry.policy.routes[route(rng)], rng));
    in.pod = pods[pod];
    in.routes = outbound ? nullptr : table.routes(e.policy_id);  // outbound: the heuristic
  }
  return inputs;
}

}  // namespace

int main(int argc, char** argv) {
  bool smoke = argc > 1 && std::strcmp(argv[1], "--smoke") == 0;
  const size_t kInputs = smoke ? 20000 : 1 << 16;
  const size_t kEvents = smoke ? 200000 : 20'000'000;
  std::mt19937_64 rng(42);

  std::vector<TelemetryPolicy> policies;
  for (int p = 0; p < kPolicies; ++p) {
    TelemetryPolicy policy;
    policy.namespace_ = "ns" + std::to_string(p);
    policy.name = "policy";
    policy.ports = {PortRule{8080}};
    for (int r = 0; r < kRoutesPerPolicy; ++r) {
      policy.routes.push_back(templateFor(p, r));
    }
    policies.push_back(policy);
  }
  PolicyTable table(policies);
  long rssBefore = rssKb();
  Aggregator agg;
  std::vector<Input> inputs = makeInputs(kInputs, agg, table, rng);

  std::printf("aggregate_bench: %d pods, %d policies x %d route templates, %zu distinct events, "
              "%zu events per run%s\n",
              kPods, kPolicies, kRoutesPerPolicy, kInputs, kEvents, smoke ? " (smoke)" : "");

  // Route alone, on inputs that stay in cache (the aggregate figure includes cache misses).
  RouteBuffer buffer;
  size_t sink = 0;
  const size_t kCached = 2048;
  auto t0 = std::chrono::steady_clock::now();
  for (size_t i = 0; i < kEvents; ++i) {
    const Input& in = inputs[i % kCached];
    sink += resolveRoute(in.event, in.routes, buffer).size();
  }
  double routeNs = seconds(std::chrono::steady_clock::now() - t0) * 1e9 / kEvents;
  std::printf("  route      %7.1f ns/event (templates 80%%, heuristic 20%%) [%zu]\n", routeNs,
              sink % 10);

  for (const Input& in : inputs) {  // warm: create every series once
    agg.record(in.event, in.pod, in.routes);
  }
  t0 = std::chrono::steady_clock::now();
  for (size_t i = 0; i < kEvents; ++i) {
    const Input& in = inputs[i % kInputs];
    agg.record(in.event, in.pod, in.routes);
  }
  double aggSeconds = seconds(std::chrono::steady_clock::now() - t0);
  AggregatorStats stats = agg.stats();
  std::printf("  aggregate  %7.1f ns/event  %6.2f M events/s on one core (target >= 1 M/s); "
              "%llu series\n",
              aggSeconds * 1e9 / kEvents, kEvents / aggSeconds / 1e6,
              static_cast<unsigned long long>(stats.series));

  long rssAggregated = rssKb();
  t0 = std::chrono::steady_clock::now();
  std::string text = agg.render();
  double renderMs = seconds(std::chrono::steady_clock::now() - t0) * 1e3;
  std::printf("  render     %7.1f ms for %zu series, %.1f MB of text\n", renderMs,
              static_cast<size_t>(stats.series), text.size() / 1e6);
  std::printf("  rss        %ld kB at start, %ld kB aggregated (incl. %zu kB of bench input), "
              "%ld kB after render\n",
              rssBefore, rssAggregated, kInputs * sizeof(Input) >> 10, rssKb());

  // Hostile: every event a new word path on one pod; the cap holds and overflow absorbs.
  Aggregator hostile(AggregatorOptions{kDefaultDurationBuckets, 500});
  PodId pod = hostile.internPod("ns", "victim");
  podlens_http_event e = inputs[0].event;
  const size_t kHostile = kEvents / 10;
  char path[32];
  t0 = std::chrono::steady_clock::now();
  for (size_t i = 0; i < kHostile; ++i) {
    int n = std::snprintf(path, sizeof(path), "/w%zux", i);
    std::memcpy(e.path, path, n);
    e.path_len = static_cast<uint16_t>(n);
    hostile.record(e, pod, nullptr);
  }
  double hostileSeconds = seconds(std::chrono::steady_clock::now() - t0);
  AggregatorStats h = hostile.stats();
  std::printf("  hostile    %7.1f ns/event  %llu series (cap 500), %llu overflow events, "
              "%llu routes interned\n",
              hostileSeconds * 1e9 / kHostile, static_cast<unsigned long long>(h.series),
              static_cast<unsigned long long>(h.overflowEvents),
              static_cast<unsigned long long>(h.routes));
  return 0;
}
