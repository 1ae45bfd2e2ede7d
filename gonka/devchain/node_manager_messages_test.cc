// devchain accepting the node-manager's chain messages through authz MsgExec, as a Gonka warm key
// sends them: MsgSubmitSeed stored per (epoch, creator) and read back with ListRandomSeeds, a
// second seed and an out-of-range epoch refused, MsgClaimRewards refused before the epoch ended,
// with a seed the submitted signature does not verify, and a second time; weight distributions
// and store commits stored per (stage, creator, model) and read back, bad stages refused.
#include "gonka/devchain/node_manager_messages.h"

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gonka/base/clock.h"
#include "gonka/cosmos/tx_builder.h"
#include "gonka/crypto/hash.h"
#include "gonka/crypto/key.h"
#include "gonka/devchain/chain.h"
#include "gonka/devchain/cosmos_app.h"
#include "gonka/proto/inference/inference/query_nodemanager.pb.h"
#include "gonka/proto/inference/inference/tx.pb.h"
#include "gtest/gtest.h"

namespace gonka {
namespace devchain {
namespace {

namespace infpb = ::inference::inference;
using ::testing::HasSubstr;

constexpr char kCold[] =
    "special sign fit simple patrol salute grocery chicken wheat radar tonight ceiling";
constexpr char kWarm[] =
    "oyster design unusual machine spread century engine gravity focus cave carry slot";
constexpr char kChainId[] = "devchain-nm";

std::string BigEndian64(uint64_t v) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i, v >>= 8) out[i] = static_cast<char>(v & 0xff);
  return out;
}

// Epoch e starts PoC at 20e; SetNewValidators at 20e + 8.
EpochParams Schedule() {
  EpochParams p;
  p.epoch_length = 20;
  p.poc_stage_duration = 3;
  p.poc_exchange_duration = 1;
  p.poc_validation_delay = 1;
  p.poc_validation_duration = 2;
  p.set_new_validators_delay = 2;
  return p;
}

class NodeManagerMessagesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    AppOptions options;
    options.accounts = {{"", kCold, {{"ngonka", "1000000"}}}, {"", kWarm, {{"ngonka", "1000000"}}}};
    options.inference_schedule = Schedule();
    auto app = CosmosApp::Create(options);
    ASSERT_TRUE(app.ok()) << app.status();
    app_ = std::move(*app);
    ChainOptions chain_options;
    chain_options.chain_id = kChainId;
    chain_options.clock = &clock_;
    chain_options.epochs = Schedule();
    chain_ = std::make_unique<Chain>(chain_options, app_.get());
    chain_->ProduceBlock();  // height 1
    // The cold account grants the warm key its node-manager messages, as Gonka's
    // grant-ml-ops-permissions does.
    cosmos::TxBuilder grant = Tx(cold_);
    for (const char* t :
         {"/inference.inference.MsgSubmitSeed", "/inference.inference.MsgClaimRewards",
          "/inference.inference.MsgMLNodeWeightDistribution",
          "/inference.inference.MsgPoCV2StoreCommit"}) {
      grant.AddMessage(cosmos::MakeGenericGrant(cold_.address(), warm_.address(), t));
    }
    ASSERT_EQ(Deliver(grant, cold_).code, 0u);
  }

  cosmos::TxBuilder Tx(const crypto::SigningKey& key) {
    auto account = app_->Account(key.address());
    cosmos::TxBuilder tx;
    tx.SetChainId(kChainId)
        .SetAccountNumber(account.ok() ? account->first : 0)
        .SetSequence(account.ok() ? account->second : 0)
        .SetFee({{{"ngonka", "100"}}, 400000, "", ""});
    return tx;
  }

  // Broadcasts and includes `tx` signed by `key`; the DeliverTx result.
  TxResult Deliver(const cosmos::TxBuilder& tx, const crypto::SigningKey& key) {
    absl::StatusOr<cosmos::SignedTx> signed_tx = tx.Sign(key);
    EXPECT_TRUE(signed_tx.ok()) << signed_tx.status();
    TxResult check = chain_->Broadcast(signed_tx->tx_raw).result;
    EXPECT_EQ(check.code, 0u) << check.log;
    BlockPtr block = chain_->ProduceBlock();
    for (size_t i = 0; i < block->txs.size(); ++i) {
      if (block->txs[i] == signed_tx->tx_raw) return block->tx_results[i];
    }
    ADD_FAILURE() << "tx not in block " << block->height;
    return {};
  }

  // The warm key sends `msg` on behalf of the cold account (authz MsgExec).
  TxResult Exec(const google::protobuf::Message& msg) {
    cosmos::TxBuilder tx = Tx(warm_);
    tx.AddMessage(msg).WrapInExec(warm_.address());
    return Deliver(tx, warm_);
  }

  void AdvanceTo(int64_t height) {
    while (chain_->height() < height) chain_->ProduceBlock();
  }

  // Gonka's seed signature: hex(Sign_warm(SHA-256(BE64(seed)))).
  std::string SeedSignature(int64_t seed) {
    return crypto::HexEncode(warm_.Sign(crypto::Sha256(BigEndian64(static_cast<uint64_t>(seed)))));
  }

  infpb::MsgSubmitSeed Seed(uint64_t epoch, int64_t seed) {
    infpb::MsgSubmitSeed m;
    m.set_creator(cold_.address());
    m.set_epoch_index(epoch);
    m.set_signature(SeedSignature(seed));
    return m;
  }

  infpb::MsgClaimRewards Claim(uint64_t epoch, int64_t seed) {
    infpb::MsgClaimRewards m;
    m.set_creator(cold_.address());
    m.set_epoch_index(epoch);
    m.set_seed(seed);
    return m;
  }

  template <typename Response>
  Response Query(const std::string& path, const google::protobuf::Message& request) {
    TxExecutor::QueryResult q = app_->Query(path, request.SerializeAsString(), 0);
    EXPECT_EQ(q.code, 0u) << q.log;
    Response response;
    EXPECT_TRUE(response.ParseFromString(q.value));
    return response;
  }

  FakeClock clock_{absl::FromUnixSeconds(1'800'000'000)};
  std::unique_ptr<CosmosApp> app_;
  std::unique_ptr<Chain> chain_;
  crypto::SigningKey cold_ = *crypto::KeyFromMnemonic(kCold);
  crypto::SigningKey warm_ = *crypto::KeyFromMnemonic(kWarm);
};

TEST_F(NodeManagerMessagesTest, SeedStoredOnceAndListed) {
  AdvanceTo(21);  // epoch 1's PoC has started; the effective epoch is 0
  TxResult r = Exec(Seed(1, 42));
  ASSERT_EQ(r.code, 0u) << r.log;

  infpb::QueryRandomSeedsRequest request;
  request.set_epoch_index(1);
  auto seeds =
      Query<infpb::QueryRandomSeedsResponse>("/inference.inference.Query/ListRandomSeeds", request);
  ASSERT_EQ(seeds.seeds_size(), 1);
  EXPECT_EQ(seeds.seeds(0).participant(), cold_.address());
  EXPECT_EQ(seeds.seeds(0).epoch_index(), 1u);
  EXPECT_EQ(seeds.seeds(0).signature(), SeedSignature(42));
  request.set_epoch_index(2);
  EXPECT_EQ(
      Query<infpb::QueryRandomSeedsResponse>("/inference.inference.Query/ListRandomSeeds", request)
          .seeds_size(),
      0);

  r = Exec(Seed(1, 43));
  EXPECT_EQ(r.code, 1137u);
  EXPECT_EQ(r.codespace, "inference");
  EXPECT_THAT(r.log, HasSubstr("already submitted"));

  r = Exec(Seed(3, 1));  // neither the effective (0) nor the upcoming (1) epoch
  EXPECT_EQ(r.code, 1174u);
  EXPECT_EQ(r.codespace, "inference");
}

TEST_F(NodeManagerMessagesTest, ClaimOnlyAfterTheEpochEndedWithTheSubmittedSeed) {
  AdvanceTo(21);
  ASSERT_EQ(Exec(Seed(1, 42)).code, 0u);
  TxResult r = Exec(Claim(1, 42));  // epoch 1 is not even effective yet
  EXPECT_EQ(r.code, 1137u);
  EXPECT_THAT(r.log, HasSubstr("epoch 1 has not ended"));

  AdvanceTo(50);  // epoch 2 effective (SetNewValidators at 48): epoch 1 has ended
  r = Exec(Claim(1, 41));
  EXPECT_EQ(r.code, 1116u);
  EXPECT_EQ(r.codespace, "inference");
  r = Exec(Claim(1, 42));
  EXPECT_EQ(r.code, 0u) << r.log;
  r = Exec(Claim(1, 42));
  EXPECT_EQ(r.code, 1137u);
  EXPECT_THAT(r.log, HasSubstr("already claimed"));
  r = Exec(Claim(0, 1));  // no seed was ever submitted for epoch 0
  EXPECT_EQ(r.code, 1116u);
  EXPECT_THAT(r.log, HasSubstr("no seed submitted"));
}

TEST_F(NodeManagerMessagesTest, WeightsAndCommitsStoredPerStageAndModel) {
  AdvanceTo(25);
  infpb::MsgMLNodeWeightDistribution weights;
  weights.set_creator(cold_.address());
  weights.set_poc_stage_start_block_height(20);
  auto* entry = weights.add_entries();
  entry->set_model_id("Qwen/Qwen3-8B");
  auto* w = entry->add_weights();
  w->set_node_id("node-1");
  w->set_weight(40);
  ASSERT_EQ(Exec(weights).code, 0u);

  infpb::QueryMLNodeWeightDistributionRequest wq;
  wq.set_poc_stage_start_block_height(20);
  wq.set_participant_address(cold_.address());
  wq.set_model_id("Qwen/Qwen3-8B");
  auto got = Query<infpb::QueryMLNodeWeightDistributionResponse>(
      "/inference.inference.Query/MLNodeWeightDistribution", wq);
  EXPECT_TRUE(got.found());
  ASSERT_EQ(got.weights_size(), 1);
  EXPECT_EQ(got.weights(0).node_id(), "node-1");
  EXPECT_EQ(got.weights(0).weight(), 40u);
  wq.set_model_id("other");
  EXPECT_FALSE(Query<infpb::QueryMLNodeWeightDistributionResponse>(
                   "/inference.inference.Query/MLNodeWeightDistribution", wq)
                   .found());

  weights.set_poc_stage_start_block_height(21);  // not a PoC start
  TxResult r = Exec(weights);
  EXPECT_EQ(r.code, 1137u);
  EXPECT_EQ(r.codespace, "inference");
  weights.set_poc_stage_start_block_height(40);  // a PoC start in the future
  EXPECT_EQ(Exec(weights).code, 1137u);

  infpb::MsgPoCV2StoreCommit commit;
  commit.set_creator(cold_.address());
  commit.set_poc_stage_start_block_height(20);
  auto* c = commit.add_entries();
  c->set_model_id("Qwen/Qwen3-8B");
  c->set_count(100);
  c->set_root_hash(std::string(32, '\x07'));
  ASSERT_EQ(Exec(commit).code, 0u);
  c->set_count(120);  // a later commit overwrites
  ASSERT_EQ(Exec(commit).code, 0u);
  infpb::QueryPoCV2StoreCommitRequest cq;
  cq.set_poc_stage_start_block_height(20);
  cq.set_participant_address(cold_.address());
  cq.set_model_id("Qwen/Qwen3-8B");
  auto stored = Query<infpb::QueryPoCV2StoreCommitResponse>(
      "/inference.inference.Query/PoCV2StoreCommit", cq);
  EXPECT_TRUE(stored.found());
  EXPECT_EQ(stored.count(), 120u);
  EXPECT_EQ(stored.root_hash(), std::string(32, '\x07'));

  c->set_root_hash("short");
  r = Exec(commit);
  EXPECT_EQ(r.code, 18u);
  EXPECT_EQ(r.codespace, "sdk");
}

TEST_F(NodeManagerMessagesTest, UngrantedTypeIsRefusedByAuthz) {
  AdvanceTo(21);
  infpb::MsgSubmitPocValidationsV2 v;  // recorded type, but not granted in SetUp
  v.set_creator(cold_.address());
  v.set_poc_stage_start_block_height(20);
  TxResult r = Exec(v);
  EXPECT_EQ(r.code, 2u);
  EXPECT_EQ(r.codespace, "authz");
}

TEST_F(NodeManagerMessagesTest, UndecodableQueryIs18) {
  TxExecutor::QueryResult q =
      app_->Query("/inference.inference.Query/ListRandomSeeds", std::string("\xff\xff", 2), 0);
  EXPECT_EQ(q.code, 18u);
}

}  // namespace
}  // namespace devchain
}  // namespace gonka
