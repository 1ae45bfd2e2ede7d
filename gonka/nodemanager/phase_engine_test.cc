#include "gonka/nodemanager/phase_engine.h"

#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace gonka {
namespace nodemanager {
namespace {

constexpr char kMe[] = "gonka1qyqszqgpqyqszqgpqyqszqgpqyqszqgpjnp7du";

chain::EpochParams Params() {
  return chain::EpochParams{.epoch_length = 2000,
                            .epoch_shift = 300,
                            .poc_stage_duration = 60,
                            .poc_exchange_duration = 5,
                            .poc_validation_delay = 5,
                            .poc_validation_duration = 20,
                            .set_new_validators_delay = 120};
}

std::vector<std::string> Keys(const std::vector<Action>& actions) {
  std::vector<std::string> keys;
  for (const Action& a : actions) keys.push_back(a.idempotency_key);
  return keys;
}

TEST(PhaseEngineTest, OneEpochInGonkasOrderWithStableKeys) {
  PhaseEngine engine({.params = Params(), .participant = kMe});
  engine.ResumeAfter(3699);  // epoch 2's PoC starts at 2 * 2000 - 300 = 3700
  std::vector<Action> all;
  std::map<ActionKind, int64_t> at;
  for (int64_t h = 3700; h < 5700; ++h) {
    for (Action& a : engine.Advance(h)) {
      EXPECT_EQ(a.height, h);
      at[a.kind] = h;
      all.push_back(std::move(a));
    }
  }
  EXPECT_EQ(engine.missed_by_exact_height(), 0);
  ASSERT_EQ(all.size(), 8u);
  EXPECT_EQ(at[ActionKind::kEnsureSeed], 3700);
  EXPECT_EQ(at[ActionKind::kInitValidate], 3760);
  EXPECT_EQ(at[ActionKind::kStoreCommit], 3761);
  EXPECT_EQ(at[ActionKind::kValidateAll], 3765);
  EXPECT_EQ(at[ActionKind::kDistributeWeights], 3765);
  EXPECT_EQ(at[ActionKind::kInferenceUpAll], 3785);
  EXPECT_EQ(at[ActionKind::kChangeCurrentSeed], 3905);
  const int64_t delay = ClaimDelay(kMe, 3906, 5700);
  ASSERT_GE(delay, 1);
  ASSERT_LE(delay, 500);
  EXPECT_EQ(at[ActionKind::kClaimRewards], 3906 + delay);
  EXPECT_EQ(Keys(all),
            (std::vector<std::string>{std::string("seed/2/") + kMe, "init_validate/3700",
                                      std::string("store_commit/3700/") + kMe, "validate_all/3700",
                                      std::string("weights/2/") + kMe, "inference_up/3700",
                                      "change_seed/2", std::string("claim/1/") + kMe}));
  EXPECT_EQ(all.back().epoch, 1);  // epoch 2's ClaimMoney claims epoch 1
}

// The same heights in any chunking — one by one, in random jumps (a follower catching up after a
// failover), or resumed from a cursor — give the same actions, each exactly once.
TEST(PhaseEngineTest, CatchUpGivesEveryTransitionOnceWhateverTheChunks) {
  const int64_t end = 2000 * 6 - 300 - 1;  // the height before epoch 6 starts PoC
  PhaseEngine live({.params = Params(), .participant = kMe});
  std::vector<std::string> reference;
  for (int64_t h = 1; h <= end; ++h) {
    for (const Action& a : live.Advance(h)) reference.push_back(a.idempotency_key);
  }
  ASSERT_EQ(reference.size(), 5u * 8u - 1u);  // epochs 1..5; epoch 1 claims nothing (epoch 0)
  const uint32_t seed = std::random_device()();
  std::cout << "seed " << seed << std::endl;
  std::mt19937 rng(seed);
  auto jumpy =
      std::make_unique<PhaseEngine>(PhaseEngineOptions{.params = Params(), .participant = kMe});
  std::vector<std::string> got;
  int64_t h = 0;
  while (h < end) {
    h = std::min<int64_t>(end, h + 1 + static_cast<int64_t>(rng() % 400));
    for (const Action& a : jumpy->Advance(h)) got.push_back(a.idempotency_key);
    if (rng() % 5 == 0) {  // a new leader resumes from the cursor
      auto next =
          std::make_unique<PhaseEngine>(PhaseEngineOptions{.params = Params(), .participant = kMe});
      next->ResumeAfter(jumpy->last_height());
      jumpy = std::move(next);
    }
  }
  EXPECT_EQ(got, reference);
  // Older heights give nothing again.
  EXPECT_TRUE(jumpy->Advance(10).empty());
}

TEST(PhaseEngineTest, CountsTransitionsTheExactHeightRuleWouldMiss) {
  PhaseEngine engine({.params = Params(), .participant = kMe});
  engine.ResumeAfter(3690);
  // Seen live: 3691..3699 and then 3790. Seed, init-validate, validate-all, weights and
  // inference-up all fell on heights never seen live (and the store commit).
  for (int64_t h = 3691; h < 3700; ++h) engine.Advance(h);
  std::vector<Action> caught = engine.Advance(3790);
  EXPECT_EQ(caught.size(), 6u);
  EXPECT_EQ(engine.missed_by_exact_height(), 6);
}

TEST(PhaseEngineTest, ClaimDelaySpreadsParticipants) {
  EXPECT_EQ(ClaimDelay(kMe, 400, 5000), 0);   // too early in the chain
  EXPECT_EQ(ClaimDelay(kMe, 3906, 4500), 0);  // epoch too short for a spread
  std::map<int64_t, int> delays;
  for (int i = 0; i < 200; ++i) {
    int64_t d = ClaimDelay("gonka1participant" + std::to_string(i), 3906, 5700);
    ASSERT_GE(d, 1);
    ASSERT_LE(d, 500);
    ++delays[d];
  }
  EXPECT_GT(delays.size(), 100u);  // spread, not clustered
  EXPECT_EQ(ClaimDelay(kMe, 3906, 5700), ClaimDelay(kMe, 3906, 5700));
}

TEST(PhaseEngineTest, IntendedStatePerPhase) {
  EXPECT_EQ(IntendedStateFor("PoCGenerate"), IntendedState::kPocGenerating);
  EXPECT_EQ(IntendedStateFor("PoCGenerateWindDown"), IntendedState::kPocGenerating);
  EXPECT_EQ(IntendedStateFor("PoCValidate"), IntendedState::kPocValidating);
  EXPECT_EQ(IntendedStateFor("PoCValidateWindDown"), IntendedState::kPocValidating);
  EXPECT_EQ(IntendedStateFor("Inference"), IntendedState::kInference);
  EXPECT_EQ(IntendedStateName(IntendedState::kPocValidating), "POC_VALIDATING");
}

TEST(PhaseEngineTest, NoEpochsNoActions) {
  PhaseEngine engine({.params = {}, .participant = kMe});
  EXPECT_TRUE(engine.Advance(100000).empty());
  EXPECT_EQ(engine.last_height(), 100000);
}

}  // namespace
}  // namespace nodemanager
}  // namespace gonka
