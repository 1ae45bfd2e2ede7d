// Rolling restart under load with real HAProxy: every replica restarted while traffic flows must
// cost nothing — no non-2xx, no resets, no cut streams. bench/rollout runs the full x10.
#include "gonka/drain/rollout_harness.h"

#include "gtest/gtest.h"

namespace gonka {
namespace {

TEST(RolloutTest, RollingRestartUnderLoadDropsNothing) {
  RolloutOptions options;
  options.rounds = 2;
  absl::StatusOr<RolloutResult> result = RunRollout(options);
  ASSERT_TRUE(result.ok()) << result.status();
  std::printf("rollout: %s\n", result->ToString().c_str());
  EXPECT_EQ(result->restarts, 4u);
  EXPECT_GT(result->requests, 100u);
  EXPECT_GT(result->streams, 4u);
  EXPECT_EQ(result->non_2xx, 0u);
  EXPECT_EQ(result->resets, 0u);
  EXPECT_EQ(result->cut_streams, 0u);
  EXPECT_EQ(result->unclean_exits, 0u);
}

}  // namespace
}  // namespace gonka
