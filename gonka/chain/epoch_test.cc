#include "gonka/chain/epoch.h"

#include "gtest/gtest.h"

namespace gonka {
namespace chain {
namespace {

// Mainnet's genesis schedule (docs/reference/gonka.md, "Epochs and PoC phases").
EpochParams Mainnet() {
  return EpochParams{.epoch_length = 17280,
                     .epoch_shift = 16980,
                     .poc_stage_duration = 60,
                     .poc_exchange_duration = 5,
                     .poc_validation_delay = 5,
                     .poc_validation_duration = 20,
                     .set_new_validators_delay = 120};
}

TEST(EpochTest, ShiftMovesEveryPocStartEarlier) {
  EpochParams p = Mainnet();
  ASSERT_TRUE(ValidateEpochParams(p).ok());
  EXPECT_EQ(PocStartHeight(p, 0), 0);
  EXPECT_EQ(PocStartHeight(p, 1), 300);  // epoch 0's NextPoCStart: -shift + length
  EXPECT_EQ(PocStartHeight(p, 2), 300 + 17280);
  EXPECT_EQ(LatestEpochAt(p, 299), 0);
  EXPECT_EQ(LatestEpochAt(p, 300), 1);
  EXPECT_EQ(LatestEpochAt(p, 17579), 1);
  EXPECT_EQ(LatestEpochAt(p, 17580), 2);

  EXPECT_EQ(ScheduleAt(p, 299).phase, "Inference");
  EXPECT_EQ(ScheduleAt(p, 299).epoch_index, 0);
  EpochSchedule start = ScheduleAt(p, 300);
  EXPECT_EQ(start.stage, "StartOfPoC");
  EXPECT_EQ(start.phase, "PoCGenerate");
  EXPECT_EQ(start.poc_start_height, 300);
  EXPECT_EQ(start.epoch_index, 0);  // effective epoch switches at SetNewValidators
  EXPECT_EQ(ScheduleAt(p, 348).phase, "PoCGenerateWindDown");
  EXPECT_EQ(ScheduleAt(p, 365).phase, "PoCValidate");  // PoCExchangeDeadline names 365 too
  EXPECT_EQ(ScheduleAt(p, 505).stage, "SetNewValidators");
  EXPECT_EQ(ScheduleAt(p, 505).epoch_index, 1);
  EXPECT_EQ(ScheduleAt(p, 506).stage, "ClaimMoney");
  EXPECT_EQ(ScheduleAt(p, 17579).epoch_index, 1);
  EXPECT_EQ(ScheduleAt(p, 17580).stage, "StartOfPoC");
  EXPECT_EQ(ScheduleAt(p, 17580).poc_start_height, 17580);
}

TEST(EpochTest, NoShiftStartsPocAtMultiplesOfTheLength) {
  EpochParams p{.epoch_length = 400};
  EXPECT_EQ(ScheduleAt(p, 399).phase, "Inference");
  EXPECT_EQ(ScheduleAt(p, 400).stage, "StartOfPoC");
  EXPECT_EQ(ScheduleAt(p, 800).poc_start_height, 800);
  EXPECT_EQ(LatestEpochAt(p, 1199), 2);
}

TEST(EpochTest, ShiftOutOfRangeIsRefusedNamingTheField) {
  EpochParams p = Mainnet();
  p.epoch_shift = 17280;
  EXPECT_NE(ValidateEpochParams(p).message().find("epoch_shift"), absl::string_view::npos);
  p.epoch_shift = -1;
  EXPECT_NE(ValidateEpochParams(p).message().find("epoch_shift"), absl::string_view::npos);
}

}  // namespace
}  // namespace chain
}  // namespace gonka
