// Gonka's PoC timing from a stage window (dapi admin timing_calculator.go's rules) and the price
// conversion by denom.
#include "gonka/edgesrv/admin_api.h"

#include "gtest/gtest.h"

namespace gonka {
namespace edgesrv {
namespace {

StageWindow At(int64_t height, int64_t poc_start, const char* phase) {
  return StageWindow{.height = height, .poc_start = poc_start, .phase = phase};
}

TEST(ComputePocTiming, CountsToTheNextPocStartAtSixSecondsABlock) {
  // Inference, 1,000 blocks after a PoC start of a 15,000-block epoch: 14,000 blocks to go.
  std::optional<PocTiming> t = ComputePocTiming(At(21000, 20000, "Inference"), 15000);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->current_phase, "Inference");
  EXPECT_EQ(t->blocks_until_next_poc, 14000);
  EXPECT_EQ(t->seconds_until_next_poc, 84000);
  EXPECT_FALSE(t->should_be_online);
}

TEST(ComputePocTiming, OnlineInPocPhasesAndWithinTenMinutes) {
  EXPECT_TRUE(ComputePocTiming(At(20010, 20000, "PoCGenerate"), 15000)->should_be_online);
  EXPECT_TRUE(ComputePocTiming(At(20100, 20000, "PoCValidateWindDown"), 15000)->should_be_online);
  // 100 blocks (600 s) before the next PoC: online; 101 blocks (606 s): not yet.
  EXPECT_TRUE(ComputePocTiming(At(34900, 20000, "Inference"), 15000)->should_be_online);
  EXPECT_FALSE(ComputePocTiming(At(34899, 20000, "Inference"), 15000)->should_be_online);
}

TEST(ComputePocTiming, NothingWithoutAPocStartOrAnEpochLength) {
  EXPECT_FALSE(ComputePocTiming(At(50, 0, "Inference"), 15000).has_value());
  EXPECT_FALSE(ComputePocTiming(At(21000, 20000, "Inference"), 0).has_value());
}

TEST(NanoPrice, ConvertsByDenomAndRefusesOverflow) {
  EXPECT_EQ(*NanoPrice(2, "ugonka"), 2000u);
  EXPECT_EQ(*NanoPrice(3, "gonka"), 3000000000u);
  EXPECT_FALSE(NanoPrice(1, "icoin").ok());
  EXPECT_FALSE(NanoPrice(uint64_t{1} << 62, "gonka").ok());
}

}  // namespace
}  // namespace edgesrv
}  // namespace gonka
