// devchain's Cosmos gRPC services over a real gRPC channel (generic stub, by method name).
#include "gonka/devchain/grpc_server.h"

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <future>
#include <memory>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gonka/cosmos/tx_builder.h"
#include "gonka/crypto/key.h"
#include "gonka/devchain/cosmos_app.h"
#include "gonka/devchain/devchain.pb.h"
#include "gonka/proto/cosmos/auth/v1beta1/auth.pb.h"
#include "gonka/proto/cosmos/bank/v1beta1/query.pb.h"
#include "gonka/proto/cosmos/tx/v1beta1/service.pb.h"
#include "gtest/gtest.h"

namespace gonka {
namespace devchain {
namespace {

constexpr char kMnemonic[] =
    "special sign fit simple patrol salute grocery chicken wheat radar tonight ceiling";

class GrpcServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    AppOptions options;
    options.accounts = {{"", kMnemonic, {{"ngonka", "1000000"}}}};
    app_ = std::move(*CosmosApp::Create(options));
    ChainOptions chain_options;
    chain_options.chain_id = "grpc-test";
    chain_ = std::make_unique<Chain>(chain_options, app_.get());
    chain_->ProduceBlock();
    server_ = std::make_unique<CosmosGrpcServer>(chain_.get());
    ASSERT_TRUE(server_->Start("127.0.0.1:0").ok());
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                   grpc::InsecureChannelCredentials());
    stub_ = std::make_unique<grpc::GenericStub>(channel_);
  }

  // A unary call by method name through the network.
  grpc::Status Call(const std::string& method, const google::protobuf::Message& request,
                    google::protobuf::Message* response) {
    std::string bytes = request.SerializeAsString();
    grpc::Slice slice(bytes);
    grpc::ByteBuffer in(&slice, 1), out;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    std::promise<grpc::Status> done;
    stub_->UnaryCall(&context, method, grpc::StubOptions(), &in, &out,
                     [&](grpc::Status s) { done.set_value(s); });
    grpc::Status status = done.get_future().get();
    if (status.ok()) {
      std::vector<grpc::Slice> slices;
      std::string reply;
      if (out.Dump(&slices).ok()) {
        for (const auto& s : slices)
          reply.append(reinterpret_cast<const char*>(s.begin()), s.size());
      }
      EXPECT_TRUE(response->ParseFromString(reply));
    }
    return status;
  }

  std::string SignedRecord(const std::string& key) {
    crypto::SigningKey signer = *crypto::KeyFromMnemonic(kMnemonic);
    auto account = *app_->Account(signer.address());
    gonka::devchain::v1::MsgRecord record;
    record.set_creator(signer.address());
    record.set_key(key);
    cosmos::TxBuilder tx;
    tx.AddMessage(record)
        .SetChainId("grpc-test")
        .SetAccountNumber(account.first)
        .SetSequence(account.second)
        .SetFee({{{"ngonka", "10"}}, 200000, "", ""});
    return tx.Sign(signer)->tx_raw;
  }

  std::unique_ptr<CosmosApp> app_;
  std::unique_ptr<Chain> chain_;
  std::unique_ptr<CosmosGrpcServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<grpc::GenericStub> stub_;
};

TEST_F(GrpcServerTest, AccountAndBalance) {
  std::string address = crypto::KeyFromMnemonic(kMnemonic)->address();
  ::cosmos::auth::v1beta1::QueryAccountRequest request;
  request.set_address(address);
  ::cosmos::auth::v1beta1::QueryAccountResponse response;
  ASSERT_TRUE(Call("/cosmos.auth.v1beta1.Query/Account", request, &response).ok());
  EXPECT_EQ(response.account().type_url(), "/cosmos.auth.v1beta1.BaseAccount");

  request.set_address("gonka1qqqsyqcyq5rqwzqfpg9scrgwpugpzysnwr53wx");
  grpc::Status missing = Call("/cosmos.auth.v1beta1.Query/Account", request, &response);
  EXPECT_EQ(missing.error_code(), grpc::StatusCode::NOT_FOUND);

  ::cosmos::bank::v1beta1::QueryBalanceRequest balance_request;
  balance_request.set_address(address);
  balance_request.set_denom("ngonka");
  ::cosmos::bank::v1beta1::QueryBalanceResponse balance;
  ASSERT_TRUE(Call("/cosmos.bank.v1beta1.Query/Balance", balance_request, &balance).ok());
  EXPECT_EQ(balance.balance().amount(), "1000000");

  // An unknown method: gRPC status 12, its canonical code.
  EXPECT_EQ(static_cast<int>(Call("/cosmos.nope.v1.Query/X", request, &response).error_code()), 12);
}

TEST_F(GrpcServerTest, SimulateBroadcastGetTx) {
  std::string tx = SignedRecord("grpc-key");
  ::cosmos::tx::v1beta1::SimulateRequest sim;
  sim.set_tx_bytes(tx);
  ::cosmos::tx::v1beta1::SimulateResponse sim_response;
  ASSERT_TRUE(Call("/cosmos.tx.v1beta1.Service/Simulate", sim, &sim_response).ok());
  EXPECT_GT(sim_response.gas_info().gas_used(), 10000u);
  EXPECT_EQ(app_->RecordCount("grpc-key"), 0u);  // simulation changes nothing

  ::cosmos::tx::v1beta1::BroadcastTxRequest broadcast;
  broadcast.set_tx_bytes(tx);
  broadcast.set_mode(::cosmos::tx::v1beta1::BROADCAST_MODE_SYNC);
  ::cosmos::tx::v1beta1::BroadcastTxResponse response;
  ASSERT_TRUE(Call("/cosmos.tx.v1beta1.Service/BroadcastTx", broadcast, &response).ok());
  EXPECT_EQ(response.tx_response().code(), 0u) << response.tx_response().raw_log();
  std::string hash = response.tx_response().txhash();
  EXPECT_EQ(hash.size(), 64u);
  // The same bytes again: code 19, as the SDK reports a tx already in the mempool.
  ASSERT_TRUE(Call("/cosmos.tx.v1beta1.Service/BroadcastTx", broadcast, &response).ok());
  EXPECT_EQ(response.tx_response().code(), 19u);
  broadcast.set_mode(::cosmos::tx::v1beta1::BROADCAST_MODE_BLOCK);
  EXPECT_EQ(Call("/cosmos.tx.v1beta1.Service/BroadcastTx", broadcast, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  broadcast.set_mode(::cosmos::tx::v1beta1::BROADCAST_MODE_SYNC);
  broadcast.set_tx_bytes("garbage");
  ASSERT_TRUE(Call("/cosmos.tx.v1beta1.Service/BroadcastTx", broadcast, &response).ok());
  EXPECT_EQ(response.tx_response().code(), 2u);

  chain_->ProduceBlock();
  ::cosmos::tx::v1beta1::GetTxRequest get;
  get.set_hash(hash);
  ::cosmos::tx::v1beta1::GetTxResponse got;
  ASSERT_TRUE(Call("/cosmos.tx.v1beta1.Service/GetTx", get, &got).ok());
  EXPECT_EQ(got.tx_response().height(), 2);
  EXPECT_EQ(got.tx_response().code(), 0u);
  EXPECT_EQ(got.tx().body().messages(0).type_url(), "/gonka.devchain.v1.MsgRecord");
  EXPECT_EQ(app_->RecordCount("grpc-key"), 1u);
  get.set_hash(std::string(64, 'A'));
  EXPECT_EQ(Call("/cosmos.tx.v1beta1.Service/GetTx", get, &got).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

}  // namespace
}  // namespace devchain
}  // namespace gonka
