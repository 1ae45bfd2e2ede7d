// The event hub under partitions in CI: one fault of each type but one (GONKA_PARTITION_FAULTS for
// more), seed printed (GONKA_CHAOS_SEED replays). Needs root for the test hosts: fails, never
// skips, without it. Every height exactly once, in order, equal to devchain's.
#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_split.h"
#include "gonka/testing/process.h"
#include "gonka/testing/env_var.h"
#include "gtest/gtest.h"
#include "tests/partitions/eventhub_partitions.h"

namespace gonka {
namespace {

TEST(EventHubPartitionsTest, EveryHeightExactlyOnceInOrderUnderPartitions) {
  ASSERT_TRUE(testing::RunningAsRoot())
      << "partition tests build network namespaces and need root (CI runs as root)";
  PartitionChaosOptions options;
  options.seed = static_cast<uint64_t>(testing::EnvInt("GONKA_CHAOS_SEED", 0));
  options.faults = static_cast<int>(testing::EnvInt("GONKA_PARTITION_FAULTS", 7));
  // Every type except nats-node-isolated: with nats-server 2.9.10 an R3 stream can come back from
  // that fault with a leader far behind what it acknowledged (docs/faults.md), and the hub then
  // stops rather than write a gap, so the round would fail on the server, not on libgonka.
  // GONKA_PARTITION_TYPES=nats-node-isolated replays it; bench/chaos_partitions measures it.
  options.types = {"leader-redis-cut",  "leader-redis-one-way", "leader-nats-majority",
                   "leader-chain-cut",  "leader-link-down",     "leader-redis-latency",
                   "redis-cut+kill-new"};
  if (const char* types = std::getenv("GONKA_PARTITION_TYPES"); types != nullptr) {
    options.types = absl::StrSplit(types, ',', absl::SkipEmpty());
  }
  absl::StatusOr<PartitionChaosResult> result = RunEventHubPartitions(options);
  ASSERT_TRUE(result.ok()) << result.status();
  std::printf("eventhub partitions: %s\n%s", result->ToString().c_str(),
              result->PauseTable().c_str());
  EXPECT_EQ(result->faults, options.faults);
  EXPECT_EQ(result->first_height, 1);
  EXPECT_EQ(result->gaps, 0);
  EXPECT_EQ(result->duplicates, 0);
  EXPECT_EQ(result->reorders, 0);
  EXPECT_EQ(result->content_mismatch, "");
  EXPECT_EQ(result->lingering_two_leaders, 0);
}

}  // namespace
}  // namespace gonka
