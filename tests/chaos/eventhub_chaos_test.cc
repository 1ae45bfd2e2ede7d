// Event hub chaos in CI: 20 leader failovers (GONKA_CHAOS_FAILOVERS), seed printed
// (GONKA_CHAOS_SEED replays). Every height exactly once, in order, equal to devchain's.
#include "gonka/testing/env_var.h"
#include "gtest/gtest.h"
#include "tests/chaos/eventhub_chaos.h"

namespace gonka {
namespace {

// Every height the checker read came once, in order, from 1, equal to devchain's.
void ExpectExactlyOnceInOrder(const ChaosResult& result) {
  EXPECT_EQ(result.first_height, 1);
  EXPECT_EQ(result.gaps, 0);
  EXPECT_EQ(result.duplicates, 0);
  EXPECT_EQ(result.reorders, 0);
  EXPECT_EQ(result.content_mismatch, "");
}

TEST(EventHubChaosTest, EveryHeightExactlyOnceInOrder) {
  ChaosOptions options;
  options.seed = static_cast<uint64_t>(testing::EnvInt("GONKA_CHAOS_SEED", 0));
  options.failovers = static_cast<int>(testing::EnvInt("GONKA_CHAOS_FAILOVERS", 20));
  absl::StatusOr<ChaosResult> result = RunEventHubChaos(options);
  ASSERT_TRUE(result.ok()) << result.status();
  std::printf("eventhub chaos: %s\n", result->ToString().c_str());
  EXPECT_EQ(result->failovers, options.failovers);
  ExpectExactlyOnceInOrder(*result);
}

// The same with --coordination=nats: leases and the cursor in JetStream KV, no Redis at all.
TEST(EventHubChaosTest, EveryHeightExactlyOnceInOrderWithoutRedis) {
  ChaosOptions options;
  options.seed = static_cast<uint64_t>(testing::EnvInt("GONKA_CHAOS_SEED", 0));
  options.failovers = static_cast<int>(testing::EnvInt("GONKA_CHAOS_NATS_FAILOVERS", 10));
  options.coordination = "nats";
  absl::StatusOr<ChaosResult> result = RunEventHubChaos(options);
  ASSERT_TRUE(result.ok()) << result.status();
  std::printf("eventhub chaos (coordination=nats): %s\n", result->ToString().c_str());
  EXPECT_EQ(result->failovers, options.failovers);
  ExpectExactlyOnceInOrder(*result);
}

TEST(EventHubChaosTest, NatsClusterCrashes) {
  ChaosOptions options;
  options.seed = static_cast<uint64_t>(testing::EnvInt("GONKA_CHAOS_SEED", 0));
  options.failovers = static_cast<int>(testing::EnvInt("GONKA_CHAOS_CLUSTER_FAILOVERS", 6));
  options.nats_cluster = true;
  absl::StatusOr<ChaosResult> result = RunEventHubChaos(options);
  ASSERT_TRUE(result.ok()) << result.status();
  std::printf("eventhub chaos (NATS cluster): %s\n", result->ToString().c_str());
  ExpectExactlyOnceInOrder(*result);
}

}  // namespace
}  // namespace gonka
