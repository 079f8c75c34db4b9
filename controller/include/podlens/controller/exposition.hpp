// Prometheus text exposition format 0.0.4: a small writer the aggregator and the daemon share,
// so self-metrics (podlens_events_total, podlens_kernel_losses_total{reason}, ...) are rendered
// with the same escaping and number formatting.
//
//   TextWriter w;
//   w.family("podlens_events_total", "Events read from the ring buffer.", MetricType::Counter);
//   w.sample("podlens_events_total", {}, events);
//   w.family("podlens_kernel_losses_total", "...", MetricType::Counter);
//   w.sample("podlens_kernel_losses_total", {{"reason", "ringbuf_full"}}, n);
//   std::string body = w.take();   // Content-Type: text/plain; version=0.0.4; charset=utf-8
#pragma once

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>

namespace podlens::controller {

inline constexpr std::string_view kExpositionContentType =
    "text/plain; version=0.0.4; charset=utf-8";

enum class MetricType { Counter, Gauge, Histogram, Untyped };

struct Label {
  std::string_view name;
  std::string_view value;
};

class TextWriter {
 public:
  // "# HELP name help" and "# TYPE name type". Call once per family, before its samples; all
  // samples of a family must follow it without another family in between.
  void family(std::string_view name, std::string_view help, MetricType type);
  // name{labels} value. Label values are escaped (\\, \", \n); an empty label list prints no
  // braces. Integers print exactly; doubles in shortest round-trip form, +Inf/-Inf/NaN.
  void sample(std::string_view name, std::span<const Label> labels, double value);
  void sample(std::string_view name, std::span<const Label> labels, uint64_t value);
  void sample(std::string_view name, std::initializer_list<Label> labels, double value) {
    sample(name, std::span<const Label>(labels.begin(), labels.size()), value);
  }
  void sample(std::string_view name, std::initializer_list<Label> labels, uint64_t value) {
    sample(name, std::span<const Label>(labels.begin(), labels.size()), value);
  }

  // One-line families for self-metrics.
  void counter(std::string_view name, std::string_view help, uint64_t value);
  void gauge(std::string_view name, std::string_view help, double value);
  // podlens_kernel_losses_total{reason="..."}: one sample per podlens_loss_reason, indexed as
  // the kernel's per-CPU array (names from podlens::lossReasonName).
  void kernelLosses(std::span<const uint64_t> countsByReason);

  std::string& text() { return out_; }
  std::string take() { return std::move(out_); }

 private:
  void labelsAndValue(std::span<const Label> labels);
  std::string out_;
};

// Escapes a label value (\\ \" \n) or HELP text (\\ \n).
void appendEscapedLabelValue(std::string& out, std::string_view value);
void appendEscapedHelp(std::string& out, std::string_view help);
// Shortest round-trip text of a double; "+Inf", "-Inf", "NaN".
void appendDouble(std::string& out, double value);

}  // namespace podlens::controller
