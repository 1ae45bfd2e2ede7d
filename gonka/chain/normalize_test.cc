#include "gonka/chain/normalize.h"

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gonka/devchain/chain.h"
#include "gtest/gtest.h"

namespace gonka {
namespace chain {
namespace {

using ::testing::HasSubstr;

// A CometBFT-shaped pair (docs/reference/protocol.md, "Result shapes"): omitted zero fields, a
// failed tx, null events.
constexpr char kBlock[] = R"({"block_id":{"hash":"AB12","parts":{"total":1,"hash":"CD"}},
 "block":{"header":{"version":{"block":"11","app":"0"},"chain_id":"gonka-mainnet","height":"12",
 "time":"2025-06-01T10:00:00.123456789Z","last_block_id":{"hash":"9F00","parts":{"total":1,"hash":"EE"}},
 "proposer_address":"B0E3"},"data":{"txs":["aGVsbG8=","d29ybGQ="]},"evidence":{"evidence":null},
 "last_commit":{"height":"11","round":0,"signatures":[]}}})";
constexpr char kResults[] = R"({"height":"12","txs_results":[
 {"code":0,"data":"EiY=","log":"","gas_wanted":"200000","gas_used":"61234",
  "events":[{"type":"message","attributes":[{"key":"action","value":"/cosmos.bank.v1beta1.MsgSend","index":true},
                                           {"key":"sender","value":"gonka1x"}]}]},
 {"code":32,"log":"account sequence mismatch, expected 5, got 4: incorrect account sequence",
  "gas_wanted":"200000","gas_used":"1234","codespace":"sdk"}],
 "finalize_block_events":[{"type":"coin_spent","attributes":[{"key":"spender","value":"gonka1y","index":true}]}],
 "validator_updates":null,"consensus_param_updates":null,"app_hash":"AQID"})";

TEST(NormalizeTest, CometBftShapes) {
  EpochParams epochs;
  epochs.epoch_length = 10;
  epochs.poc_stage_duration = 2;
  epochs.poc_validation_duration = 2;
  epochs.poc_validation_delay = 1;
  epochs.poc_exchange_duration = 1;
  epochs.set_new_validators_delay = 1;
  absl::StatusOr<v1::BlockEvents> b =
      NormalizeBlock(kBlock, kResults, {.chain_id = "gonka-mainnet", .epochs = epochs});
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->chain_id(), "gonka-mainnet");
  EXPECT_EQ(b->height(), 12);
  EXPECT_EQ(b->hash(), "AB12");
  EXPECT_EQ(b->last_hash(), "9F00");
  EXPECT_EQ(b->time(), "2025-06-01T10:00:00.123456789Z");
  EXPECT_EQ(b->time_unix_nanos() % 1000000000, 123456789);
  EXPECT_EQ(b->app_hash(), "010203");
  ASSERT_EQ(b->txs_size(), 2);
  // SHA-256("hello")
  EXPECT_EQ(b->txs(0).hash(), "2CF24DBA5FB0A30E26E83B2AC5B9E29E1B161E5C1FA7425E73043362938B9824");
  EXPECT_EQ(b->txs(0).code(), 0u);
  EXPECT_EQ(b->txs(0).gas_used(), 61234);
  ASSERT_EQ(b->txs(0).events_size(), 1);
  EXPECT_EQ(b->txs(0).events(0).attributes(0).value(), "/cosmos.bank.v1beta1.MsgSend");
  EXPECT_TRUE(b->txs(0).events(0).attributes(0).index());
  EXPECT_FALSE(b->txs(0).events(0).attributes(1).index());
  EXPECT_EQ(b->txs(1).index(), 1u);
  EXPECT_EQ(b->txs(1).code(), 32u);
  EXPECT_EQ(b->txs(1).codespace(), "sdk");
  EXPECT_EQ(b->finalize_block_events(0).type(), "coin_spent");
  EXPECT_EQ(b->epoch().epoch_index(), 0);
  EXPECT_EQ(b->epoch().poc_start_height(), 10);
  EXPECT_EQ(b->epoch().phase(), "PoCGenerateWindDown");
  EXPECT_EQ(b->epoch().stage(), "EndOfPoCGeneration");
}

TEST(NormalizeTest, InconsistentOrMalformedInputIsAnError) {
  std::string other_height = kResults;
  other_height.replace(other_height.find("\"12\""), 4, "\"13\"");
  EXPECT_EQ(NormalizeBlock(kBlock, other_height, {}).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(NormalizeBlock(kBlock, R"({"height":"12","txs_results":null,"app_hash":""})", {})
                .status()
                .code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(NormalizeBlock(kBlock, kResults, {.chain_id = "other"}).status().code(),
            absl::StatusCode::kDataLoss);
  absl::Status bad = NormalizeBlock("{\"block_id\":", kResults, {}).status();
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.message()), HasSubstr("/block"));
  EXPECT_EQ(NormalizeBlock(kBlock, "[1,2]", {}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(NormalizeTest, DevchainOutputRoundTrips) {
  devchain::ChainOptions options;
  options.synthetic_txs_per_block = 50;
  options.epochs.epoch_length = 300;
  devchain::Chain chain(options, nullptr);
  for (int i = 0; i < 3; ++i) chain.ProduceBlock();
  devchain::BlockPtr block = *chain.GetBlock(3);
  absl::StatusOr<v1::BlockEvents> b =
      NormalizeBlock(block->block_json, block->block_results_json, {.chain_id = options.chain_id});
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->height(), 3);
  EXPECT_EQ(b->txs_size(), 50);
  EXPECT_EQ(b->txs(7).events(2).attributes(0).key(), "key");
  EXPECT_EQ(absl::FromUnixNanos(b->time_unix_nanos()), block->time);
}

TEST(EpochTest, ScheduleFollowsTheGonkaNode) {
  EpochParams p;
  p.epoch_length = 400;
  EXPECT_EQ(ScheduleAt(p, 5).phase, "Inference");
  EXPECT_EQ(ScheduleAt(p, 5).epoch_index, 0);
  EXPECT_EQ(ScheduleAt(p, 400).stage, "StartOfPoC");
  EXPECT_EQ(ScheduleAt(p, 400).phase, "PoCGenerate");
  EXPECT_EQ(ScheduleAt(p, 448).stage, "PoCGenerationWindDown");
  EXPECT_EQ(ScheduleAt(p, 448).phase, "PoCGenerateWindDown");
  EXPECT_EQ(ScheduleAt(p, 460).stage, "EndOfPoCGeneration");
  EXPECT_EQ(ScheduleAt(p, 465).stage, "PoCExchangeDeadline");  // first match wins
  EXPECT_EQ(ScheduleAt(p, 465).phase, "PoCValidate");
  EXPECT_EQ(ScheduleAt(p, 481).stage, "PoCValidationWindDown");
  EXPECT_EQ(ScheduleAt(p, 485).stage, "EndOfPoCValidation");
  EXPECT_EQ(ScheduleAt(p, 485).phase, "Inference");
  EXPECT_EQ(ScheduleAt(p, 604).epoch_index, 0);
  EXPECT_EQ(ScheduleAt(p, 605).stage, "SetNewValidators");
  EXPECT_EQ(ScheduleAt(p, 605).epoch_index, 1);
  EXPECT_EQ(ScheduleAt(p, 606).stage, "ClaimMoney");
  EXPECT_EQ(ScheduleAt(p, 1005).epoch_index, 2);
  p.epoch_length = 100;
  EXPECT_THAT(std::string(ValidateEpochParams(p).message()), HasSubstr("epoch_length"));
}

}  // namespace
}  // namespace chain
}  // namespace gonka
