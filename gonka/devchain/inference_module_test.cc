// devchain's inference.inference.Query (and restrictions, BLS, the inference store and
// cmtservice) answers over a real gRPC channel and over CometBFT abci_query (HTTP), at pinned
// heights, while the chain moves through epochs.
#include "gonka/devchain/inference_module.h"

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gonka/chain/comet_client.h"
#include "gonka/chain/ics23.h"
#include "gonka/cosmos/tx_builder.h"
#include "gonka/crypto/bech32.h"
#include "gonka/crypto/key.h"
#include "gonka/devchain/cosmos_app.h"
#include "gonka/devchain/grpc_server.h"
#include "gonka/devchain/rpc.h"
#include "gonka/net/http_server.h"
#include "gonka/proto/cosmos/base/tendermint/v1beta1/query.pb.h"
#include "gonka/proto/cosmos/crypto/ed25519/keys.pb.h"
#include "gonka/proto/inference/bls/query.pb.h"
#include "gonka/proto/inference/restrictions/query.pb.h"
#include "gtest/gtest.h"

namespace gonka {
namespace devchain {
namespace {

namespace ipb = ::inference::inference;
namespace rpb = ::inference::restrictions;
namespace bpb = ::inference::bls;
namespace cmtpb = ::cosmos::base::tendermint::v1beta1;
using ::testing::HasSubstr;

std::string Address(char fill) { return *crypto::EncodeAddress("gonka", std::string(20, fill)); }

// Funded, not a participant: signs the transfer that changes a participant's balance.
constexpr char kMnemonic[] =
    "special sign fit simple patrol salute grocery chicken wheat radar tonight ceiling";

// Participant n (1..3) has genesis weight 10·n and URL http://p<n>; Gonka orders participants
// by address.
int GenesisWeight(const std::string& address) {
  for (int n = 1; n <= 3; ++n) {
    if (Address(static_cast<char>(n)) == address) return 10 * n;
  }
  return -1;
}
std::vector<std::string> ByAddress() {
  std::vector<std::string> order = {Address(1), Address(2), Address(3)};
  std::sort(order.begin(), order.end());
  return order;
}

// Epoch length 20; PoC 4 blocks, validation delay 1, validation 3, SetNewValidators 2 blocks
// later: epoch e >= 1 starts PoC at 20e and is effective from 20e + 10.
std::string Genesis() {
  return absl::StrCat(R"({
    "epoch": {"epoch_length": "20", "poc_stage_duration": "4", "poc_exchange_duration": "1",
              "poc_validation_delay": "1", "poc_validation_duration": "3",
              "set_new_validators_delay": "2"},
    "accounts": [{"mnemonic": ")",
                      kMnemonic, R"(", "balances": {"ngonka": "1000000"}},
                 {"address": ")",
                      Address(1), R"(", "balances": {"ngonka": "1000"}},
                 {"address": ")",
                      Address(2), R"(", "balances": {"ngonka": "2000", "uatom": "5"}},
                 {"address": ")",
                      Address(3), R"(", "balances": {"ngonka": "3000"}}],
    "inference": {
      "unit_of_compute_price": "7",
      "models": [{"id": "Qwen/Qwen3-8B", "units_of_compute_per_token": "100",
                  "context_window": "32768", "hf_repo": "Qwen/Qwen3-8B"},
                 {"id": "m2", "unitsOfComputePerToken": "50"}],
      "participants": [{"address": ")",
                      Address(3), R"(", "inference_url": "http://p3", "weight": 30},
                       {"address": ")",
                      Address(1), R"(", "inference_url": "http://p1", "weight": 10},
                       {"address": ")",
                      Address(2), R"(", "inference_url": "http://p2", "weight": 20}],
      "bridge_addresses": [{"id": "1", "chainId": "ethereum", "address": "0xabc"},
                           {"id": "2", "chainId": "base", "address": "0xdef"}],
      "excluded_participants": [{"address": ")",
                      Address(2), R"(", "epoch_index": "1",
                                 "reason": "downtime"}],
      "restrictions": {"restriction_end_block": "30",
        "emergency_transfer_exemptions": [
          {"exemption_id": "a", "expiry_block": "5"}, {"exemption_id": "b", "expiry_block": "99"},
          {"exemption_id": "c", "expiry_block": "99"}],
        "exemption_usage_tracking": [
          {"exemption_id": "b", "account_address": ")",
                      Address(1), R"(", "usage_count": "1"},
          {"exemption_id": "b", "account_address": ")",
                      Address(2), R"(", "usage_count": "4"},
          {"exemption_id": "c", "account_address": ")",
                      Address(1), R"(", "usage_count": "2"}]},
      "bls": {"epochs": [{"epoch_id": "1", "dkg_phase": "DKG_PHASE_COMPLETED",
                          "participants": [{"address": ")",
                      Address(1), R"(", "percentage_weight": "0.25"}]}],
              "signing_requests": [{"request_id": "AQI=", "created_block_height": "12",
                                    "status": "THRESHOLD_SIGNING_STATUS_PENDING_SIGNING"}]}
    }})");
}

class InferenceModuleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<AppOptions> options = ParseGenesis(Genesis());
    ASSERT_TRUE(options.ok()) << options.status();
    ChainOptions chain_options;
    chain_options.chain_id = "inference-test";
    chain_options.epochs = *options->epochs;
    options->inference_schedule = chain_options.epochs;
    app_ = std::move(*CosmosApp::Create(*options));
    chain_ = std::make_unique<Chain>(chain_options, app_.get());
    grpc_ = std::make_unique<CosmosGrpcServer>(chain_.get());
    ASSERT_TRUE(grpc_->Start("127.0.0.1:0").ok());
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", grpc_->port()),
                                   grpc::InsecureChannelCredentials());
    stub_ = std::make_unique<grpc::GenericStub>(channel_);
    rpc_ = std::make_unique<RpcService>(chain_.get(), &http_, RpcOptions());
    ASSERT_TRUE(http_.Start().ok());
    comet_ = std::make_unique<chain::CometClient>(
        chain::CometClientOptions{.rpc_url = absl::StrCat("http://127.0.0.1:", http_.port())});
  }

  void ProduceTo(int64_t height) {
    while (chain_->height() < height) chain_->ProduceBlock();
  }

  struct Grpc {
    grpc::Status status;
    std::string bytes;
    std::string height_header;
  };
  Grpc CallGrpc(const std::string& method, const std::string& request, int64_t height) {
    grpc::Slice slice(request);
    grpc::ByteBuffer in(&slice, 1), out;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    if (height != 0) context.AddMetadata("x-cosmos-block-height", absl::StrCat(height));
    std::promise<grpc::Status> done;
    stub_->UnaryCall(&context, method, grpc::StubOptions(), &in, &out,
                     [&](grpc::Status s) { done.set_value(s); });
    Grpc result;
    result.status = done.get_future().get();
    if (result.status.ok()) {
      std::vector<grpc::Slice> slices;
      if (out.Dump(&slices).ok()) {
        for (const auto& s : slices) {
          result.bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
        }
      }
      auto h = context.GetServerInitialMetadata().find("x-cosmos-block-height");
      if (h != context.GetServerInitialMetadata().end()) {
        result.height_header.assign(h->second.data(), h->second.size());
      }
    }
    return result;
  }

  // The method over both transports at `height`; both must succeed with the same bytes and
  // name the same height. Returns the decoded answer.
  template <typename Response>
  Response Both(const std::string& method, const google::protobuf::Message& request,
                int64_t height = 0) {
    std::string path =
        method[0] == '/' ? method : absl::StrCat("/inference.inference.Query/", method);
    std::string bytes = request.SerializeAsString();
    Grpc g = CallGrpc(path, bytes, height);
    EXPECT_TRUE(g.status.ok()) << method << ": " << g.status.error_message();
    absl::StatusOr<chain::AbciQueryResponse> a = comet_->AbciQuery(path, bytes, height);
    EXPECT_TRUE(a.ok()) << a.status();
    EXPECT_EQ(a->code, 0u) << method << ": " << a->log;
    EXPECT_EQ(g.bytes, a->value) << method << " at " << height;
    int64_t expected_height = height == 0 ? chain_->height() : height;
    EXPECT_EQ(a->height, expected_height) << method;
    EXPECT_EQ(g.height_header, absl::StrCat(expected_height)) << method;
    Response response;
    EXPECT_TRUE(response.ParseFromString(a->value)) << method;
    return response;
  }

  // The error both transports answer: the gRPC status code and the abci_query sdk code.
  void ExpectError(const std::string& method, const google::protobuf::Message& request,
                   int64_t height, grpc::StatusCode grpc_code, uint32_t sdk_code) {
    std::string path =
        method[0] == '/' ? method : absl::StrCat("/inference.inference.Query/", method);
    Grpc g = CallGrpc(path, request.SerializeAsString(), height);
    EXPECT_EQ(g.status.error_code(), grpc_code) << method << ": " << g.status.error_message();
    absl::StatusOr<chain::AbciQueryResponse> a =
        comet_->AbciQuery(path, request.SerializeAsString(), height);
    ASSERT_TRUE(a.ok()) << a.status();
    EXPECT_EQ(a->code, sdk_code) << method << ": " << a->log;
    EXPECT_EQ(a->codespace, "sdk");
  }

  std::unique_ptr<CosmosApp> app_;
  std::unique_ptr<Chain> chain_;
  std::unique_ptr<CosmosGrpcServer> grpc_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<grpc::GenericStub> stub_;
  net::HttpServer http_;
  std::unique_ptr<RpcService> rpc_;
  std::unique_ptr<chain::CometClient> comet_;
};

TEST_F(InferenceModuleTest, ParamsModelsBridgeFromGenesis) {
  ProduceTo(3);
  auto params = Both<ipb::QueryParamsResponse>("Params", ipb::QueryParamsRequest());
  EXPECT_EQ(params.params().epoch_params().epoch_length(), 20);
  EXPECT_EQ(params.params().epoch_params().poc_stage_duration(), 4);
  EXPECT_EQ(params.params().epoch_params().set_new_validators_delay(), 2);
  EXPECT_EQ(params.params().epoch_params().default_unit_of_compute_price(), 7);

  auto models = Both<ipb::QueryModelsAllResponse>("ModelsAll", ipb::QueryModelsAllRequest());
  ASSERT_EQ(models.model_size(), 2);
  EXPECT_EQ(models.model(0).id(), "Qwen/Qwen3-8B");
  EXPECT_EQ(models.model(0).context_window(), 32768u);
  EXPECT_EQ(models.model(1).units_of_compute_per_token(), 50u);  // lowerCamelCase JSON too

  ipb::QueryBridgeAddressesByChainRequest bridge;
  bridge.set_chain_id("ethereum");
  auto addresses = Both<ipb::QueryBridgeAddressesByChainResponse>("BridgeAddressesByChain", bridge);
  ASSERT_EQ(addresses.addresses_size(), 1);
  EXPECT_EQ(addresses.addresses(0).address(), "0xabc");
  bridge.set_chain_id("solana");
  EXPECT_EQ(Both<ipb::QueryBridgeAddressesByChainResponse>("BridgeAddressesByChain", bridge)
                .addresses_size(),
            0);
}

TEST_F(InferenceModuleTest, EpochsAdvanceOnDevchainsSchedule) {
  ProduceTo(5);
  auto info = Both<ipb::QueryEpochInfoResponse>("EpochInfo", ipb::QueryEpochInfoRequest());
  EXPECT_EQ(info.block_height(), 5);
  EXPECT_EQ(info.latest_epoch().index(), 0u);
  EXPECT_EQ(
      Both<ipb::QueryGetCurrentEpochResponse>("GetCurrentEpoch", ipb::QueryGetCurrentEpochRequest())
          .epoch(),
      0u);

  // PoC of epoch 1 started at 20: it is the latest epoch, not yet the effective one.
  ProduceTo(25);
  info = Both<ipb::QueryEpochInfoResponse>("EpochInfo", ipb::QueryEpochInfoRequest());
  EXPECT_EQ(info.latest_epoch().index(), 1u);
  EXPECT_EQ(info.latest_epoch().poc_start_block_height(), 20);
  EXPECT_EQ(info.latest_epoch().effective_block_height(), 30);
  EXPECT_EQ(
      Both<ipb::QueryGetCurrentEpochResponse>("GetCurrentEpoch", ipb::QueryGetCurrentEpochRequest())
          .epoch(),
      0u);
  auto current = Both<ipb::QueryCurrentEpochGroupDataResponse>(
      "CurrentEpochGroupData", ipb::QueryCurrentEpochGroupDataRequest());
  EXPECT_EQ(current.epoch_group_data().epoch_index(), 0u);

  // SetNewValidators at 30: epoch 1 is effective; weights are genesis weight + epoch.
  ProduceTo(31);
  EXPECT_EQ(
      Both<ipb::QueryGetCurrentEpochResponse>("GetCurrentEpoch", ipb::QueryGetCurrentEpochRequest())
          .epoch(),
      1u);
  current = Both<ipb::QueryCurrentEpochGroupDataResponse>("CurrentEpochGroupData",
                                                          ipb::QueryCurrentEpochGroupDataRequest());
  const ipb::EpochGroupData& group = current.epoch_group_data();
  EXPECT_EQ(group.epoch_index(), 1u);
  EXPECT_EQ(group.poc_start_block_height(), 20u);
  EXPECT_EQ(group.effective_block_height(), 30);
  EXPECT_EQ(group.last_block_height(), 0);
  EXPECT_EQ(group.unit_of_compute_price(), 7);
  EXPECT_THAT(group.sub_group_models(), ::testing::ElementsAre("Qwen/Qwen3-8B", "m2"));
  ASSERT_EQ(group.validation_weights_size(), 3);
  EXPECT_EQ(group.validation_weights(0).member_address(), ByAddress()[0]);
  EXPECT_EQ(group.validation_weights(0).weight(), GenesisWeight(ByAddress()[0]) + 1);
  EXPECT_EQ(group.total_weight(), 11 + 21 + 31);

  ipb::QueryGetEpochGroupDataRequest by_model;
  by_model.set_epoch_index(1);
  by_model.set_model_id("m2");
  auto sub = Both<ipb::QueryGetEpochGroupDataResponse>("EpochGroupData", by_model);
  EXPECT_EQ(sub.epoch_group_data().model_id(), "m2");
  EXPECT_EQ(sub.epoch_group_data().model_snapshot().units_of_compute_per_token(), 50u);
  EXPECT_EQ(sub.epoch_group_data().sub_group_models_size(), 0);

  by_model.set_model_id("no-such-model");
  ExpectError("EpochGroupData", by_model, 0, grpc::StatusCode::NOT_FOUND, 22);
  by_model.set_epoch_index(2);
  by_model.set_model_id("");
  ExpectError("EpochGroupData", by_model, 0, grpc::StatusCode::NOT_FOUND, 22);

  // Epoch 2 effective at 50: epoch 1's group now has its last block.
  ProduceTo(52);
  by_model.set_epoch_index(1);
  auto past = Both<ipb::QueryGetEpochGroupDataResponse>("EpochGroupData", by_model);
  EXPECT_EQ(past.epoch_group_data().last_block_height(), 49);
  EXPECT_EQ(Both<ipb::QueryCurrentEpochGroupDataResponse>("CurrentEpochGroupData",
                                                          ipb::QueryCurrentEpochGroupDataRequest())
                .epoch_group_data()
                .validation_weights(0)
                .weight(),
            GenesisWeight(ByAddress()[0]) + 2);
}

TEST_F(InferenceModuleTest, HeightPinnedQueriesAnswerFromThatHeight) {
  ProduceTo(52);
  // At 25 epoch 0 was current and epoch 1 had just started PoC.
  EXPECT_EQ(Both<ipb::QueryGetCurrentEpochResponse>("GetCurrentEpoch",
                                                    ipb::QueryGetCurrentEpochRequest(), 25)
                .epoch(),
            0u);
  auto info = Both<ipb::QueryEpochInfoResponse>("EpochInfo", ipb::QueryEpochInfoRequest(), 25);
  EXPECT_EQ(info.block_height(), 25);
  EXPECT_EQ(info.latest_epoch().index(), 1u);
  ipb::QueryGetEpochGroupDataRequest epoch1;
  epoch1.set_epoch_index(1);
  EXPECT_EQ(Both<ipb::QueryGetEpochGroupDataResponse>("EpochGroupData", epoch1, 25)
                .epoch_group_data()
                .last_block_height(),
            0);
  EXPECT_EQ(Both<ipb::QueryGetEpochGroupDataResponse>("EpochGroupData", epoch1, 52)
                .epoch_group_data()
                .last_block_height(),
            49);
  // Epoch 2 did not exist at 35.
  ipb::QueryGetEpochGroupDataRequest epoch2;
  epoch2.set_epoch_index(2);
  ExpectError("EpochGroupData", epoch2, 35, grpc::StatusCode::NOT_FOUND, 22);
  // Participants' weights as of the pinned height's epoch.
  ipb::QueryParticipantsWithBalancesRequest all;
  auto at35 = Both<ipb::QueryParticipantsWithBalancesResponse>("ParticipantsWithBalances", all, 35);
  EXPECT_EQ(at35.block_height(), 35);
  EXPECT_EQ(at35.participants(0).participant().weight(),
            GenesisWeight(at35.participants(0).participant().address()) + 1);
  // A height above the tip: InvalidArgument over gRPC, sdk 26 over abci_query.
  ExpectError("GetCurrentEpoch", ipb::QueryGetCurrentEpochRequest(), 53,
              grpc::StatusCode::INVALID_ARGUMENT, 26);
}

TEST_F(InferenceModuleTest, ParticipantsWithBalancesPages) {
  ProduceTo(3);
  ipb::QueryParticipantsWithBalancesRequest request;
  request.mutable_pagination()->set_limit(2);
  request.mutable_pagination()->set_count_total(true);
  auto first =
      Both<ipb::QueryParticipantsWithBalancesResponse>("ParticipantsWithBalances", request);
  ASSERT_EQ(first.participants_size(), 2);
  EXPECT_EQ(first.pagination().total(), 3u);
  EXPECT_EQ(first.block_height(), 3);
  // Ordered by address, as Gonka's collection.
  std::vector<std::string> order = ByAddress();
  for (int i = 0; i < 2; ++i) {
    const ipb::Participant& p = first.participants(i).participant();
    int weight = GenesisWeight(order[i]);
    EXPECT_EQ(p.address(), order[i]);
    EXPECT_EQ(p.inference_url(), absl::StrCat("http://p", weight / 10));
    EXPECT_EQ(p.weight(), weight);
    const auto& balances = first.participants(i).balances();
    ASSERT_EQ(balances.size(), weight == 20 ? 2 : 1);
    EXPECT_EQ(balances[0].denom(), "ngonka");
    EXPECT_EQ(balances[0].amount(), absl::StrCat(weight * 100));
    if (weight == 20) {
      EXPECT_EQ(balances[1].denom(), "uatom");
    }
  }
  ASSERT_FALSE(first.pagination().next_key().empty());

  request.mutable_pagination()->set_key(first.pagination().next_key());
  auto second =
      Both<ipb::QueryParticipantsWithBalancesResponse>("ParticipantsWithBalances", request);
  ASSERT_EQ(second.participants_size(), 1);
  EXPECT_EQ(second.participants(0).participant().address(), order[2]);
  EXPECT_TRUE(second.pagination().next_key().empty());

  request.mutable_pagination()->set_offset(1);
  ExpectError("ParticipantsWithBalances", request, 0, grpc::StatusCode::INVALID_ARGUMENT, 18);
}

TEST_F(InferenceModuleTest, AccountByAddressErrors) {
  ProduceTo(2);
  ipb::QueryAccountByAddressRequest request;
  request.set_address("not-an-address");
  ExpectError("AccountByAddress", request, 0, grpc::StatusCode::INVALID_ARGUMENT, 18);
  request.set_address(Address(9));  // no such account
  ExpectError("AccountByAddress", request, 0, grpc::StatusCode::NOT_FOUND, 22);
  request.set_address(Address(1));  // a genesis account that never signed: no public key yet
  ExpectError("AccountByAddress", request, 0, grpc::StatusCode::NOT_FOUND, 22);
}

// A transfer to a participant in epoch 0 shows in the live balance; a height of epoch 0 pinned
// after epoch 1 is effective answers epoch 0's snapshot (its first block). The sender's
// AccountByAddress has its public key once it signed.
TEST_F(InferenceModuleTest, BalancesFollowTxsAndPastEpochsKeepTheirSnapshot) {
  ProduceTo(3);
  crypto::SigningKey key = *crypto::KeyFromMnemonic(kMnemonic);
  auto account = app_->Account(key.address());
  ASSERT_TRUE(account.ok()) << account.status();
  cosmos::TxBuilder tx;
  tx.SetChainId("inference-test")
      .SetAccountNumber(account->first)
      .SetSequence(account->second)
      .SetFee({{{"ngonka", "100"}}, 200000, "", ""})
      .AddMessage(cosmos::MakeMsgSend(key.address(), Address(1), {{"ngonka", "500"}}));
  absl::StatusOr<cosmos::SignedTx> signed_tx = tx.Sign(key);
  ASSERT_TRUE(signed_tx.ok()) << signed_tx.status();
  ASSERT_EQ(chain_->Broadcast(signed_tx->tx_raw).result.code, 0u);
  ProduceTo(35);  // the transfer is in block 4; epoch 1 effective from 30

  auto balance_of = [&](int64_t height, const std::string& address) -> std::string {
    auto all = Both<ipb::QueryParticipantsWithBalancesResponse>(
        "ParticipantsWithBalances", ipb::QueryParticipantsWithBalancesRequest(), height);
    for (const auto& p : all.participants()) {
      if (p.participant().address() == address) return p.balances(0).amount();
    }
    return "";
  };
  EXPECT_EQ(balance_of(0, Address(1)), "1500");
  EXPECT_EQ(balance_of(25, Address(1)), "1000");  // epoch 0's snapshot
  EXPECT_EQ(balance_of(33, Address(1)), "1500");  // epoch 1's snapshot (block 30)

  ipb::QueryAccountByAddressRequest request;
  request.set_address(key.address());
  auto sender = Both<ipb::QueryAccountByAddressResponse>("AccountByAddress", request);
  EXPECT_EQ(sender.pubkey(), absl::Base64Escape(key.public_key().view()));
  EXPECT_EQ(sender.balance(), 1000000 - 500 - 100);
  EXPECT_EQ(sender.denom(), "ngonka");
}

TEST_F(InferenceModuleTest, PocBatchesAndExclusionsFollowTheSchedule) {
  ProduceTo(35);
  ipb::QueryPocBatchesForStageRequest stage;
  stage.set_block_height(20);
  auto batches = Both<ipb::QueryPocBatchesForStageResponse>("PocBatchesForStage", stage);
  ASSERT_EQ(batches.poc_batch_size(), 3);
  EXPECT_EQ(batches.poc_batch(0).participant(), ByAddress()[0]);
  ASSERT_EQ(batches.poc_batch(0).poc_batch_size(), 1);
  EXPECT_EQ(batches.poc_batch(0).poc_batch(0).poc_stage_start_block_height(), 20);
  EXPECT_EQ(batches.poc_batch(0).poc_batch(0).received_at_block_height(), 21);
  EXPECT_EQ(batches.poc_batch(0).poc_batch(0).nonces_size(),
            std::min(GenesisWeight(ByAddress()[0]) + 1, 16));
  // Not a stage start, a stage not yet started, and the stage start itself pinned: empty.
  stage.set_block_height(21);
  EXPECT_EQ(
      Both<ipb::QueryPocBatchesForStageResponse>("PocBatchesForStage", stage).poc_batch_size(), 0);
  stage.set_block_height(40);
  EXPECT_EQ(
      Both<ipb::QueryPocBatchesForStageResponse>("PocBatchesForStage", stage).poc_batch_size(), 0);
  stage.set_block_height(20);
  EXPECT_EQ(
      Both<ipb::QueryPocBatchesForStageResponse>("PocBatchesForStage", stage, 20).poc_batch_size(),
      0);

  ipb::QueryExcludedParticipantsRequest excluded;  // epoch 0 = the current one: epoch 1
  auto items = Both<ipb::QueryExcludedParticipantsResponse>("ExcludedParticipants", excluded);
  ASSERT_EQ(items.items_size(), 1);
  EXPECT_EQ(items.items(0).address(), Address(2));
  EXPECT_EQ(items.items(0).reason(), "downtime");
  EXPECT_EQ(items.items(0).epoch_index(), 1u);
  EXPECT_EQ(items.items(0).exclusion_block_height(), 30u);
  excluded.set_epoch_index(1);
  EXPECT_EQ(Both<ipb::QueryExcludedParticipantsResponse>("ExcludedParticipants", excluded, 25)
                .items_size(),
            0);
}

TEST_F(InferenceModuleTest, RestrictionsFromGenesisByHeight) {
  ProduceTo(35);
  const std::string prefix = "/inference.restrictions.Query/";
  auto status = Both<rpb::QueryTransferRestrictionStatusResponse>(
      prefix + "TransferRestrictionStatus", rpb::QueryTransferRestrictionStatusRequest(), 12);
  EXPECT_TRUE(status.is_active());
  EXPECT_EQ(status.restriction_end_block(), 30u);
  EXPECT_EQ(status.current_block_height(), 12u);
  EXPECT_EQ(status.remaining_blocks(), 18u);
  status = Both<rpb::QueryTransferRestrictionStatusResponse>(
      prefix + "TransferRestrictionStatus", rpb::QueryTransferRestrictionStatusRequest(), 30);
  EXPECT_FALSE(status.is_active());
  EXPECT_EQ(status.remaining_blocks(), 0u);

  // Expired at its expiry height; include_expired lists it; offset/limit pages.
  rpb::QueryTransferExemptionsRequest exemptions;
  auto live = Both<rpb::QueryTransferExemptionsResponse>(prefix + "TransferExemptions", exemptions);
  ASSERT_EQ(live.exemptions_size(), 2);
  EXPECT_EQ(live.exemptions(0).exemption_id(), "b");
  EXPECT_EQ(live.pagination().total(), 2u);
  EXPECT_TRUE(live.pagination().next_key().empty());
  EXPECT_EQ(Both<rpb::QueryTransferExemptionsResponse>(prefix + "TransferExemptions", exemptions, 4)
                .exemptions_size(),
            3);
  exemptions.set_include_expired(true);
  exemptions.mutable_pagination()->set_limit(2);
  auto page = Both<rpb::QueryTransferExemptionsResponse>(prefix + "TransferExemptions", exemptions);
  ASSERT_EQ(page.exemptions_size(), 2);
  EXPECT_EQ(page.pagination().total(), 3u);
  EXPECT_EQ(page.pagination().next_key(), "has_more");

  rpb::QueryExemptionUsageRequest usage;
  usage.set_exemption_id("b");
  EXPECT_EQ(
      Both<rpb::QueryExemptionUsageResponse>(prefix + "ExemptionUsage", usage).usage_entries_size(),
      2);
  usage.set_account_address(Address(2));
  auto one = Both<rpb::QueryExemptionUsageResponse>(prefix + "ExemptionUsage", usage);
  ASSERT_EQ(one.usage_entries_size(), 1);
  EXPECT_EQ(one.usage_entries(0).usage_count(), 4u);
  usage.set_account_address("gonka1nope");
  ExpectError(prefix + "ExemptionUsage", usage, 0, grpc::StatusCode::INVALID_ARGUMENT, 18);
}

TEST_F(InferenceModuleTest, BlsDataFromTheEndOfPocValidation) {
  ProduceTo(35);
  const std::string prefix = "/inference.bls.Query/";
  bpb::QueryEpochBLSDataRequest epoch;
  epoch.set_epoch_id(1);
  // Epoch 1's DKG starts at 20 + 4 + 1 + 3 = 28.
  ExpectError(prefix + "EpochBLSData", epoch, 27, grpc::StatusCode::NOT_FOUND, 22);
  auto data = Both<bpb::QueryEpochBLSDataResponse>(prefix + "EpochBLSData", epoch, 28);
  EXPECT_EQ(data.epoch_data().dkg_phase(), bpb::DKG_PHASE_COMPLETED);
  // The decimal weight is stored in LegacyDec's wire form.
  EXPECT_EQ(data.epoch_data().participants(0).percentage_weight(), "250000000000000000");
  epoch.set_epoch_id(0);
  ExpectError(prefix + "EpochBLSData", epoch, 0, grpc::StatusCode::INVALID_ARGUMENT, 18);
  epoch.set_epoch_id(2);
  ExpectError(prefix + "EpochBLSData", epoch, 0, grpc::StatusCode::NOT_FOUND, 22);

  bpb::QuerySigningStatusRequest signing;
  signing.set_request_id("\x01\x02");
  ExpectError(prefix + "SigningStatus", signing, 11, grpc::StatusCode::NOT_FOUND, 22);
  auto request = Both<bpb::QuerySigningStatusResponse>(prefix + "SigningStatus", signing, 12);
  EXPECT_EQ(request.signing_request().status(), bpb::THRESHOLD_SIGNING_STATUS_PENDING_SIGNING);
  signing.clear_request_id();
  ExpectError(prefix + "SigningStatus", signing, 0, grpc::StatusCode::INVALID_ARGUMENT, 18);
}

TEST_F(InferenceModuleTest, ActiveParticipantsInTheStoreAndCmtService) {
  ProduceTo(35);
  // Gonka's ActiveParticipantsFullKey: the prefix, 8 big-endian bytes, "/".
  EXPECT_EQ(ActiveParticipantsKey(258),
            std::string("ActiveParticipants/value/\0\0\0\0\0\0\x01\x02/", 34));
  // A raw store read: empty (code 0) before epoch 1's end of PoC validation (28), then the value.
  absl::StatusOr<chain::AbciQueryResponse> before =
      comet_->AbciQuery("store/inference/key", ActiveParticipantsKey(1), 27);
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_EQ(before->code, 0u);
  EXPECT_TRUE(before->value.empty());
  absl::StatusOr<chain::AbciQueryResponse> at =
      comet_->AbciQuery("store/inference/key", ActiveParticipantsKey(1), 28);
  ASSERT_TRUE(at.ok() && at->code == 0) << at.status();
  ipb::ActiveParticipants active;
  ASSERT_TRUE(active.ParseFromString(at->value));
  EXPECT_EQ(active.epoch_id(), 1u);
  EXPECT_EQ(active.created_at_block_height(), 28);
  EXPECT_EQ(active.effective_block_height(), 30);
  EXPECT_EQ(active.poc_start_block_height(), 20);
  ASSERT_EQ(active.participants_size(), 3);
  EXPECT_EQ(active.participants(0).index(), ByAddress()[0]);
  EXPECT_EQ(active.participants(0).weight(), GenesisWeight(ByAddress()[0]) + 1);

  // The same read through cmtservice ABCIQuery over gRPC, with ICS-23 proof ops.
  const std::string cmt = "/cosmos.base.tendermint.v1beta1.Service/";
  cmtpb::ABCIQueryRequest query;
  query.set_path("store/inference/key");
  query.set_data(ActiveParticipantsKey(1));
  query.set_height(28);
  query.set_prove(true);
  Grpc g = CallGrpc(cmt + "ABCIQuery", query.SerializeAsString(), 0);
  ASSERT_TRUE(g.status.ok()) << g.status.error_message();
  cmtpb::ABCIQueryResponse answer;
  ASSERT_TRUE(answer.ParseFromString(g.bytes));
  EXPECT_EQ(answer.value(), at->value);
  EXPECT_EQ(answer.height(), 28);
  // The proof: the key in the "inference" IAVL tree, then that tree in the multistore whose root
  // is block 29's app_hash (the state after 28), verified as a Cosmos client does.
  ASSERT_EQ(answer.proof_ops().ops_size(), 2);
  std::vector<chain::ProofOp> ops;
  for (const cmtpb::ProofOp& op : answer.proof_ops().ops()) {
    ops.push_back({op.type(), op.key(), op.data()});
  }
  EXPECT_EQ(ops[0].type, "ics23:iavl");
  EXPECT_EQ(ops[0].key, ActiveParticipantsKey(1));
  EXPECT_EQ(ops[1].type, "ics23:simple");
  EXPECT_EQ(ops[1].key, "inference");
  const std::string keypath = "/inference/" + chain::PathEscape(ActiveParticipantsKey(1));
  const std::string app_hash_29 = (*chain_->GetBlock(29))->app_hash;
  absl::Status verified = chain::VerifyProofOps(ops, app_hash_29, keypath, at->value);
  EXPECT_TRUE(verified.ok()) << verified;
  // Block 28's app hash is the state before epoch 1's value was written.
  EXPECT_FALSE(
      chain::VerifyProofOps(ops, (*chain_->GetBlock(28))->app_hash, keypath, at->value).ok());
  // A later height proves the same value against its own app hash (the devchain digest in the
  // multistore changes every block).
  query.set_height(33);
  g = CallGrpc(cmt + "ABCIQuery", query.SerializeAsString(), 0);
  ASSERT_TRUE(g.status.ok() && answer.ParseFromString(g.bytes));
  ops.clear();
  for (const cmtpb::ProofOp& op : answer.proof_ops().ops()) {
    ops.push_back({op.type(), op.key(), op.data()});
  }
  verified = chain::VerifyProofOps(ops, (*chain_->GetBlock(34))->app_hash, keypath, at->value);
  EXPECT_TRUE(verified.ok()) << verified;
  // No proof for a key the store does not hold (no non-existence proofs), nor without prove.
  query.set_height(27);
  g = CallGrpc(cmt + "ABCIQuery", query.SerializeAsString(), 0);
  ASSERT_TRUE(g.status.ok() && answer.ParseFromString(g.bytes));
  EXPECT_FALSE(answer.has_proof_ops());
  query.set_height(28);
  query.set_prove(false);
  g = CallGrpc(cmt + "ABCIQuery", query.SerializeAsString(), 0);
  ASSERT_TRUE(g.status.ok() && answer.ParseFromString(g.bytes));
  EXPECT_FALSE(answer.has_proof_ops());

  g = CallGrpc(cmt + "GetNodeInfo", cmtpb::GetNodeInfoRequest().SerializeAsString(), 0);
  ASSERT_TRUE(g.status.ok());
  cmtpb::GetNodeInfoResponse info;
  ASSERT_TRUE(info.ParseFromString(g.bytes));
  EXPECT_EQ(info.default_node_info().network(), "inference-test");
  EXPECT_EQ(info.application_version().name(), CosmosGrpcServer::kAppName);
  EXPECT_EQ(info.application_version().version(), CosmosGrpcServer::kAppVersion);

  cmtpb::GetBlockByHeightRequest block_request;
  block_request.set_height(29);
  g = CallGrpc(cmt + "GetBlockByHeight", block_request.SerializeAsString(), 0);
  ASSERT_TRUE(g.status.ok()) << g.status.error_message();
  cmtpb::GetBlockByHeightResponse block;
  ASSERT_TRUE(block.ParseFromString(g.bytes));
  absl::StatusOr<BlockPtr> b29 = chain_->GetBlock(29);
  ASSERT_TRUE(b29.ok());
  EXPECT_EQ(block.block_id().hash(), (*b29)->hash);
  EXPECT_EQ(block.sdk_block().header().height(), 29);
  EXPECT_EQ(block.sdk_block().header().chain_id(), "inference-test");
  EXPECT_EQ(block.sdk_block().header().app_hash(), (*b29)->app_hash);
  EXPECT_EQ(block.sdk_block().last_commit().height(), 28);
  block_request.set_height(chain_->height() + 5);
  g = CallGrpc(cmt + "GetBlockByHeight", block_request.SerializeAsString(), 0);
  EXPECT_EQ(g.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  cmtpb::GetValidatorSetByHeightRequest validators_request;
  validators_request.set_height(28);
  g = CallGrpc(cmt + "GetValidatorSetByHeight", validators_request.SerializeAsString(), 0);
  ASSERT_TRUE(g.status.ok());
  cmtpb::GetValidatorSetByHeightResponse validators;
  ASSERT_TRUE(validators.ParseFromString(g.bytes));
  ASSERT_EQ(validators.validators_size(), 1);
  EXPECT_EQ(validators.validators(0).voting_power(), 10);
  EXPECT_EQ(validators.validators(0).pub_key().type_url(), "/cosmos.crypto.ed25519.PubKey");
  ::cosmos::crypto::ed25519::PubKey key;
  ASSERT_TRUE(key.ParseFromString(validators.validators(0).pub_key().value()));
  EXPECT_EQ(key.key().size(), 32u);
  EXPECT_EQ(validators.validators(0).address().rfind("gonkavalcons1", 0), 0u);

  // cmtservice is not an abci_query route.
  absl::StatusOr<chain::AbciQueryResponse> unknown = comet_->AbciQuery(cmt + "GetNodeInfo", "", 0);
  ASSERT_TRUE(unknown.ok());
  EXPECT_EQ(unknown->code, 6u);
}

TEST(InferenceGenesisTest, MalformedEntriesAreNamed) {
  absl::StatusOr<InferenceGenesis> g =
      ParseInferenceGenesis(R"({"models": [{"id": "a"}, {"units_of_compute_per_token": "x"}]})");
  ASSERT_FALSE(g.ok());
  EXPECT_THAT(std::string(g.status().message()), HasSubstr("genesis inference.models[1]"));
  g = ParseInferenceGenesis(R"({"participants": [{"address": "gonka1nope"}]})");
  ASSERT_FALSE(g.ok());
  EXPECT_THAT(std::string(g.status().message()),
              HasSubstr("genesis inference.participants[0].address"));
  g = ParseInferenceGenesis(R"({"models": [{"quantization": "fp8"}]})");
  ASSERT_FALSE(g.ok());
  EXPECT_THAT(std::string(g.status().message()), HasSubstr("\"id\" is required"));
  g = ParseInferenceGenesis(R"({"bls": {"epochs": [{"epoch_id": "0"}]}})");
  ASSERT_FALSE(g.ok());
  EXPECT_THAT(std::string(g.status().message()), HasSubstr("bls.epochs[0].epoch_id"));
  g = ParseInferenceGenesis(
      R"({"bls": {"epochs": [{"epoch_id": "1", "participants": [{"percentage_weight": "x.5"}]}]}})");
  ASSERT_FALSE(g.ok());
  EXPECT_THAT(std::string(g.status().message()), HasSubstr("percentage_weight"));
  g = ParseInferenceGenesis(R"({"restrictions": {"restriction_end_block": "soon"}})");
  ASSERT_FALSE(g.ok());
  EXPECT_THAT(std::string(g.status().message()), HasSubstr("genesis inference.restrictions"));
}

// Partial upgrades as Gonka's store keeps them: one per height (the later write wins), listed up
// to and including their height, run-time ones from the next block, answered at a height.
TEST(InferencePartialUpgradesTest, StoreSemanticsAndQueries) {
  absl::StatusOr<InferenceGenesis> g = ParseInferenceGenesis(R"({"partial_upgrades": [
      {"height": "5", "node_version": "v1", "name": "first"},
      {"height": "5", "node_version": "v2", "name": "replaced"},
      {"height": "9", "nodeVersion": "v3", "apiBinariesJson": "{}"}]})");
  ASSERT_TRUE(g.ok()) << g.status();
  InferenceModule module(*std::move(g), chain::EpochParams{});
  auto no_accounts = [] { return AccountMap(); };
  for (int64_t h = 1; h <= 3; ++h) module.OnCommit(h, no_accounts);

  std::vector<ipb::PartialUpgrade> at3 = module.PartialUpgradesAt(3);
  ASSERT_EQ(at3.size(), 2u);
  EXPECT_EQ(at3[0].name(), "replaced");
  EXPECT_EQ(at3[0].node_version(), "v2");
  EXPECT_EQ(at3[1].height(), 9u);
  EXPECT_EQ(at3[1].api_binaries_json(), "{}");
  EXPECT_EQ(module.PartialUpgradesAt(5).size(), 2u);  // listed at its own height
  EXPECT_EQ(module.PartialUpgradesAt(6).size(), 1u);  // deleted by block 6's end
  EXPECT_TRUE(module.PartialUpgradesAt(10).empty());

  // Run time: above the latest block only; named as Gonka names them; from the next block on.
  absl::StatusOr<ipb::PartialUpgrade> refused = module.AddPartialUpgrade([] {
    ipb::PartialUpgrade u;
    u.set_height(3);
    return u;
  }());
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(std::string(refused.status().message()),
              HasSubstr("height: must be above the latest block 3"));
  ipb::PartialUpgrade later;
  later.set_height(7);
  later.set_node_version("v4");
  absl::StatusOr<ipb::PartialUpgrade> added = module.AddPartialUpgrade(later);
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_EQ(added->name(), "PartialUpgrade at height 7 for node version v4");
  EXPECT_EQ(module.PartialUpgradesAt(3).size(), 2u);
  EXPECT_EQ(module.PartialUpgradesAt(4).size(), 3u);

  // The queries: one by height (NotFound otherwise), all paged by 8-byte height keys.
  ipb::QueryGetPartialUpgradeRequest one;
  one.set_height(7);
  auto r = module.Query("/inference.inference.Query/PartialUpgrade", one.SerializeAsString(), 4,
                        AccountMap());
  ASSERT_EQ(r.code, 0u) << r.log;
  ipb::QueryGetPartialUpgradeResponse got;
  ASSERT_TRUE(got.ParseFromString(r.value));
  EXPECT_EQ(got.partialupgrade().node_version(), "v4");
  r = module.Query("/inference.inference.Query/PartialUpgrade", one.SerializeAsString(), 3,
                   AccountMap());
  EXPECT_EQ(r.code, 22u);
  ipb::QueryAllPartialUpgradeRequest page;
  page.mutable_pagination()->set_limit(2);
  page.mutable_pagination()->set_reverse(true);
  r = module.Query("/inference.inference.Query/PartialUpgradeAll", page.SerializeAsString(), 4,
                   AccountMap());
  ASSERT_EQ(r.code, 0u) << r.log;
  ipb::QueryAllPartialUpgradeResponse all;
  ASSERT_TRUE(all.ParseFromString(r.value));
  ASSERT_EQ(all.partialupgrade_size(), 2);
  EXPECT_EQ(all.partialupgrade(0).height(), 9u);
  EXPECT_EQ(all.partialupgrade(1).height(), 7u);
  EXPECT_EQ(all.pagination().next_key(), std::string("\0\0\0\0\0\0\0\5", 8));

  g = ParseInferenceGenesis(R"({"partial_upgrades": [{"height": "x"}]})");
  ASSERT_FALSE(g.ok());
  EXPECT_THAT(std::string(g.status().message()),
              HasSubstr("genesis inference.partial_upgrades[0]"));
}

}  // namespace
}  // namespace devchain
}  // namespace gonka
