// Kernel transactions → Prometheus histograms (docs/metrics.md).
//
// Families (OTel HTTP semantic conventions, Prometheus spelling), all in seconds:
//   http_server_request_duration_seconds          Inbound: response_last_byte - request_start
//   http_client_request_duration_seconds          Outbound: same
//   podlens_http_server_time_to_first_byte_seconds Inbound: response_first_byte - request_start
//   podlens_http_client_time_to_first_byte_seconds Outbound: same
// Labels: k8s_namespace_name, k8s_pod_name, http_request_method (_OTHER for unknown),
// http_response_status_code, http_route, server_port (pod_port Inbound, peer_port Outbound).
//
// Series cap: a pod holds at most maxSeriesPerPod series (one series = one label set; it
// appears in the duration and the TTFB family of its direction). Events that would create
// more go to the pod's overflow series of that direction, labelled k8s_namespace_name,
// k8s_pod_name and otel_metric_overflow="true" (OTel's overflow attribute; the pod labels are
// kept because the cap is per pod), and count in podlens_metric_overflow_events_total.
//
// Threads: every public method is safe to call from any thread. One mutex guards the state;
// record() holds it for one event (no allocation unless a series is created), render() holds
// it only while copying counts, and formats outside it. The intended use is one event thread
// calling record() and HTTP threads calling render().
#pragma once

#include <podlens/abi.h>
#include <podlens/controller/exposition.hpp>
#include <podlens/controller/route.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace podlens::controller {

// OTel's advice for http.*.request.duration, in seconds.
inline const std::vector<double> kDefaultDurationBuckets = {
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10};

struct AggregatorOptions {
  std::vector<double> buckets = kDefaultDurationBuckets;  // seconds, strictly increasing, > 0
  size_t maxSeriesPerPod = 500;
};

struct AggregatorStats {
  uint64_t events = 0;            // record() calls that were counted (incl. overflow)
  uint64_t overflowEvents = 0;    // counted in an overflow series
  uint64_t unknownPodEvents = 0;  // dropped: the PodId was never interned or was removed
  uint64_t series = 0;            // live series (overflow series excluded)
  uint64_t pods = 0;              // interned pods
  uint64_t routes = 0;            // distinct interned route strings
};

using PodId = uint32_t;
inline constexpr PodId kNoPod = 0;

class Aggregator {
 public:
  explicit Aggregator(AggregatorOptions options = {});
  ~Aggregator();
  Aggregator(const Aggregator&) = delete;
  Aggregator& operator=(const Aggregator&) = delete;

  // Checks options (buckets increasing and positive, cap >= 1); "" when valid.
  static std::string checkOptions(const AggregatorOptions& options);

  // The id of a pod's series (the same until removePod). Ids are never reused.
  PodId internPod(std::string_view namespace_, std::string_view name);
  // Counts one transaction for `pod`. `routes` are the templates of the event's policy
  // (PolicyTable::routes(event.policy_id)), nullptr for the heuristic only.
  void record(const podlens_http_event& event, PodId pod, const RouteMatcher* routes);
  // Drops every series of the pod (its PodId becomes unknown). False if it was not interned.
  bool removePod(std::string_view namespace_, std::string_view name);

  // Appends the four histogram families, then the aggregator's own self-metrics:
  // podlens_metric_series (gauge), podlens_metric_overflow_events_total,
  // podlens_events_unknown_pod_total.
  void render(TextWriter& writer) const;
  std::string render() const;
  AggregatorStats stats() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace podlens::controller
