// node-manager chaos in CI: 3 epochs (GONKA_CHAOS_NM_EPOCHS) of leader kills and pauses, seed
// printed (GONKA_CHAOS_SEED replays). Every PoC stage drove every ML node into generation once,
// every node came back to inference, no ML node accepted a deposed leader's command.
#include "gonka/testing/env_var.h"
#include "gtest/gtest.h"
#include "tests/chaos/nodemanager_chaos.h"

namespace gonka {
namespace {

TEST(NodeManagerChaosTest, EveryStageOnceOnEveryNodeThroughFailovers) {
  NodeManagerChaosOptions options;
  options.seed = static_cast<uint64_t>(testing::EnvInt("GONKA_CHAOS_SEED", 0));
  options.epochs = static_cast<int>(testing::EnvInt("GONKA_CHAOS_NM_EPOCHS", 3));
  absl::StatusOr<NodeManagerChaosResult> result = RunNodeManagerChaos(options);
  ASSERT_TRUE(result.ok()) << result.status();
  std::printf("node-manager chaos: %s\n", result->ToString().c_str());
  EXPECT_EQ(result->stages, options.epochs);
  EXPECT_GT(result->kills + result->pauses, 0);
  EXPECT_EQ(result->generated, result->stage_node_pairs) << result->missing;
  EXPECT_EQ(result->generated_in_time, result->stage_node_pairs);
  EXPECT_EQ(result->duplicate_generates, 0);
  EXPECT_EQ(result->returned_to_inference, result->stage_node_pairs);
  EXPECT_EQ(result->lower_token_accepted, 0);
  EXPECT_EQ(result->seeds_on_chain_once, result->seeds_expected);
  EXPECT_EQ(result->claims_included, result->claims_expected);
  EXPECT_EQ(result->commits_complete, result->commits_expected);
  EXPECT_EQ(result->weights_complete, result->commits_expected);
  EXPECT_EQ(result->ledger_failed, 0);
  EXPECT_EQ(result->unexpected_messages, 0);
}

}  // namespace
}  // namespace gonka
