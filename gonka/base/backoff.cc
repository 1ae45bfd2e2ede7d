#include "gonka/base/backoff.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace gonka {

Backoff::Backoff(BackoffOptions options)
    : options_(options), rng_(options.seed != 0 ? options.seed : std::random_device{}()) {
  // Invalid options are a programming error at the call site; clamp rather than misbehave.
  if (options_.initial <= absl::ZeroDuration()) options_.initial = absl::Milliseconds(1);
  if (options_.max < options_.initial) options_.max = options_.initial;
  options_.multiplier = std::max(1.0, options_.multiplier);
  options_.jitter = std::clamp(options_.jitter, 0.0, 1.0);
}

absl::Status Backoff::Validate(const BackoffOptions& o) {
  if (o.initial <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("backoff initial must be > 0, got ", absl::FormatDuration(o.initial)));
  }
  if (o.max < o.initial) {
    return absl::InvalidArgumentError(absl::StrCat("backoff max (", absl::FormatDuration(o.max),
                                                   ") must be >= initial (",
                                                   absl::FormatDuration(o.initial), ")"));
  }
  if (!(o.multiplier >= 1.0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("backoff multiplier must be >= 1, got ", o.multiplier));
  }
  if (!(o.jitter >= 0.0 && o.jitter <= 1.0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("backoff jitter must be in [0, 1], got ", o.jitter));
  }
  return absl::OkStatus();
}

absl::Duration Backoff::Next() {
  double base_s = absl::ToDoubleSeconds(options_.initial) *
                  std::pow(options_.multiplier, static_cast<double>(attempt_));
  base_s = std::min(base_s, absl::ToDoubleSeconds(options_.max));
  if (attempt_ < 1000) ++attempt_;
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  double factor = 1.0 - options_.jitter * unit(rng_);
  return absl::Seconds(base_s * factor);
}

}  // namespace gonka
