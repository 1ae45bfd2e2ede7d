// The node-manager's chain messages: exact wire bytes and fields of each built message, the
// idempotency keys, validation errors naming the field, and Gonka's seed (deterministic per key
// and epoch, verifiable with the warm key's public key).
#include "gonka/nodemanager/chain_messages.h"

#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/escaping.h"
#include "gonka/crypto/hash.h"
#include "gonka/crypto/key.h"
#include "gonka/proto/inference/inference/tx.pb.h"
#include "gonka/signer/message_policy.h"

// The tests check that the deprecated pre-model fields stay unset.
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

namespace gonka {
namespace nodemanager {
namespace {

namespace infpb = ::inference::inference;
using ::testing::HasSubstr;
using ::testing::StartsWith;

crypto::SigningKey TestKey(char fill) {
  auto key = crypto::KeyFromHex(std::string(64, fill));
  EXPECT_TRUE(key.ok()) << key.status();
  return std::move(*key);
}

class ChainMessagesTest : public ::testing::Test {
 protected:
  ChainMessagesTest() : warm_(TestKey('1')), cold_(TestKey('2')) {
    context_.creator = cold_.address();
  }
  Action MakeAction(ActionKind kind, int64_t epoch, int64_t poc_start, std::string key) {
    Action a;
    a.kind = kind;
    a.epoch = epoch;
    a.poc_start = poc_start;
    a.height = poc_start;
    a.idempotency_key = std::move(key);
    return a;
  }

  crypto::SigningKey warm_;
  crypto::SigningKey cold_;
  MessageContext context_;
};

std::string BigEndian64(uint64_t v) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i, v >>= 8) out[i] = static_cast<char>(v & 0xff);
  return out;
}

TEST_F(ChainMessagesTest, SeedIsGonkasDerivation) {
  SeedInfo seed = GenerateSeed(warm_, 7);
  // seed = first 8 bytes (big-endian) of Sign(SHA-256(BE64(7))) with the top bit cleared.
  crypto::Signature over_epoch = warm_.Sign(crypto::Sha256(BigEndian64(7)));
  uint64_t first8 = 0;
  for (int i = 0; i < 8; ++i) first8 = (first8 << 8) | over_epoch[i];
  EXPECT_EQ(seed.seed, static_cast<int64_t>(first8 & 0x7fffffffffffffffULL));
  EXPECT_GT(seed.seed, 0);
  EXPECT_EQ(seed.epoch, 7u);
  // signature = hex(Sign(SHA-256(BE64(seed)))), lowercase, 64 bytes.
  crypto::Signature over_seed =
      warm_.Sign(crypto::Sha256(BigEndian64(static_cast<uint64_t>(seed.seed))));
  EXPECT_EQ(seed.signature_hex, crypto::HexEncode(over_seed));
  EXPECT_EQ(seed.signature_hex.size(), 128u);
  EXPECT_EQ(seed.signature_hex, absl::AsciiStrToLower(seed.signature_hex));
}

TEST_F(ChainMessagesTest, SeedIsDeterministicPerKeyAndEpoch) {
  SeedInfo a = GenerateSeed(warm_, 3);
  SeedInfo b = GenerateSeed(TestKey('1'), 3);  // the same key loaded again (another replica)
  EXPECT_EQ(a.seed, b.seed);
  EXPECT_EQ(a.signature_hex, b.signature_hex);
  EXPECT_NE(GenerateSeed(warm_, 4).seed, a.seed);
  EXPECT_NE(GenerateSeed(cold_, 3).seed, a.seed);
}

TEST_F(ChainMessagesTest, SeedVerifiesWithTheWarmKeyOnly) {
  SeedInfo seed = GenerateSeed(warm_, 9);
  EXPECT_TRUE(VerifySeed(seed, warm_.public_key().view()).ok());
  EXPECT_EQ(VerifySeed(seed, cold_.public_key().view()).code(), absl::StatusCode::kUnauthenticated);
  SeedInfo other = seed;
  other.seed += 1;
  EXPECT_EQ(VerifySeed(other, warm_.public_key().view()).code(),
            absl::StatusCode::kUnauthenticated);
  other = seed;
  other.signature_hex = "zz";
  EXPECT_EQ(VerifySeed(other, warm_.public_key().view()).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(ChainMessagesTest, SubmitSeedTx) {
  SeedInfo seed = GenerateSeed(warm_, 5);
  Action action = MakeAction(ActionKind::kEnsureSeed, 5, 1500, "seed/5/" + context_.creator);
  auto tx = SubmitSeedTx(context_, action, seed);
  ASSERT_TRUE(tx.ok()) << tx.status();
  EXPECT_EQ(tx->idempotency_key(), "seed/5/" + context_.creator);
  EXPECT_EQ(tx->producer(), "node-manager");
  ASSERT_EQ(tx->messages_size(), 1);
  EXPECT_EQ(tx->messages(0).type_url(), "/inference.inference.MsgSubmitSeed");
  infpb::MsgSubmitSeed msg;
  ASSERT_TRUE(msg.ParseFromString(tx->messages(0).value()));
  EXPECT_EQ(msg.creator(), context_.creator);
  EXPECT_EQ(msg.epoch_index(), 5u);
  EXPECT_EQ(msg.signature(), seed.signature_hex);
  // Wire bytes: 0a <len> creator, 10 05, 1a 80 01 <128 hex characters>.
  std::string want = std::string("\x0a") + static_cast<char>(context_.creator.size()) +
                     context_.creator + std::string("\x10\x05\x1a\x80\x01", 5) + seed.signature_hex;
  EXPECT_EQ(tx->messages(0).value(), want);
}

TEST_F(ChainMessagesTest, ClaimRewardsTxExactBytes) {
  SeedInfo seed{5, 3, std::string(128, 'a')};
  Action action = MakeAction(ActionKind::kClaimRewards, 3, 1500, "claim/3/" + context_.creator);
  auto tx = ClaimRewardsTx(context_, action, seed);
  ASSERT_TRUE(tx.ok()) << tx.status();
  EXPECT_EQ(tx->idempotency_key(), "claim/3/" + context_.creator);
  EXPECT_EQ(tx->messages(0).type_url(), "/inference.inference.MsgClaimRewards");
  // 0a <len> creator, 10 05 (seed), 18 03 (epoch_index).
  std::string want = std::string("\x0a") + static_cast<char>(context_.creator.size()) +
                     context_.creator + std::string("\x10\x05\x18\x03", 4);
  EXPECT_EQ(tx->messages(0).value(), want);
}

TEST_F(ChainMessagesTest, SeedAndClaimRefuseMismatches) {
  SeedInfo seed = GenerateSeed(warm_, 5);
  Action wrong_kind = MakeAction(ActionKind::kClaimRewards, 5, 1500, "claim/5/x");
  auto s = SubmitSeedTx(context_, wrong_kind, seed);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.status().message(), HasSubstr("not ensure_seed"));

  Action other_epoch = MakeAction(ActionKind::kEnsureSeed, 6, 1500, "seed/6/x");
  s = SubmitSeedTx(context_, other_epoch, seed);
  EXPECT_THAT(s.status().message(), HasSubstr("seed is for epoch 5, the action for epoch 6"));

  MessageContext bad = context_;
  bad.creator = "cosmos1xyz";
  s = ClaimRewardsTx(bad, MakeAction(ActionKind::kClaimRewards, 5, 1500, "claim/5/x"), seed);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.status().message(), HasSubstr("creator \"cosmos1xyz\""));

  SeedInfo no_sig = seed;
  no_sig.signature_hex.clear();
  s = SubmitSeedTx(context_, MakeAction(ActionKind::kEnsureSeed, 5, 1500, "seed/5/x"), no_sig);
  EXPECT_THAT(s.status().message(), HasSubstr("want 128"));
}

TEST_F(ChainMessagesTest, WeightDistributionTx) {
  Action action =
      MakeAction(ActionKind::kDistributeWeights, 2, 600, "weights/2/" + context_.creator);
  std::vector<ModelWeights> entries = {{"Qwen/Qwen3-8B", {{"node-1", 40}, {"node-2", 2}}}};
  auto tx = WeightDistributionTx(context_, action, entries);
  ASSERT_TRUE(tx.ok()) << tx.status();
  EXPECT_EQ(tx->idempotency_key(), "weights/2/" + context_.creator);
  EXPECT_EQ(tx->messages(0).type_url(), "/inference.inference.MsgMLNodeWeightDistribution");
  infpb::MsgMLNodeWeightDistribution msg;
  ASSERT_TRUE(msg.ParseFromString(tx->messages(0).value()));
  EXPECT_EQ(msg.creator(), context_.creator);
  EXPECT_EQ(msg.poc_stage_start_block_height(), 600);
  EXPECT_EQ(msg.weights_size(), 0);  // the deprecated pre-model field stays unset
  ASSERT_EQ(msg.entries_size(), 1);
  EXPECT_EQ(msg.entries(0).model_id(), "Qwen/Qwen3-8B");
  ASSERT_EQ(msg.entries(0).weights_size(), 2);
  EXPECT_EQ(msg.entries(0).weights(1).node_id(), "node-2");
  EXPECT_EQ(msg.entries(0).weights(1).weight(), 2u);
  // Field 4 (entries) starts right after creator and the stage height: 22 <len> 0a 0d "Qwen...".
  std::string prefix = std::string("\x0a") + static_cast<char>(context_.creator.size()) +
                       context_.creator + std::string("\x10\xd8\x04\x22", 4);
  EXPECT_THAT(tx->messages(0).value(), StartsWith(prefix));

  EXPECT_THAT(WeightDistributionTx(context_, action, {}).status().message(),
              HasSubstr("entries is empty"));
  EXPECT_THAT(WeightDistributionTx(context_, action, {{"m", {{"", 1}}}}).status().message(),
              HasSubstr("entries[0].weights[0].node_id is empty"));
}

TEST_F(ChainMessagesTest, StoreCommitTxKeyFollowsContent) {
  std::string root(32, '\x07');
  auto a = StoreCommitTx(context_, 600, {{"Qwen/Qwen3-8B", 100, root}});
  auto again = StoreCommitTx(context_, 600, {{"Qwen/Qwen3-8B", 100, root}});
  auto grown = StoreCommitTx(context_, 600, {{"Qwen/Qwen3-8B", 120, root}});
  ASSERT_TRUE(a.ok() && again.ok() && grown.ok()) << a.status();
  EXPECT_THAT(a->idempotency_key(), StartsWith("store_commit/600/" + context_.creator + "/"));
  EXPECT_EQ(a->idempotency_key().size(),
            std::string("store_commit/600//").size() + context_.creator.size() + 16);
  EXPECT_EQ(a->idempotency_key(), again->idempotency_key());
  EXPECT_EQ(a->messages(0).value(), again->messages(0).value());
  EXPECT_NE(a->idempotency_key(), grown->idempotency_key());
  EXPECT_EQ(a->messages(0).type_url(), "/inference.inference.MsgPoCV2StoreCommit");
  infpb::MsgPoCV2StoreCommit msg;
  ASSERT_TRUE(msg.ParseFromString(a->messages(0).value()));
  EXPECT_EQ(msg.poc_stage_start_block_height(), 600);
  EXPECT_EQ(msg.count(), 0u);  // deprecated pre-model fields unset
  EXPECT_TRUE(msg.root_hash().empty());
  ASSERT_EQ(msg.entries_size(), 1);
  EXPECT_EQ(msg.entries(0).count(), 100u);
  EXPECT_EQ(msg.entries(0).root_hash(), root);

  EXPECT_THAT(StoreCommitTx(context_, 600, {{"m", 1, "short"}}).status().message(),
              HasSubstr("entries[0].root_hash has 5 bytes, want 32"));
  EXPECT_THAT(StoreCommitTx(context_, 0, {{"m", 1, root}}).status().message(),
              HasSubstr("poc_start 0 must be positive"));
}

TEST_F(ChainMessagesTest, PocValidationsTx) {
  std::string other = TestKey('3').address();
  auto tx = PocValidationsTx(context_, 600, {{other, -1, "Qwen/Qwen3-8B"}});
  ASSERT_TRUE(tx.ok()) << tx.status();
  EXPECT_THAT(tx->idempotency_key(), StartsWith("validations/600/" + context_.creator + "/"));
  EXPECT_EQ(tx->messages(0).type_url(), "/inference.inference.MsgSubmitPocValidationsV2");
  infpb::MsgSubmitPocValidationsV2 msg;
  ASSERT_TRUE(msg.ParseFromString(tx->messages(0).value()));
  ASSERT_EQ(msg.validations_size(), 1);
  EXPECT_EQ(msg.validations(0).participant_address(), other);
  EXPECT_EQ(msg.validations(0).validated_weight(), -1);
  EXPECT_EQ(msg.validations(0).model_id(), "Qwen/Qwen3-8B");
  EXPECT_THAT(PocValidationsTx(context_, 600, {{"bad", 1, "m"}}).status().message(),
              HasSubstr("validations[0].participant_address \"bad\""));
  EXPECT_TRUE(txqueue::Validate(*tx).ok());
}

// Every message the node-manager builds passes the signer's default allowlist (the Gonka warm key's
// messages), so signerd signs them without --allowed-msg-types.
TEST_F(ChainMessagesTest, GonkaSignerPolicyAllowsEveryMessage) {
  signer::MessagePolicy policy = signer::MessagePolicy::Gonka();
  SeedInfo seed = GenerateSeed(warm_, 2);
  std::vector<absl::StatusOr<txqueue::ChainTx>> txs = {
      SubmitSeedTx(context_, MakeAction(ActionKind::kEnsureSeed, 2, 600, "seed/2/p"), seed),
      ClaimRewardsTx(context_, MakeAction(ActionKind::kClaimRewards, 2, 600, "claim/2/p"), seed),
      WeightDistributionTx(context_,
                           MakeAction(ActionKind::kDistributeWeights, 2, 600, "weights/2/p"),
                           {{"m", {{"n", 1}}}}),
      StoreCommitTx(context_, 600, {{"m", 1, std::string(32, 'r')}}),
      PocValidationsTx(context_, 600, {{context_.creator, 5, "m"}}),
  };
  for (const auto& tx : txs) {
    ASSERT_TRUE(tx.ok()) << tx.status();
    EXPECT_TRUE(policy.Check(*tx).ok()) << tx->messages(0).type_url();
  }
}

}  // namespace
}  // namespace nodemanager
}  // namespace gonka
