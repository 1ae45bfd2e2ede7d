// Reading the Prometheus text exposition format (version 0.0.4) that every daemon's /metrics
// serves: one sample per line, `name{label="value",...} value [timestamp]`, `#` lines are HELP,
// TYPE or comments. prometheus-cpp writes this format but has no reader, and NodeStatus only needs
// the samples' names, labels and values, so this is that much and no more. Label values unescape
// \\, \" and \n as the format defines. Lines that do not parse are skipped (counted in
// `skipped`), never an error: a page must not fail because one daemon wrote something odd.
#ifndef GONKA_NODESTATUS_INTERNAL_PROMETHEUS_TEXT_H_
#define GONKA_NODESTATUS_INTERNAL_PROMETHEUS_TEXT_H_

#include <map>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace gonka {
namespace nodestatus {
namespace internal {

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct ParsedMetrics {
  std::vector<Sample> samples;
  int skipped = 0;

  // Sum of every sample named `name` whose labels include all of `match`; 0 if none.
  double Sum(absl::string_view name, const std::map<std::string, std::string>& match = {}) const;
  // True when at least one sample is named `name`.
  bool Has(absl::string_view name) const;
  // Sum of `name` grouped by the value of `label`.
  std::map<std::string, double> SumBy(absl::string_view name, const std::string& label) const;
};

ParsedMetrics ParsePrometheusText(absl::string_view text);

}  // namespace internal
}  // namespace nodestatus
}  // namespace gonka

#endif  // GONKA_NODESTATUS_INTERNAL_PROMETHEUS_TEXT_H_
