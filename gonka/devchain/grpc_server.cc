#include "gonka/devchain/grpc_server.h"

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/grpcpp.h>

#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gonka/crypto/hash.h"
#include "gonka/devchain/render.h"
#include "gonka/proto/cosmos/base/abci/v1beta1/abci.pb.h"
#include "gonka/proto/cosmos/tx/v1beta1/service.pb.h"
#include "gonka/proto/cosmos/tx/v1beta1/tx.pb.h"

namespace gonka {
namespace devchain {
namespace {

constexpr char kHeightHeader[] = "x-cosmos-block-height";

// Canonical status 12, the code gRPC and absl give an unknown method.
constexpr absl::StatusCode kUnknownMethod = static_cast<absl::StatusCode>(12);

namespace txpb = ::cosmos::tx::v1beta1;
namespace abcipb = ::cosmos::base::abci::v1beta1;

grpc::Status ToGrpc(const absl::Status& s) {
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

// gRPC-over-ABCI results back to a status, as baseapp maps them the other way.
absl::StatusOr<std::string> FromQuery(const TxExecutor::QueryResult& q) {
  if (q.code == 0) return q.value;
  if (q.codespace == "sdk" && q.code == 22) return absl::NotFoundError(q.log);
  if (q.codespace == "sdk" && (q.code == 18 || q.code == 7 || q.code == 26)) {
    return absl::InvalidArgumentError(q.log);
  }
  // sdk code 6 = unknown request: gRPC status 12 (the unknown-method code), as the SDK's gRPC
  // router answers it.
  if (q.codespace == "sdk" && q.code == 6) {
    return absl::Status(kUnknownMethod, q.log);
  }
  return absl::UnknownError(absl::StrCat(q.log, " (", q.codespace, " ", q.code, ")"));
}

void FillEvents(const std::vector<Event>& events,
                google::protobuf::RepeatedPtrField<::tendermint::abci::Event>* out) {
  for (const auto& e : events) {
    ::tendermint::abci::Event* pe = out->Add();
    pe->set_type(e.type);
    for (const auto& a : e.attributes) {
      auto* pa = pe->add_attributes();
      pa->set_key(a.key);
      pa->set_value(a.value);
      pa->set_index(a.index);
    }
  }
}

}  // namespace

class CosmosGrpcServer::Service : public grpc::CallbackGenericService {
 public:
  explicit Service(CosmosGrpcServer* owner) : owner_(owner) {}

  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext* ctx) override {
    // Unary over the generic bidi reactor: read one request, answer, finish.
    class Reactor : public grpc::ServerGenericBidiReactor {
     public:
      Reactor(CosmosGrpcServer* owner, grpc::GenericCallbackServerContext* ctx)
          : owner_(owner), ctx_(ctx), method_(ctx->method()) {
        // The SDK's gRPC server pins a query to the height in x-cosmos-block-height (0 or
        // absent = latest); a value that is not an integer is InvalidArgument.
        auto pinned = ctx->client_metadata().find(kHeightHeader);
        if (pinned != ctx->client_metadata().end() &&
            !absl::SimpleAtoi(absl::string_view(pinned->second.data(), pinned->second.size()),
                              &height_)) {
          bad_height_ = true;
        }
        StartRead(&request_);
      }
      void OnReadDone(bool ok) override {
        if (!ok) {
          Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "no request message"));
          return;
        }
        std::vector<grpc::Slice> slices;
        std::string bytes;
        if (request_.Dump(&slices).ok()) {
          for (const auto& s : slices)
            bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
        }
        if (bad_height_) {
          Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                              "x-cosmos-block-height: not an integer"));
          return;
        }
        int64_t answered = 0;
        absl::StatusOr<std::string> result = owner_->Call(method_, bytes, height_, &answered);
        if (!result.ok()) {
          Finish(ToGrpc(result.status()));
          return;
        }
        // As the SDK's gRPC server: the height the answer is from, in the response header.
        if (answered > 0) ctx_->AddInitialMetadata(kHeightHeader, absl::StrCat(answered));
        grpc::Slice slice(*result);
        response_ = grpc::ByteBuffer(&slice, 1);
        StartWriteAndFinish(&response_, grpc::WriteOptions(), grpc::Status::OK);
      }
      void OnDone() override { delete this; }

     private:
      CosmosGrpcServer* owner_;
      grpc::GenericCallbackServerContext* ctx_;
      std::string method_;
      int64_t height_ = 0;
      bool bad_height_ = false;
      grpc::ByteBuffer request_;
      grpc::ByteBuffer response_;
    };
    return new Reactor(owner_, ctx);
  }

 private:
  CosmosGrpcServer* owner_;
};

CosmosGrpcServer::CosmosGrpcServer(Chain* chain)
    : chain_(chain), service_(std::make_unique<Service>(this)) {}

CosmosGrpcServer::~CosmosGrpcServer() { Stop(absl::Now()); }

absl::Status CosmosGrpcServer::Start(const std::string& address) {
  grpc::ServerBuilder builder;
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &port_);
  builder.RegisterCallbackGenericService(service_.get());
  server_ = builder.BuildAndStart();
  if (!server_ || port_ == 0) {
    server_.reset();
    return absl::UnavailableError(absl::StrCat("devchain gRPC: cannot listen on ", address));
  }
  return absl::OkStatus();
}

void CosmosGrpcServer::Stop(absl::Time deadline) {
  if (!server_) return;
  server_->Shutdown(absl::ToChronoTime(deadline));
  server_->Wait();
  server_.reset();
}

absl::StatusOr<std::string> CosmosGrpcServer::Call(absl::string_view method,
                                                   absl::string_view request, int64_t height,
                                                   int64_t* answered_height) {
  if (method == "/cosmos.tx.v1beta1.Service/BroadcastTx") {
    txpb::BroadcastTxRequest req;
    if (!req.ParseFromArray(request.data(), static_cast<int>(request.size()))) {
      return absl::InvalidArgumentError("BroadcastTxRequest: cannot decode");
    }
    if (req.mode() == txpb::BROADCAST_MODE_BLOCK) {
      return absl::InvalidArgumentError(
          "BROADCAST_MODE_BLOCK is not supported (removed in Cosmos SDK 0.47); use SYNC");
    }
    if (req.tx_bytes().empty()) return absl::InvalidArgumentError("BroadcastTxRequest: empty tx");
    BroadcastResult r = chain_->Broadcast(req.tx_bytes());
    txpb::BroadcastTxResponse response;
    abcipb::TxResponse* tx = response.mutable_tx_response();
    tx->set_txhash(crypto::HexEncodeUpper(r.hash));
    if (!r.rpc_error.empty()) {
      // CometBFT-level refusals as the SDK reports them (sdk 19/20/21).
      uint32_t code = absl::StrContains(r.rpc_error, "already exists")    ? 19
                      : absl::StrContains(r.rpc_error, "mempool is full") ? 20
                                                                          : 21;
      tx->set_code(code);
      tx->set_codespace("sdk");
      tx->set_raw_log(r.rpc_error);
    } else if (req.mode() != txpb::BROADCAST_MODE_ASYNC) {
      tx->set_code(r.result.code);
      tx->set_codespace(r.result.codespace);
      tx->set_raw_log(r.result.log);
      tx->set_gas_wanted(r.result.gas_wanted);
      tx->set_gas_used(r.result.gas_used);
    }
    return response.SerializeAsString();
  }
  if (method == "/cosmos.tx.v1beta1.Service/GetTx") {
    txpb::GetTxRequest req;
    std::string hash;
    if (!req.ParseFromArray(request.data(), static_cast<int>(request.size())) ||
        !crypto::HexDecode(req.hash(), "hash", &hash).ok() || hash.size() != 32) {
      return absl::InvalidArgumentError("GetTxRequest: hash must be 64 hex characters");
    }
    absl::StatusOr<TxLocation> where = chain_->GetTx(hash);
    if (!where.ok()) {
      return absl::NotFoundError(absl::StrCat("tx not found: ", crypto::HexEncodeUpper(hash)));
    }
    const Block& block = *where->block;
    const TxResult& result = block.tx_results[where->index];
    const std::string& raw_bytes = block.txs[where->index];
    txpb::GetTxResponse response;
    txpb::TxRaw raw;
    if (raw.ParseFromString(raw_bytes)) {
      txpb::Tx* tx = response.mutable_tx();
      tx->mutable_body()->ParseFromString(raw.body_bytes());
      tx->mutable_auth_info()->ParseFromString(raw.auth_info_bytes());
      for (const auto& s : raw.signatures()) tx->add_signatures(s);
    }
    abcipb::TxResponse* tr = response.mutable_tx_response();
    tr->set_height(block.height);
    tr->set_txhash(crypto::HexEncodeUpper(hash));
    tr->set_code(result.code);
    tr->set_codespace(result.codespace);
    tr->set_raw_log(result.log);
    tr->set_gas_wanted(result.gas_wanted);
    tr->set_gas_used(result.gas_used);
    tr->set_data(crypto::HexEncodeUpper(result.data));
    tr->set_timestamp(RfcTime(block.time));
    tr->mutable_tx()->set_type_url("/cosmos.tx.v1beta1.Tx");
    tr->mutable_tx()->set_value(response.tx().SerializeAsString());
    FillEvents(result.events, tr->mutable_events());
    return response.SerializeAsString();
  }
  // Queries (and Simulate) are answered by the chain's rules, as over abci_query.
  TxExecutor::QueryResult q = chain_->Query(method, request, height);
  if (answered_height) *answered_height = q.height;
  return FromQuery(q);
}

}  // namespace devchain
}  // namespace gonka
