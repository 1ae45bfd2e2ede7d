// Exponential backoff with full jitter, the retry policy of every loop that talks to a server.
//
//   Backoff backoff({.initial = absl::Milliseconds(100), .max = absl::Seconds(5)});
//   while (!(status = Connect()).ok()) clock->SleepFor(backoff.Next());
//   backoff.Reset();
//
// Next() returns a delay in [base*(1-jitter), base] where base = min(max, initial*multiplier^n),
// so delays never exceed `max` and never drop below (1-jitter) of the un-jittered value.
// Thread-compatible (one instance per retry loop).
#ifndef GONKA_BASE_BACKOFF_H_
#define GONKA_BASE_BACKOFF_H_

#include <cstdint>
#include <random>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace gonka {

struct BackoffOptions {
  absl::Duration initial = absl::Milliseconds(100);
  absl::Duration max = absl::Seconds(10);
  double multiplier = 2.0;
  // Fraction of each delay that is randomised away (0 = deterministic, 1 = full jitter).
  double jitter = 0.5;
  // Seed for the jitter; 0 picks a random seed.
  uint64_t seed = 0;
};

class Backoff {
 public:
  explicit Backoff(BackoffOptions options = {});

  // InvalidArgument naming the field when initial <= 0, max < initial, multiplier < 1 or jitter
  // outside [0, 1].
  static absl::Status Validate(const BackoffOptions& options);

  // The next delay; grows geometrically up to `max`.
  absl::Duration Next();
  // Back to `initial` (after a success).
  void Reset() { attempt_ = 0; }
  int attempt() const { return attempt_; }

 private:
  BackoffOptions options_;
  int attempt_ = 0;
  std::mt19937_64 rng_;
};

}  // namespace gonka

#endif  // GONKA_BASE_BACKOFF_H_
