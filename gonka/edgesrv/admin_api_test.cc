// Gonka's PoC timing from a stage window (dapi admin timing_calculator.go's rules) and the price
// conversion by denom.
#include "gonka/edgesrv/admin_api.h"

#include "gonka/crypto/bech32.h"
#include "gonka/proto/cosmos/gov/v1/gov.pb.h"
#include "gonka/proto/inference/inference/tx.pb.h"
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

TEST(RegisterModelProposalTx, GonkasProposalWithTheGovAccountAsAuthority) {
  // The Cosmos Hub's well-known gov module account (cosmos prefix) checks the derivation.
  absl::StatusOr<std::string> hub_gov = GovModuleAddress("cosmos");
  ASSERT_TRUE(hub_gov.ok()) << hub_gov.status();
  EXPECT_EQ(*hub_gov, "cosmos10d07y265gmmuvt4z0w9aw880jnsr700j6zn9kn");

  absl::StatusOr<std::string> address = crypto::EncodeAddress("gonka", std::string(20, '\x07'));
  ASSERT_TRUE(address.ok());
  const std::string creator = *address;
  absl::StatusOr<txqueue::ChainTx> tx = RegisterModelProposalTx(creator, "Qwen/Qwen3-8B", 7, "k");
  ASSERT_TRUE(tx.ok()) << tx.status();
  ASSERT_EQ(tx->messages_size(), 1);
  EXPECT_EQ(tx->messages(0).type_url(), kMsgSubmitProposal);
  ::cosmos::gov::v1::MsgSubmitProposal proposal;
  ASSERT_TRUE(proposal.ParseFromString(tx->messages(0).value()));
  EXPECT_EQ(proposal.proposer(), creator);
  ASSERT_EQ(proposal.initial_deposit_size(), 1);
  EXPECT_EQ(proposal.initial_deposit(0).amount(), "100000000");
  EXPECT_EQ(proposal.initial_deposit(0).denom(), "ngonka");
  EXPECT_EQ(proposal.title(), "Qwen/Qwen3-8B model proposal");
  EXPECT_FALSE(proposal.expedited());
  ASSERT_EQ(proposal.messages_size(), 1);
  EXPECT_EQ(proposal.messages(0).type_url(), kMsgRegisterModel);
  ::inference::inference::MsgRegisterModel model;
  ASSERT_TRUE(model.ParseFromString(proposal.messages(0).value()));
  absl::StatusOr<std::string> gov = GovModuleAddress("gonka");
  ASSERT_TRUE(gov.ok());
  EXPECT_EQ(model.authority(), *gov);
  EXPECT_EQ(model.proposed_by(), creator);
  EXPECT_EQ(model.id(), "Qwen/Qwen3-8B");
  EXPECT_EQ(model.units_of_compute_per_token(), 7u);

  EXPECT_FALSE(RegisterModelProposalTx("not-bech32", "m", 1, "k").ok());
}

}  // namespace
}  // namespace edgesrv
}  // namespace gonka
