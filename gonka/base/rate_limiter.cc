#include "gonka/base/rate_limiter.h"

#include <algorithm>
#include <cmath>

namespace gonka {

RateLimiter::RateLimiter(RateLimiterOptions options)
    : options_([&] {
        options.burst = std::max(1.0, options.burst);
        return options;
      }()),
      clock_(options_.clock != nullptr ? options_.clock : Clock::Real()) {}

void RateLimiter::Refill(Bucket& b, absl::Time now) const {
  const double elapsed = absl::ToDoubleSeconds(std::max(absl::ZeroDuration(), now - b.updated));
  b.tokens = std::min(options_.burst, b.tokens + elapsed * options_.rate_per_second);
  b.updated = now;
}

void RateLimiter::DropFullBuckets(absl::Time now) {
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    Refill(it->second, now);
    if (it->second.tokens >= options_.burst) {
      buckets_.erase(it++);
    } else {
      ++it;
    }
  }
}

absl::Duration RateLimiter::Take(absl::string_view key) {
  if (options_.rate_per_second <= 0) return absl::ZeroDuration();
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  auto it = buckets_.find(key);
  if (it == buckets_.end()) {
    if (buckets_.size() >= options_.max_keys) DropFullBuckets(now);
    it = buckets_.emplace(std::string(key), Bucket{options_.burst, now}).first;
  }
  Bucket& b = it->second;
  Refill(b, now);
  if (b.tokens >= 1) {
    b.tokens -= 1;
    return absl::ZeroDuration();
  }
  return absl::Seconds((1 - b.tokens) / options_.rate_per_second);
}

}  // namespace gonka
