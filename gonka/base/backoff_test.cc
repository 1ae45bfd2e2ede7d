#include "gonka/base/backoff.h"

#include <gtest/gtest.h>

namespace gonka {
namespace {

TEST(BackoffTest, GrowsGeometricallyAndStaysWithinBounds) {
  BackoffOptions o;
  o.initial = absl::Milliseconds(100);
  o.max = absl::Seconds(2);
  o.multiplier = 2;
  o.jitter = 0.5;
  o.seed = 42;
  Backoff b(o);
  absl::Duration base = o.initial;
  for (int i = 0; i < 50; ++i) {
    absl::Duration d = b.Next();
    EXPECT_LE(d, base) << "attempt " << i;
    EXPECT_GE(d, base * 0.5) << "attempt " << i;
    EXPECT_LE(d, o.max);
    base = std::min(base * 2, o.max);
  }
}

TEST(BackoffTest, NoJitterIsDeterministicAndResetRestarts) {
  Backoff b({.initial = absl::Milliseconds(10),
             .max = absl::Seconds(1),
             .multiplier = 3,
             .jitter = 0,
             .seed = 1});
  EXPECT_EQ(b.Next(), absl::Milliseconds(10));
  EXPECT_EQ(b.Next(), absl::Milliseconds(30));
  EXPECT_EQ(b.Next(), absl::Milliseconds(90));
  b.Reset();
  EXPECT_EQ(b.Next(), absl::Milliseconds(10));
  for (int i = 0; i < 2000; ++i) b.Next();  // no overflow after many attempts
  EXPECT_EQ(b.Next(), absl::Seconds(1));
}

TEST(BackoffTest, ValidateNamesTheField) {
  EXPECT_TRUE(Backoff::Validate({}).ok());
  BackoffOptions bad;
  bad.initial = absl::ZeroDuration();
  EXPECT_NE(Backoff::Validate(bad).message().find("initial"), std::string::npos);
  bad = {};
  bad.max = absl::Milliseconds(1);
  EXPECT_NE(Backoff::Validate(bad).message().find("max"), std::string::npos);
  bad = {};
  bad.jitter = 1.5;
  EXPECT_NE(Backoff::Validate(bad).message().find("jitter"), std::string::npos);
  bad = {};
  bad.multiplier = 0.5;
  EXPECT_EQ(Backoff::Validate(bad).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace gonka
