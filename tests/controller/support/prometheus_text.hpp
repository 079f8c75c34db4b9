// A strict parser of the Prometheus text exposition format 0.0.4, for tests: turns /metrics
// back into series -> value and checks what a scraper relies on (syntax, escaping, HELP/TYPE
// before samples, families contiguous, no duplicate series, histograms cumulative with a
// +Inf bucket equal to _count and a _sum).
#pragma once

#include <podlens/result.hpp>

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace podlens::testing {

using LabelMap = std::map<std::string, std::string>;

struct PromSample {
  std::string name;
  LabelMap labels;
  double value = 0;
};

struct PromFamily {
  std::string help;
  std::string type;  // "counter", "gauge", "histogram", "summary", "untyped"
};

struct Exposition {
  std::vector<PromSample> samples;           // in text order
  std::map<std::string, PromFamily> families;  // by family name
  std::map<std::string, double> series;        // seriesKey(name, labels) -> value

  // The sample with exactly these labels.
  std::optional<double> value(std::string_view name, const LabelMap& labels = {}) const;
  // Samples of `name` whose labels include every pair of `subset`.
  std::vector<const PromSample*> select(std::string_view name, const LabelMap& subset = {}) const;
  // Sum of their values (0 when none).
  double sum(std::string_view name, const LabelMap& subset = {}) const;
};

// `name{a="x",b="y"}` with labels in name order, values unescaped; `name` without labels.
std::string seriesKey(std::string_view name, const LabelMap& labels);

// Errors name the line: "line 12: label value: unknown escape \t".
Result<Exposition> parsePrometheusText(std::string_view text);

}  // namespace podlens::testing
