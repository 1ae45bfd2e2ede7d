#include "gonka/base/rate_limiter.h"

#include "gtest/gtest.h"

namespace gonka {
namespace {

TEST(RateLimiterTest, BurstThenRatePerKey) {
  FakeClock clock;
  RateLimiter limiter({.rate_per_second = 10, .burst = 3, .clock = &clock});
  for (int i = 0; i < 3; ++i) EXPECT_EQ(limiter.Take("a"), absl::ZeroDuration()) << i;
  absl::Duration wait = limiter.Take("a");
  EXPECT_GT(wait, absl::ZeroDuration());
  EXPECT_LE(wait, absl::Milliseconds(100));
  // Another key has its own bucket.
  EXPECT_EQ(limiter.Take("b"), absl::ZeroDuration());
  // After 100 ms one token is back, not two.
  clock.Advance(absl::Milliseconds(100));
  EXPECT_EQ(limiter.Take("a"), absl::ZeroDuration());
  EXPECT_GT(limiter.Take("a"), absl::ZeroDuration());
  // Refill never exceeds the burst.
  clock.Advance(absl::Hours(1));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(limiter.Take("a"), absl::ZeroDuration()) << i;
  EXPECT_GT(limiter.Take("a"), absl::ZeroDuration());
}

TEST(RateLimiterTest, UnlimitedWhenRateIsZero) {
  RateLimiter limiter({.rate_per_second = 0, .burst = 1});
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(limiter.Take("k"), absl::ZeroDuration());
}

TEST(RateLimiterTest, ManyKeysStayBounded) {
  FakeClock clock;
  RateLimiter limiter({.rate_per_second = 1000, .burst = 1, .max_keys = 100, .clock = &clock});
  for (int i = 0; i < 10000; ++i) {
    EXPECT_EQ(limiter.Take(std::to_string(i)), absl::ZeroDuration());
    clock.Advance(absl::Milliseconds(1));  // older buckets are full again: droppable
  }
  // A key that is still limited keeps its bucket.
  EXPECT_EQ(limiter.Take("hot"), absl::ZeroDuration());
  EXPECT_GT(limiter.Take("hot"), absl::ZeroDuration());
}

}  // namespace
}  // namespace gonka
