// The aggregation hot path: one hash lookup on a 16-byte key per event once a series exists;
// strings (pods, routes) are interned, and only a new series allocates.
#include <podlens/controller/aggregator.hpp>

#include <podlens/abi.hpp>

#include <algorithm>
#include <charconv>
#include <mutex>
#include <tuple>
#include <unordered_map>

namespace podlens::controller {
namespace {

struct SeriesKey {
  uint64_t a;  // pod << 32 | route
  uint64_t b;  // status << 32 | server_port << 16 | method << 8 | direction
  bool operator==(const SeriesKey&) const = default;
  uint32_t pod() const { return static_cast<uint32_t>(a >> 32); }
  uint32_t route() const { return static_cast<uint32_t>(a); }
  uint16_t status() const { return static_cast<uint16_t>(b >> 32); }
  uint16_t port() const { return static_cast<uint16_t>(b >> 16); }
  uint8_t method() const { return static_cast<uint8_t>(b >> 8); }
  uint8_t direction() const { return static_cast<uint8_t>(b); }
};

struct SeriesKeyHash {
  size_t operator()(const SeriesKey& k) const {
    uint64_t h = k.a * 0x9e3779b97f4a7c15ull ^ (k.b + 0x632be59bd9b4e019ull);
    h ^= h >> 31;
    h *= 0xbf58476d1ce4e5b9ull;
    return h ^ (h >> 29);
  }
};

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

// Counts of one label set: bucket counts (not cumulative) of duration then TTFB, +Inf last.
struct Series {
  explicit Series(size_t buckets) : counts(2 * (buckets + 1), 0) {}
  std::vector<uint64_t> counts;
  uint64_t durationSumNs = 0;
  uint64_t ttfbSumNs = 0;
  uint64_t count = 0;
};

struct PodState {
  std::string namespace_;
  std::string name;
  size_t series = 0;
  std::vector<Series> overflow;  // [direction], created on first use
};

struct RouteSlot {
  std::string text;
  uint32_t refs = 0;
};

constexpr uint32_t kNoRoute = UINT32_MAX;

}  // namespace

struct Aggregator::State {
  explicit State(AggregatorOptions o) : options(std::move(o)) {
    for (double b : options.buckets) {
      boundsNs.push_back(static_cast<uint64_t>(b * 1e9 + 0.5));
      std::string text;
      appendDouble(text, b);
      leText.push_back(std::move(text));
    }
  }

  size_t buckets() const { return boundsNs.size(); }

  void observe(Series& s, uint64_t durationNs, uint64_t ttfbNs) {
    size_t n = boundsNs.size();
    // First bound >= value: Prometheus buckets are "less than or equal".
    size_t d = std::lower_bound(boundsNs.begin(), boundsNs.end(), durationNs) - boundsNs.begin();
    size_t t = std::lower_bound(boundsNs.begin(), boundsNs.end(), ttfbNs) - boundsNs.begin();
    ++s.counts[d];
    ++s.counts[n + 1 + t];
    s.durationSumNs += durationNs;
    s.ttfbSumNs += ttfbNs;
    ++s.count;
  }

  uint32_t internRoute(std::string_view text) {
    uint32_t id;
    if (!freeRoutes.empty()) {
      id = freeRoutes.back();
      freeRoutes.pop_back();
      routes[id].text.assign(text);
    } else {
      id = static_cast<uint32_t>(routes.size());
      routes.push_back(RouteSlot{std::string(text), 0});
    }
    routeIds.emplace(routes[id].text, id);
    return id;
  }

  void releaseRoute(uint32_t id) {
    if (--routes[id].refs == 0) {
      routeIds.erase(routes[id].text);
      routes[id].text.clear();
      freeRoutes.push_back(id);
    }
  }

  AggregatorOptions options;
  std::vector<uint64_t> boundsNs;
  std::vector<std::string> leText;

  mutable std::mutex mutex;
  std::unordered_map<SeriesKey, Series, SeriesKeyHash> series;
  std::unordered_map<PodId, PodState> pods;
  std::unordered_map<std::string, PodId> podIds;  // "ns/name"
  PodId nextPod = 1;
  std::unordered_map<std::string, uint32_t, StringHash, std::equal_to<>> routeIds;
  std::vector<RouteSlot> routes;
  std::vector<uint32_t> freeRoutes;
  AggregatorStats stats;
};

std::string Aggregator::checkOptions(const AggregatorOptions& options) {
  if (options.buckets.empty()) {
    return "histogram buckets: at least one bound is needed";
  }
  for (size_t i = 0; i < options.buckets.size(); ++i) {
    if (!(options.buckets[i] > 0) || options.buckets[i] > 1e6) {
      return "histogram buckets: bound " + std::to_string(options.buckets[i]) +
             " is not in (0, 1e6] seconds";
    }
    if (i > 0 && !(options.buckets[i] > options.buckets[i - 1])) {
      return "histogram buckets: bounds must be strictly increasing";
    }
  }
  if (options.maxSeriesPerPod == 0) {
    return "series cap per pod: must be at least 1";
  }
  return "";
}

Aggregator::Aggregator(AggregatorOptions options) {
  // Invalid options are corrected rather than fatal; callers report checkOptions() first.
  auto& b = options.buckets;
  b.erase(std::remove_if(b.begin(), b.end(), [](double v) { return !(v > 0) || v > 1e6; }),
          b.end());
  std::sort(b.begin(), b.end());
  b.erase(std::unique(b.begin(), b.end()), b.end());
  if (b.empty()) {
    b = kDefaultDurationBuckets;
  }
  options.maxSeriesPerPod = std::max<size_t>(options.maxSeriesPerPod, 1);
  state_ = std::make_unique<State>(std::move(options));
}

Aggregator::~Aggregator() = default;

PodId Aggregator::internPod(std::string_view namespace_, std::string_view name) {
  std::string key = std::string(namespace_) + "/" + std::string(name);
  std::lock_guard lock(state_->mutex);
  auto [it, inserted] = state_->podIds.emplace(key, state_->nextPod);
  if (inserted) {
    state_->pods.emplace(state_->nextPod++,
                         PodState{std::string(namespace_), std::string(name), 0, {}});
  }
  return it->second;
}

void Aggregator::record(const podlens_http_event& event, PodId pod, const RouteMatcher* routes) {
  RouteBuffer buffer;
  std::string_view route = resolveRoute(event, routes, buffer);
  uint8_t direction = event.direction == PODLENS_DIR_OUTBOUND ? 1 : 0;
  uint16_t port = direction ? event.peer_port : event.pod_port;
  uint8_t method = event.method <= PODLENS_METHOD_PATCH ? event.method : uint8_t{0};  // _OTHER
  uint64_t start = event.request_start_ns;
  uint64_t duration = event.response_last_byte_ns > start ? event.response_last_byte_ns - start : 0;
  uint64_t ttfb = event.response_first_byte_ns > start ? event.response_first_byte_ns - start : 0;
  uint64_t b = uint64_t(event.status) << 32 | uint64_t(port) << 16 | uint64_t(method) << 8 |
               direction;

  State& s = *state_;
  std::lock_guard lock(s.mutex);
  auto routeIt = s.routeIds.find(route);
  uint32_t routeId = routeIt == s.routeIds.end() ? kNoRoute : routeIt->second;
  SeriesKey key{uint64_t(pod) << 32 | routeId, b};
  if (routeId != kNoRoute) {
    auto it = s.series.find(key);
    if (it != s.series.end()) {
      s.observe(it->second, duration, ttfb);
      ++s.stats.events;
      return;
    }
  }
  auto podIt = s.pods.find(pod);
  if (podIt == s.pods.end()) {
    ++s.stats.unknownPodEvents;
    return;
  }
  PodState& p = podIt->second;
  ++s.stats.events;
  if (p.series >= s.options.maxSeriesPerPod) {
    if (p.overflow.empty()) {
      p.overflow.assign(2, Series(s.buckets()));
    }
    s.observe(p.overflow[direction], duration, ttfb);
    ++s.stats.overflowEvents;
    return;
  }
  if (routeId == kNoRoute) {
    routeId = s.internRoute(route);
    key.a = uint64_t(pod) << 32 | routeId;
  }
  ++s.routes[routeId].refs;
  ++p.series;
  auto [it, inserted] = s.series.emplace(key, Series(s.buckets()));
  s.observe(it->second, duration, ttfb);
}

bool Aggregator::removePod(std::string_view namespace_, std::string_view name) {
  std::string key = std::string(namespace_) + "/" + std::string(name);
  State& s = *state_;
  std::lock_guard lock(s.mutex);
  auto idIt = s.podIds.find(key);
  if (idIt == s.podIds.end()) {
    return false;
  }
  PodId id = idIt->second;
  for (auto it = s.series.begin(); it != s.series.end();) {
    if (it->first.pod() == id) {
      s.releaseRoute(it->first.route());
      it = s.series.erase(it);
    } else {
      ++it;
    }
  }
  s.pods.erase(id);
  s.podIds.erase(idIt);
  return true;
}

AggregatorStats Aggregator::stats() const {
  std::lock_guard lock(state_->mutex);
  AggregatorStats out = state_->stats;
  out.series = state_->series.size();
  out.pods = state_->pods.size();
  out.routes = state_->routeIds.size();
  return out;
}

namespace {

// A copy of one series taken under the lock; formatted after it is released.
struct Row {
  const PodState* pod;       // into the snapshot's pod copies
  const std::string* route;  // into the snapshot's route copies; nullptr for overflow
  uint16_t status = 0;
  uint16_t port = 0;
  uint8_t method = 0;
  uint8_t direction = 0;
  size_t offset = 0;  // into Snapshot::counts
  uint64_t durationSumNs = 0, ttfbSumNs = 0, count = 0;
};

struct Snapshot {
  std::unordered_map<PodId, PodState> pods;  // names only
  std::vector<std::string> routes;
  std::vector<uint64_t> counts;
  std::vector<Row> rows;
  AggregatorStats stats;
};

}  // namespace

void Aggregator::render(TextWriter& writer) const {
  const State& s = *state_;
  const size_t perSeries = 2 * (s.buckets() + 1);
  Snapshot snap;
  auto addRow = [&](Row row, const Series& series) {
    row.offset = snap.counts.size();
    row.durationSumNs = series.durationSumNs;
    row.ttfbSumNs = series.ttfbSumNs;
    row.count = series.count;
    snap.counts.insert(snap.counts.end(), series.counts.begin(), series.counts.end());
    snap.rows.push_back(row);
  };
  {
    std::lock_guard lock(s.mutex);
    snap.counts.reserve((s.series.size() + 2 * s.pods.size()) * perSeries);
    snap.rows.reserve(s.series.size());
    for (const auto& [id, pod] : s.pods) {
      snap.pods.emplace(id, PodState{pod.namespace_, pod.name, 0, {}});
    }
    snap.routes.reserve(s.routes.size());
    for (const RouteSlot& r : s.routes) {
      snap.routes.push_back(r.text);
    }
    for (const auto& [key, series] : s.series) {
      addRow(Row{&snap.pods.at(key.pod()), &snap.routes[key.route()], key.status(), key.port(),
                 key.method(), key.direction()},
             series);
    }
    for (const auto& [id, pod] : s.pods) {
      for (size_t d = 0; d < pod.overflow.size(); ++d) {
        if (pod.overflow[d].count > 0) {
          addRow(Row{&snap.pods.at(id), nullptr, 0, 0, 0, static_cast<uint8_t>(d)},
                 pod.overflow[d]);
        }
      }
    }
    snap.stats = s.stats;
    snap.stats.series = s.series.size();
  }

  std::sort(snap.rows.begin(), snap.rows.end(), [](const Row& x, const Row& y) {
    static const std::string kNone;
    const std::string& rx = x.route ? *x.route : kNone;
    const std::string& ry = y.route ? *y.route : kNone;
    bool ox = x.route == nullptr, oy = y.route == nullptr;  // overflow rows last
    return std::tie(x.pod->namespace_, x.pod->name, ox, rx, x.method, x.status, x.port) <
           std::tie(y.pod->namespace_, y.pod->name, oy, ry, y.method, y.status, y.port);
  });

  struct FamilyDef {
    std::string_view name;
    std::string_view help;
    uint8_t direction;
    bool ttfb;
  };
  static constexpr FamilyDef kFamilies[] = {
      {"http_server_request_duration_seconds",
       "Duration of HTTP server requests: the pod's first request byte to its last response "
       "byte, seen on the pod's veth.",
       PODLENS_DIR_INBOUND, false},
      {"http_client_request_duration_seconds",
       "Duration of HTTP client requests: the pod's first request byte to the last response "
       "byte, seen on the pod's veth.",
       PODLENS_DIR_OUTBOUND, false},
      {"podlens_http_server_time_to_first_byte_seconds",
       "HTTP server time to first byte: first request byte to first response byte.",
       PODLENS_DIR_INBOUND, true},
      {"podlens_http_client_time_to_first_byte_seconds",
       "HTTP client time to first byte: first request byte to first response byte.",
       PODLENS_DIR_OUTBOUND, true},
  };
  std::string bucketName, sumName, countName;
  for (const FamilyDef& f : kFamilies) {
    writer.family(f.name, f.help, MetricType::Histogram);
    bucketName.assign(f.name).append("_bucket");
    sumName.assign(f.name).append("_sum");
    countName.assign(f.name).append("_count");
    for (const Row& row : snap.rows) {
      if (row.direction != f.direction) {
        continue;
      }
      char status[8], port[8];
      std::string_view statusText(status, std::to_chars(status, status + 8, row.status).ptr);
      std::string_view portText(port, std::to_chars(port, port + 8, row.port).ptr);
      Label labels[7];
      size_t n = 0;
      labels[n++] = {"k8s_namespace_name", row.pod->namespace_};
      labels[n++] = {"k8s_pod_name", row.pod->name};
      if (row.route != nullptr) {
        labels[n++] = {"http_request_method", podlens::methodName(row.method)};
        labels[n++] = {"http_response_status_code", statusText};
        labels[n++] = {"http_route", *row.route};
        labels[n++] = {"server_port", portText};
      } else {
        labels[n++] = {"otel_metric_overflow", "true"};
      }
      const uint64_t* counts = &snap.counts[row.offset + (f.ttfb ? s.buckets() + 1 : 0)];
      uint64_t cumulative = 0;
      for (size_t i = 0; i <= s.buckets(); ++i) {
        cumulative += counts[i];
        labels[n] = {"le", i < s.buckets() ? std::string_view(s.leText[i]) : "+Inf"};
        writer.sample(bucketName, std::span<const Label>(labels, n + 1), cumulative);
      }
      std::span<const Label> base(labels, n);
      writer.sample(sumName, base, double(f.ttfb ? row.ttfbSumNs : row.durationSumNs) / 1e9);
      writer.sample(countName, base, row.count);
    }
  }
  writer.gauge("podlens_metric_series", "Live histogram series (label sets), overflow excluded.",
               static_cast<double>(snap.stats.series));
  writer.counter("podlens_metric_overflow_events_total",
                 "Transactions counted in a pod's overflow series (otel_metric_overflow=\"true\") "
                 "because the pod reached its series cap.",
                 snap.stats.overflowEvents);
  writer.counter("podlens_events_unknown_pod_total",
                 "Transactions dropped because their pod was unknown or already removed.",
                 snap.stats.unknownPodEvents);
}

std::string Aggregator::render() const {
  TextWriter writer;
  render(writer);
  return writer.take();
}

}  // namespace podlens::controller
