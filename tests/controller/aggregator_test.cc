#include <gtest/gtest.h>

#include <podlens/controller/aggregator.hpp>

#include "prometheus_text.hpp"

#include <cstring>
#include <thread>

namespace podlens::controller {
namespace {

using testing::Exposition;
using testing::LabelMap;
using testing::parsePrometheusText;

podlens_http_event event(std::string_view path, uint8_t method = PODLENS_METHOD_GET,
                         uint16_t status = 200, uint64_t durationNs = 3'000'000,
                         uint8_t direction = PODLENS_DIR_INBOUND) {
  podlens_http_event e{};
  e.request_start_ns = 1'000'000'000;
  e.response_first_byte_ns = e.request_start_ns + durationNs / 2;
  e.response_last_byte_ns = e.request_start_ns + durationNs;
  e.method = method;
  e.status = status;
  e.direction = direction;
  e.pod_port = 8080;
  e.peer_port = 43210;
  e.path_len = static_cast<uint16_t>(std::min<size_t>(path.size(), PODLENS_PATH_MAX));
  std::memcpy(e.path, path.data(), e.path_len);
  return e;
}

Exposition parse(const Aggregator& agg) {
  auto parsed = parsePrometheusText(agg.render());
  EXPECT_TRUE(parsed.ok()) << parsed.error().message;
  return parsed.ok() ? std::move(parsed).value() : Exposition{};
}

const LabelMap kWebGet = {{"k8s_namespace_name", "shop"},     {"k8s_pod_name", "web-1"},
                          {"http_request_method", "GET"},     {"http_response_status_code", "200"},
                          {"http_route", "/users/{id}"},      {"server_port", "8080"}};

LabelMap with(LabelMap labels, const LabelMap& changes) {
  for (const auto& [k, v] : changes) {
    labels[k] = v;
  }
  return labels;
}

TEST(Aggregator, HistogramSeriesWithLabelsBucketsSumAndCount) {
  Aggregator agg;
  PodId pod = agg.internPod("shop", "web-1");
  RouteMatcher routes({"/users/{id}"});
  agg.record(event("/users/42"), pod, &routes);                      // 3 ms
  agg.record(event("/users/7?x=1", PODLENS_METHOD_GET, 200, 5'000'000), pod, &routes);  // 5 ms
  agg.record(event("/users/9", PODLENS_METHOD_GET, 200, 20'000'000'000), pod, &routes);  // 20 s
  Exposition e = parse(agg);
  const std::string h = "http_server_request_duration_seconds";
  EXPECT_EQ(e.families.at(h).type, "histogram");
  EXPECT_EQ(e.value(h + "_count", kWebGet), 3);
  EXPECT_NEAR(*e.value(h + "_sum", kWebGet), 20.008, 1e-9);
  EXPECT_EQ(e.value(h + "_bucket", with(kWebGet, {{"le", "0.005"}})), 2);  // 5 ms is <= 0.005
  EXPECT_EQ(e.value(h + "_bucket", with(kWebGet, {{"le", "0.01"}})), 2);
  EXPECT_EQ(e.value(h + "_bucket", with(kWebGet, {{"le", "10"}})), 2);
  EXPECT_EQ(e.value(h + "_bucket", with(kWebGet, {{"le", "+Inf"}})), 3);
  EXPECT_EQ(e.select(h + "_bucket", kWebGet).size(), kDefaultDurationBuckets.size() + 1);
  const std::string t = "podlens_http_server_time_to_first_byte_seconds";
  EXPECT_EQ(e.value(t + "_count", kWebGet), 3);
  EXPECT_NEAR(*e.value(t + "_sum", kWebGet), 10.004, 1e-9);
  EXPECT_EQ(e.value(t + "_bucket", with(kWebGet, {{"le", "0.0025"}})), std::nullopt);
  EXPECT_EQ(e.sum("http_client_request_duration_seconds_count"), 0);
  EXPECT_EQ(e.value("podlens_metric_series"), 1);
  AggregatorStats s = agg.stats();
  EXPECT_EQ(s.events, 3u);
  EXPECT_EQ(s.series, 1u);
  EXPECT_EQ(s.routes, 1u);
}

TEST(Aggregator, OutboundUsesPeerPortAndClientFamilies) {
  Aggregator agg;
  PodId pod = agg.internPod("shop", "web-1");
  agg.record(event("/api/orders/12", PODLENS_METHOD_POST, 503, 1'000'000, PODLENS_DIR_OUTBOUND),
             pod, nullptr);
  Exposition e = parse(agg);
  LabelMap labels = with(kWebGet, {{"http_request_method", "POST"},
                                   {"http_response_status_code", "503"},
                                   {"http_route", "/api/orders/{id}"},
                                   {"server_port", "43210"}});
  EXPECT_EQ(e.value("http_client_request_duration_seconds_count", labels), 1);
  EXPECT_EQ(e.value("podlens_http_client_time_to_first_byte_seconds_count", labels), 1);
  EXPECT_EQ(e.sum("http_server_request_duration_seconds_count"), 0);
}

TEST(Aggregator, UnknownMethodsAreOtherAndSpecialPaths) {
  Aggregator agg;
  PodId pod = agg.internPod("shop", "web-1");
  agg.record(event("/x", PODLENS_METHOD_UNKNOWN), pod, nullptr);
  agg.record(event("/x", 200), pod, nullptr);  // out of the enum
  podlens_http_event proxy = event("");
  proxy.flags = PODLENS_EVENT_NOT_ORIGIN_FORM;
  agg.record(proxy, pod, nullptr);
  podlens_http_event backwards = event("/x");
  backwards.response_last_byte_ns = 0;  // clock oddities clamp to 0
  backwards.response_first_byte_ns = 0;
  agg.record(backwards, pod, nullptr);
  Exposition e = parse(agg);
  const std::string c = "http_server_request_duration_seconds_count";
  EXPECT_EQ(e.value(c, with(kWebGet, {{"http_request_method", "_OTHER"}, {"http_route", "/x"}})),
            2);
  EXPECT_EQ(e.value(c, with(kWebGet, {{"http_route", ""}})), 1);
  EXPECT_EQ(e.value("http_server_request_duration_seconds_bucket",
                    with(kWebGet, {{"http_route", "/x"}, {"le", "0.005"}})),
            1);
}

TEST(Aggregator, SeriesCapSendsNewLabelSetsToTheOverflowSeries) {
  Aggregator agg(AggregatorOptions{kDefaultDurationBuckets, 3});
  PodId web = agg.internPod("shop", "web-1");
  PodId other = agg.internPod("shop", "web-2");
  for (int i = 0; i < 5; ++i) {
    agg.record(event("/word" + std::string(1, char('a' + i))), web, nullptr);
  }
  agg.record(event("/worda"), web, nullptr);  // an existing series still counts
  agg.record(event("/wordz", PODLENS_METHOD_GET, 200, 1000, PODLENS_DIR_OUTBOUND), web, nullptr);
  agg.record(event("/wordz"), other, nullptr);  // the cap is per pod
  Exposition e = parse(agg);
  const std::string c = "http_server_request_duration_seconds_count";
  EXPECT_EQ(e.value(c, with(kWebGet, {{"http_route", "/worda"}})), 2);
  EXPECT_EQ(e.value(c, with(kWebGet, {{"http_route", "/wordd"}})), std::nullopt);
  LabelMap overflow = {{"k8s_namespace_name", "shop"},
                       {"k8s_pod_name", "web-1"},
                       {"otel_metric_overflow", "true"}};
  EXPECT_EQ(e.value(c, overflow), 2);
  EXPECT_EQ(e.value("http_client_request_duration_seconds_count", overflow), 1);
  EXPECT_EQ(e.value("http_server_request_duration_seconds_bucket",
                    with(overflow, {{"le", "+Inf"}})),
            2);
  EXPECT_EQ(e.value("podlens_metric_overflow_events_total"), 3);
  EXPECT_EQ(e.value(c, with(kWebGet, {{"k8s_pod_name", "web-2"}, {"http_route", "/wordz"}})), 1);
  EXPECT_EQ(agg.stats().series, 4u);
}

TEST(Aggregator, RemovePodDropsItsSeriesAndRoutes) {
  Aggregator agg;
  PodId a = agg.internPod("shop", "a");
  PodId b = agg.internPod("shop", "b");
  EXPECT_EQ(agg.internPod("shop", "a"), a);
  agg.record(event("/only-a"), a, nullptr);
  agg.record(event("/shared"), a, nullptr);
  agg.record(event("/shared"), b, nullptr);
  EXPECT_EQ(agg.stats().routes, 2u);
  EXPECT_TRUE(agg.removePod("shop", "a"));
  EXPECT_FALSE(agg.removePod("shop", "a"));
  AggregatorStats s = agg.stats();
  EXPECT_EQ(s.series, 1u);
  EXPECT_EQ(s.routes, 1u);  // "/only-a" released
  EXPECT_EQ(s.pods, 1u);
  Exposition e = parse(agg);
  EXPECT_TRUE(e.select("http_server_request_duration_seconds_count", {{"k8s_pod_name", "a"}})
                  .empty());
  agg.record(event("/shared"), a, nullptr);  // a stale id: dropped and counted
  EXPECT_EQ(agg.stats().unknownPodEvents, 1u);
  EXPECT_EQ(parse(agg).value("podlens_events_unknown_pod_total"), 1);
  PodId again = agg.internPod("shop", "a");
  EXPECT_NE(again, a);
  agg.record(event("/only-a"), again, nullptr);
  EXPECT_EQ(agg.stats().routes, 2u);
}

TEST(Aggregator, CustomBucketsAndOptionChecks) {
  EXPECT_EQ(Aggregator::checkOptions({}), "");
  EXPECT_NE(Aggregator::checkOptions({{0.1, 0.05}, 10}), "");
  EXPECT_NE(Aggregator::checkOptions({{-1}, 10}), "");
  EXPECT_NE(Aggregator::checkOptions({{}, 10}), "");
  EXPECT_NE(Aggregator::checkOptions({{1}, 0}), "");
  Aggregator agg(AggregatorOptions{{0.5, 0.001, 0.001}, 10});  // corrected: sorted, deduplicated
  PodId pod = agg.internPod("d", "p");
  agg.record(event("/", PODLENS_METHOD_GET, 200, 1'000'000), pod, nullptr);
  Exposition e = parse(agg);
  LabelMap base = {{"k8s_namespace_name", "d"}, {"k8s_pod_name", "p"},
                   {"http_request_method", "GET"}, {"http_response_status_code", "200"},
                   {"http_route", "/"}, {"server_port", "8080"}};
  auto buckets = e.select("http_server_request_duration_seconds_bucket", base);
  ASSERT_EQ(buckets.size(), 3u);
  EXPECT_EQ(buckets[0]->labels.at("le"), "0.001");
  EXPECT_EQ(buckets[0]->value, 1);  // exactly on the bound: le is inclusive
  EXPECT_EQ(buckets[1]->labels.at("le"), "0.5");
}

TEST(Aggregator, EscapesRouteTextAndParsesBack) {
  Aggregator agg;
  PodId pod = agg.internPod("shop", "web-1");
  agg.record(event("/a\"b\\c"), pod, nullptr);
  std::string text = agg.render();
  EXPECT_NE(text.find("http_route=\"/a\\\"b\\\\c\""), std::string::npos);
  Exposition e = parse(agg);
  EXPECT_EQ(e.value("http_server_request_duration_seconds_count",
                    with(kWebGet, {{"http_route", "/a\"b\\c"}})),
            1);
}

TEST(Aggregator, ConcurrentRenderersSeeConsistentExpositions) {
  Aggregator agg(AggregatorOptions{kDefaultDurationBuckets, 50});
  PodId pod = agg.internPod("shop", "web-1");
  constexpr int kEvents = 200000;
  std::thread writer([&] {
    for (int i = 0; i < kEvents; ++i) {
      agg.record(event("/r" + std::to_string(i % 80) + "x", PODLENS_METHOD_GET, 200, i * 997),
                 pod, nullptr);
    }
  });
  int renders = 0;
  while (agg.stats().events < kEvents) {
    auto parsed = parsePrometheusText(agg.render());
    ASSERT_TRUE(parsed.ok()) << parsed.error().message;
    ++renders;
  }
  writer.join();
  Exposition e = parse(agg);
  EXPECT_EQ(e.sum("http_server_request_duration_seconds_count"), kEvents);
  EXPECT_EQ(e.sum("podlens_http_server_time_to_first_byte_seconds_count"), kEvents);
  EXPECT_GT(renders, 0);
}

}  // namespace
}  // namespace podlens::controller
