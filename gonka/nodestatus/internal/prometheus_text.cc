#include "gonka/nodestatus/internal/prometheus_text.h"

#include <cmath>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace gonka {
namespace nodestatus {
namespace internal {
namespace {

bool IsNameChar(char c, bool first) {
  return absl::ascii_isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':' ||
         (!first && absl::ascii_isdigit(static_cast<unsigned char>(c)));
}

bool ParseValue(absl::string_view text, double* out) {
  if (text == "+Inf" || text == "Inf") {
    *out = std::numeric_limits<double>::infinity();
    return true;
  }
  if (text == "-Inf") {
    *out = -std::numeric_limits<double>::infinity();
    return true;
  }
  if (text == "NaN") {
    *out = std::numeric_limits<double>::quiet_NaN();
    return true;
  }
  return absl::SimpleAtod(text, out);
}

// Parses `{k="v",...}` at the front of *rest into `labels`; false when malformed.
bool ParseLabels(absl::string_view* rest, std::map<std::string, std::string>* labels) {
  absl::string_view s = *rest;
  if (!absl::ConsumePrefix(&s, "{")) return true;
  while (true) {
    s = absl::StripLeadingAsciiWhitespace(s);
    if (absl::ConsumePrefix(&s, "}")) break;
    size_t i = 0;
    while (i < s.size() && IsNameChar(s[i], i == 0)) ++i;
    if (i == 0) return false;
    std::string key(s.substr(0, i));
    s.remove_prefix(i);
    if (!absl::ConsumePrefix(&s, "=\"")) return false;
    std::string value;
    bool closed = false;
    while (!s.empty()) {
      char c = s.front();
      s.remove_prefix(1);
      if (c == '"') {
        closed = true;
        break;
      }
      if (c == '\\' && !s.empty()) {
        char e = s.front();
        s.remove_prefix(1);
        value.push_back(e == 'n' ? '\n' : e);
        continue;
      }
      value.push_back(c);
    }
    if (!closed) return false;
    (*labels)[key] = std::move(value);
    s = absl::StripLeadingAsciiWhitespace(s);
    if (absl::ConsumePrefix(&s, ",")) continue;
    if (absl::ConsumePrefix(&s, "}")) break;
    return false;
  }
  *rest = s;
  return true;
}

}  // namespace

ParsedMetrics ParsePrometheusText(absl::string_view text) {
  ParsedMetrics out;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line.front() == '#') continue;
    size_t i = 0;
    while (i < line.size() && IsNameChar(line[i], i == 0)) ++i;
    if (i == 0) {
      ++out.skipped;
      continue;
    }
    Sample sample;
    sample.name = std::string(line.substr(0, i));
    absl::string_view rest = line.substr(i);
    if (!ParseLabels(&rest, &sample.labels)) {
      ++out.skipped;
      continue;
    }
    rest = absl::StripLeadingAsciiWhitespace(rest);
    absl::string_view value = rest.substr(0, rest.find(' '));
    if (!ParseValue(value, &sample.value)) {
      ++out.skipped;
      continue;
    }
    out.samples.push_back(std::move(sample));
  }
  return out;
}

namespace {
bool Matches(const Sample& s, const std::map<std::string, std::string>& match) {
  for (const auto& [k, v] : match) {
    auto it = s.labels.find(k);
    if (it == s.labels.end() || it->second != v) return false;
  }
  return true;
}
}  // namespace

double ParsedMetrics::Sum(absl::string_view name,
                          const std::map<std::string, std::string>& match) const {
  double total = 0;
  for (const Sample& s : samples) {
    if (s.name == name && Matches(s, match) && !std::isnan(s.value)) total += s.value;
  }
  return total;
}

bool ParsedMetrics::Has(absl::string_view name) const {
  for (const Sample& s : samples) {
    if (s.name == name) return true;
  }
  return false;
}

std::map<std::string, double> ParsedMetrics::SumBy(absl::string_view name,
                                                   const std::string& label) const {
  std::map<std::string, double> out;
  for (const Sample& s : samples) {
    if (s.name != name) continue;
    auto it = s.labels.find(label);
    out[it == s.labels.end() ? "" : it->second] += s.value;
  }
  return out;
}

}  // namespace internal
}  // namespace nodestatus
}  // namespace gonka
