// StreamStageGate driven by hand-made block records: Gonka's accept rules per phase, the exchange
// deadline marker, staleness, and agreement with the schedule-derived WindowAt.
#include "gonka/edgesrv/stage_gate.h"

#include "absl/strings/str_cat.h"
#include "gonka/base/clock.h"
#include "gtest/gtest.h"

namespace gonka {
namespace edgesrv {
namespace {

chain::v1::BlockEvents Block(const chain::EpochParams& p, int64_t height) {
  chain::v1::BlockEvents b;
  b.set_height(height);
  chain::EpochSchedule s = chain::ScheduleAt(p, height);
  b.mutable_epoch()->set_epoch_index(s.epoch_index);
  b.mutable_epoch()->set_poc_start_height(s.poc_start_height);
  b.mutable_epoch()->set_phase(s.phase);
  b.mutable_epoch()->set_stage(s.stage);
  return b;
}

chain::EpochParams Params(int64_t exchange, int64_t validation_delay) {
  chain::EpochParams p;
  p.epoch_length = 100;
  p.poc_stage_duration = 20;
  p.poc_exchange_duration = exchange;
  p.poc_validation_delay = validation_delay;
  p.poc_validation_duration = 10;
  p.set_new_validators_delay = 5;
  return p;
}

TEST(StreamStageGate, UnknownUntilTheFirstBlockAndWhenTheStreamStalls) {
  FakeClock clock(absl::FromUnixSeconds(1000));
  StreamStageGate gate(nullptr, {.stale_after = absl::Seconds(10), .clock = &clock});
  EXPECT_TRUE(absl::IsUnavailable(gate.Current().status()));
  ASSERT_TRUE(gate.Observe(Block(Params(5, 5), 105)).ok());
  ASSERT_TRUE(gate.Current().ok());
  clock.Advance(absl::Seconds(11));
  absl::StatusOr<StageWindow> stale = gate.Current();
  EXPECT_TRUE(absl::IsUnavailable(stale.status()));
  EXPECT_NE(stale.status().message().find("105"), std::string::npos) << stale.status();
  chain::v1::BlockEvents no_epoch;
  no_epoch.set_height(106);
  ASSERT_TRUE(gate.Observe(no_epoch).ok());
  EXPECT_TRUE(absl::IsUnavailable(gate.Current().status()));
}

// Every height of two epochs, observed in order from the first, gives WindowAt's answer — with
// Gonka's parameters (exchange = validation delay) and with a wind-down longer than the exchange.
TEST(StreamStageGate, FollowsGonkasRulesOverWholeEpochs) {
  for (const chain::EpochParams& p : {Params(5, 5), Params(2, 6)}) {
    StreamStageGate gate(nullptr);
    int generating = 0, validating = 0;
    for (int64_t h = 1; h < 300; ++h) {
      ASSERT_TRUE(gate.Observe(Block(p, h)).ok());
      absl::StatusOr<StageWindow> w = gate.Current();
      ASSERT_TRUE(w.ok()) << w.status();
      StageWindow want = WindowAt(p, h);
      EXPECT_EQ(w->poc_start, want.poc_start) << h;
      EXPECT_EQ(w->generating, want.generating)
          << "height " << h << " exchange " << p.poc_exchange_duration;
      EXPECT_EQ(w->validating, want.validating) << h;
      generating += w->generating;
      validating += w->validating;
    }
    // Epochs 1 and 2 (PoC at 100 and 200): stage + exchange + the start block; validation 10.
    EXPECT_EQ(generating, 2 * (20 + p.poc_exchange_duration + 1));
    EXPECT_EQ(validating, 2 * 10);
  }
}

TEST(StreamStageGate, RedeliveredBlocksAreIgnored) {
  const chain::EpochParams p = Params(5, 5);
  StreamStageGate gate(nullptr);
  ASSERT_TRUE(gate.Observe(Block(p, 130)).ok());
  ASSERT_TRUE(gate.Observe(Block(p, 101)).ok());  // older: a redelivery
  EXPECT_EQ(gate.height(), 130);
  EXPECT_TRUE(gate.Current()->validating);
}

TEST(StreamStageGate, KnowsTheStartBlockHashOnlyWhenItSawTheStartBlock) {
  const chain::EpochParams p = Params(5, 5);
  // A gate started inside a stage never saw its start block: the hash is unknown.
  StreamStageGate late(nullptr);
  int64_t start = 0;
  for (int64_t h = 1; h <= 300 && start == 0; ++h) {
    chain::v1::BlockEvents b = Block(p, h);
    if (b.epoch().poc_start_height() == h) start = h;
  }
  ASSERT_GT(start, 0);
  ASSERT_TRUE(late.Observe(Block(p, start + 1)).ok());
  EXPECT_EQ(late.Current()->poc_start_hash, "");

  StreamStageGate gate(nullptr);
  for (int64_t h = start - 1; h <= start + 2; ++h) {
    chain::v1::BlockEvents b = Block(p, h);
    b.set_hash(absl::StrCat("HASH", h));
    ASSERT_TRUE(gate.Observe(b).ok());
  }
  EXPECT_EQ(gate.Current()->poc_start, start);
  EXPECT_EQ(gate.Current()->poc_start_hash, absl::StrCat("HASH", start));
}

}  // namespace
}  // namespace edgesrv
}  // namespace gonka
