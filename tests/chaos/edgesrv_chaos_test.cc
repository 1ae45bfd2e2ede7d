// edge-srv chaos in CI: 2 PoC stages (GONKA_CHAOS_EDGESRV_STAGES) of posting through HAProxy to 3
// replicas that are killed and rolled, seed printed (GONKA_CHAOS_SEED replays). Every batch
// answered 200 is in the committed store exactly once, no nonce twice, counts never went back.
#include "gonka/testing/env_var.h"
#include "gtest/gtest.h"
#include "tests/chaos/edgesrv_chaos.h"

namespace gonka {
namespace {

TEST(EdgeSrvChaosTest, EveryAcceptedBatchStoredOnceThroughKillsAndRolls) {
  EdgeSrvChaosOptions options;
  options.seed = static_cast<uint64_t>(testing::EnvInt("GONKA_CHAOS_SEED", 0));
  options.stages = static_cast<int>(testing::EnvInt("GONKA_CHAOS_EDGESRV_STAGES", 2));
  absl::StatusOr<EdgeSrvChaosResult> result = RunEdgeSrvChaos(options);
  ASSERT_TRUE(result.ok()) << result.status();
  std::printf("edge-srv chaos: %s\n", result->ToString().c_str());
  EXPECT_EQ(result->stages, options.stages);
  EXPECT_GT(result->kills + result->rolls, 0);
  EXPECT_GT(result->batches_acked, 0);
  EXPECT_GT(result->acked_nonces, 0);
  EXPECT_EQ(result->acked_missing, 0);
  EXPECT_EQ(result->duplicate_nonces, 0);
  EXPECT_EQ(result->foreign_nonces, 0);
  EXPECT_EQ(result->count_went_back, 0);
  EXPECT_EQ(result->count_mismatch, 0);
  EXPECT_GE(result->stored, result->acked_nonces);
}

}  // namespace
}  // namespace gonka
