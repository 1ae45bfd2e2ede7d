// Rolling restart under load with real HAProxy: every replica restarted while GETs, POSTs and SSE
// streams flow must cost nothing — no non-2xx, no resets, no cut streams — with a router that
// retries nothing at all (2 replicas) and with the template's policy, which replays nothing that
// could have reached a replica (`retry-on conn-failure`, 3 replicas). bench/rollout runs the long
// version.
#include "gonka/testing/rollout_harness.h"

#include <cstdio>

#include "gtest/gtest.h"

namespace gonka {
namespace testing {
namespace {

void ExpectNothingLost(const RolloutOptions& options, const RolloutResult& r) {
  if (!options.router_retries) {
    EXPECT_EQ(r.router_retries, 0u);
    EXPECT_EQ(r.router_redispatches, 0u);
  }
  EXPECT_EQ(r.restarts, static_cast<uint64_t>(options.replicas * options.rounds));
  EXPECT_GT(r.requests, 100u);
  EXPECT_GT(r.posts, 20u);
  EXPECT_GT(r.streams, 2u);
  EXPECT_EQ(r.non_2xx, 0u);
  EXPECT_EQ(r.bad_answers, 0u);
  EXPECT_EQ(r.resets, 0u);
  EXPECT_EQ(r.cut_streams, 0u);
  EXPECT_EQ(r.unclean_exits, 0u);
  // The timing contract: HAProxy drops a replica well inside its announce window (2 s here).
  EXPECT_LT(r.max_down_after_sigterm, absl::Seconds(2));
}

// Two replicas: while one restarts, the other carries everything. This is the case the old
// "wait for /ready, then restart the next" step broke (no replica UP in HAProxy for a moment).
TEST(RolloutTest, TwoReplicasWithoutRouterReplaysDropNothing) {
  RolloutOptions options;
  options.replicas = 2;
  options.rounds = 2;
  options.router_retries = false;  // `retries 0`, `retry-on none`: HAProxy replays nothing
  absl::StatusOr<RolloutResult> result = RunRollout(options);
  ASSERT_TRUE(result.ok()) << result.status();
  std::printf("rollout 2 replicas: %s\n", result->ToString().c_str());
  ExpectNothingLost(options, *result);
}

TEST(RolloutTest, ThreeReplicasDropNothing) {
  RolloutOptions options;
  options.replicas = 3;
  options.rounds = 1;
  absl::StatusOr<RolloutResult> result = RunRollout(options);
  ASSERT_TRUE(result.ok()) << result.status();
  std::printf("rollout 3 replicas: %s\n", result->ToString().c_str());
  ExpectNothingLost(options, *result);
}

}  // namespace
}  // namespace testing
}  // namespace gonka
