// RateLimiter: token buckets per key (a producer's credential, a client address), so one noisy
// caller cannot starve the others or flood what is behind the limiter.
//
// Each key gets a bucket of `burst` tokens refilled at `rate_per_second`; Take(key) spends one
// token or says how long until one is available. Keys are created on first use; buckets that are
// full again are dropped when the map grows past `max_keys` (a full bucket and a missing one
// behave the same), so memory stays bounded however many keys callers invent.
//
// Example:
//   RateLimiter limiter({.rate_per_second = 50, .burst = 100});
//   if (absl::Duration wait = limiter.Take(credential); wait > absl::ZeroDuration()) {
//     return 429 with Retry-After: ceil(wait)
//   }
//
// Thread-safety: thread-safe.
#ifndef GONKA_BASE_RATE_LIMITER_H_
#define GONKA_BASE_RATE_LIMITER_H_

#include <cstddef>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gonka/base/clock.h"

namespace gonka {

struct RateLimiterOptions {
  double rate_per_second = 50;  // <= 0: unlimited
  double burst = 100;           // bucket size (at least 1)
  size_t max_keys = 10000;      // buckets kept before full ones are dropped
  Clock* clock = nullptr;       // nullptr = Clock::Real()
};

class RateLimiter {
 public:
  explicit RateLimiter(RateLimiterOptions options);

  // Spends one token of `key`'s bucket: ZeroDuration when allowed, else how long until the next
  // token (nothing is spent then).
  absl::Duration Take(absl::string_view key);

  const RateLimiterOptions& options() const { return options_; }

 private:
  struct Bucket {
    double tokens = 0;
    absl::Time updated;
  };
  void Refill(Bucket& b, absl::Time now) const;
  void DropFullBuckets(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const RateLimiterOptions options_;
  Clock* const clock_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Bucket> buckets_ ABSL_GUARDED_BY(mu_);
};

}  // namespace gonka

#endif  // GONKA_BASE_RATE_LIMITER_H_
