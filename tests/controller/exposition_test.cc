#include <gtest/gtest.h>

#include <podlens/abi.h>
#include <podlens/controller/exposition.hpp>

#include "prometheus_text.hpp"

#include <cmath>
#include <vector>

namespace podlens::controller {
namespace {

using testing::parsePrometheusText;

TEST(TextWriter, SelfMetricHelpersParseBack) {
  TextWriter w;
  w.counter("podlens_events_total", "Events read.\nSecond line \\ too.", 42);
  w.gauge("podlens_attached_interfaces", "Interfaces.", 3);
  std::vector<uint64_t> losses(PODLENS_LOSS__COUNT, 0);
  losses[PODLENS_LOSS_RINGBUF_FULL] = 7;
  w.kernelLosses(losses);
  w.family("podlens_selected_pods", "Pods by policy.", MetricType::Gauge);
  w.sample("podlens_selected_pods", {{"policy", "shop/web"}, {"note", "a\"b\\c\nd"}}, 2.5);
  std::string text = w.take();
  EXPECT_NE(text.find("# HELP podlens_events_total Events read.\\nSecond line \\\\ too.\n"),
            std::string::npos);
  EXPECT_NE(text.find("note=\"a\\\"b\\\\c\\nd\""), std::string::npos);
  auto parsed = parsePrometheusText(text);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(parsed->value("podlens_events_total"), 42);
  EXPECT_EQ(parsed->families.at("podlens_events_total").type, "counter");
  EXPECT_EQ(parsed->value("podlens_attached_interfaces"), 3);
  EXPECT_EQ(parsed->value("podlens_kernel_losses_total", {{"reason", "ringbuf_full"}}), 7);
  EXPECT_EQ(parsed->select("podlens_kernel_losses_total").size(), size_t{PODLENS_LOSS__COUNT});
  EXPECT_EQ(parsed->value("podlens_selected_pods",
                          {{"policy", "shop/web"}, {"note", "a\"b\\c\nd"}}),
            2.5);
}

TEST(TextWriter, NumberFormatting) {
  auto fmt = [](double v) {
    std::string s;
    appendDouble(s, v);
    return s;
  };
  EXPECT_EQ(fmt(0.005), "0.005");
  EXPECT_EQ(fmt(10), "10");
  EXPECT_EQ(fmt(1e6), "1000000");
  EXPECT_EQ(fmt(0.1 + 0.2), "0.30000000000000004");
  EXPECT_EQ(fmt(INFINITY), "+Inf");
  EXPECT_EQ(fmt(-INFINITY), "-Inf");
  EXPECT_EQ(fmt(NAN), "NaN");
}

TEST(PrometheusTextParser, RejectsWhatScrapersReject) {
  const char* bad[] = {
      "m{a=\"x\\t\"} 1\n",                           // unknown escape
      "m{a=\"x\"} 1\nm{a=\"x\"} 2\n",                // duplicate series
      "m{a=\"x\",a=\"y\"} 1\n",                      // duplicate label
      "a 1\nb 1\na 2\n",                             // family not contiguous
      "m 1\n# TYPE m counter\n",                     // TYPE after samples
      "m one\n",                                     // bad value
      "m 1",                                         // no final newline
      "1m 1\n",                                      // bad name
      "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
      "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n",  // no +Inf
      "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 2\n",
      "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n",  // no _sum
  };
  for (const char* text : bad) {
    EXPECT_FALSE(parsePrometheusText(text).ok()) << text;
  }
  auto good = parsePrometheusText(
      "# a comment\n# TYPE h histogram\nh_bucket{le=\"0.5\"} 1\nh_bucket{le=\"+Inf\"} 2\n"
      "h_sum 1.5\nh_count 2\nm{a=\"\"} NaN 1700000000000\n");
  ASSERT_TRUE(good.ok()) << good.error().message;
  EXPECT_EQ(good->value("h_count"), 2);
  EXPECT_TRUE(std::isnan(*good->value("m", {{"a", ""}})));
}

}  // namespace
}  // namespace podlens::controller
