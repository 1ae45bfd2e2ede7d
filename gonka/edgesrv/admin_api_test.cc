// Gonka's PoC timing from a stage window (dapi admin timing_calculator.go's rules), the price
// conversion by denom, the model registration proposal and the bridge receipts' messages.
#include "gonka/edgesrv/admin_api.h"

#include "absl/strings/str_cat.h"
#include "gonka/crypto/bech32.h"
#include "gonka/crypto/hash.h"
#include "gonka/crypto/key.h"
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

TEST(ComputePocTiming, BeforeTheFirstPocCountsDownToEpochLengthMinusShift) {
  // Gonka's epoch 0: NextPoCStart = epoch_length - epoch_shift (mainnet 17280 - 16980 = 300).
  std::optional<PocTiming> t = ComputePocTiming(At(50, 0, "Inference"), 17280, 16980);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->current_phase, "Inference");
  EXPECT_EQ(t->blocks_until_next_poc, 250);
  EXPECT_EQ(t->seconds_until_next_poc, 1500);
  EXPECT_FALSE(t->should_be_online);
  // 100 blocks (600 s) before it: online.
  EXPECT_TRUE(ComputePocTiming(At(200, 0, "Inference"), 17280, 16980)->should_be_online);
  // No shift: the first PoC is at epoch_length.
  EXPECT_EQ(ComputePocTiming(At(50, 0, "Inference"), 15000)->blocks_until_next_poc, 14950);
  // A height at or past it while the window still has no PoC start: 0, as Gonka clamps.
  EXPECT_EQ(ComputePocTiming(At(400, 0, "Inference"), 17280, 16980)->blocks_until_next_poc, 0);
  // The shift does not matter once a PoC has started.
  EXPECT_EQ(ComputePocTiming(At(21000, 20000, "Inference"), 15000, 300)->blocks_until_next_poc,
            14000);
}

TEST(ComputePocTiming, NothingWithoutAnEpochLengthOrWithABadShift) {
  EXPECT_FALSE(ComputePocTiming(At(21000, 20000, "Inference"), 0).has_value());
  EXPECT_FALSE(ComputePocTiming(At(50, 0, "Inference"), 100, 100).has_value());
  EXPECT_FALSE(ComputePocTiming(At(50, 0, "Inference"), 100, -1).has_value());
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

TEST(BridgeExchangeTxs, OneMessagePerReceiptWithTheOwnersAddress) {
  absl::StatusOr<crypto::SigningKey> owner = crypto::KeyFromHex(std::string(64, '7'));
  ASSERT_TRUE(owner.ok());
  absl::StatusOr<std::string> creator = crypto::EncodeAddress("gonka", std::string(20, '\x07'));
  ASSERT_TRUE(creator.ok());
  BridgeBlockData block{.block_number = "100", .origin_chain = "ethereum", .receipts_root = "0xr"};
  const std::string key_hex = crypto::HexEncode(owner->public_key().view());
  block.receipts.push_back({"0xc", "0xo", key_hex, "5", "0"});
  block.receipts.push_back({"0xc", "0xo", "0x" + key_hex, "6", "1"});  // 0x: not hex, refused
  EXPECT_TRUE(absl::IsInvalidArgument(BridgeExchangeTxs(*creator, block).status()));
  block.receipts[1].public_key = key_hex;
  absl::StatusOr<std::vector<txqueue::ChainTx>> txs = BridgeExchangeTxs(*creator, block);
  ASSERT_TRUE(txs.ok()) << txs.status();
  ASSERT_EQ(txs->size(), 2u);
  EXPECT_EQ((*txs)[1].idempotency_key(), absl::StrCat("bridge/", *creator, "/ethereum/100/1"));
  ::inference::inference::MsgBridgeExchange msg;
  ASSERT_TRUE(msg.ParseFromString((*txs)[0].messages(0).value()));
  EXPECT_EQ((*txs)[0].messages(0).type_url(), kMsgBridgeExchange);
  EXPECT_EQ(msg.validator(), *creator);
  EXPECT_EQ(msg.owneraddress(), owner->address());  // the key's own Gonka address
  EXPECT_EQ(msg.ownerpubkey(), "0x" + key_hex);
  EXPECT_EQ(msg.amount(), "5");
  EXPECT_EQ(msg.blocknumber(), "100");
  EXPECT_EQ(msg.receiptindex(), "0");
  EXPECT_EQ(msg.receiptsroot(), "0xr");
  EXPECT_EQ(msg.originchain(), "ethereum");
}

}  // namespace
}  // namespace edgesrv
}  // namespace gonka
