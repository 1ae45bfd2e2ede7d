#include "gonka/devchain/grpc_server.h"

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/grpcpp.h>

#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gonka/crypto/bech32.h"
#include "gonka/crypto/hash.h"
#include "gonka/devchain/render.h"
#include "gonka/proto/cosmos/base/abci/v1beta1/abci.pb.h"
#include "gonka/proto/cosmos/base/tendermint/v1beta1/query.pb.h"
#include "gonka/proto/cosmos/crypto/ed25519/keys.pb.h"
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
namespace cmtpb = ::cosmos::base::tendermint::v1beta1;

constexpr absl::string_view kCmtService = "/cosmos.base.tendermint.v1beta1.Service/";

std::string FakeHash(absl::string_view label) {
  return std::string(crypto::AsStringView(crypto::Sha256(label)));
}

void FillTimestamp(absl::Time time, google::protobuf::Timestamp* out) {
  const int64_t nanos = absl::ToUnixNanos(time);
  out->set_seconds(nanos / 1000000000);
  out->set_nanos(static_cast<int32_t>(nanos % 1000000000));
}

void FillBlockId(absl::string_view hash, ::tendermint::types::BlockID* out) {
  out->set_hash(std::string(hash));
  if (hash.empty()) return;
  const chain::CommitBlockId id = DevchainBlockId(hash);
  out->mutable_part_set_header()->set_total(id.part_set_total);
  out->mutable_part_set_header()->set_hash(id.part_set_hash);
}

// The same header fields as devchain's /block JSON (render.cc), in the SDK's Header.
void FillSdkBlock(const Block& b, const ValidatorKey& key, cmtpb::Block* out) {
  cmtpb::Header* h = out->mutable_header();
  h->mutable_version()->set_block(11);
  h->set_chain_id(b.chain_id);
  h->set_height(b.height);
  FillTimestamp(b.time, h->mutable_time());
  FillBlockId(b.last_hash, h->mutable_last_block_id());
  h->set_last_commit_hash(FakeHash(absl::StrCat("commit", b.last_hash)));
  h->set_data_hash(b.data_hash);
  h->set_validators_hash(FakeHash("validators"));
  h->set_next_validators_hash(FakeHash("validators"));
  h->set_consensus_hash(FakeHash("consensus"));
  h->set_app_hash(b.app_hash);
  h->set_last_results_hash(FakeHash(absl::StrCat("results", b.last_hash)));
  h->set_evidence_hash(FakeHash("evidence"));
  h->set_proposer_address(crypto::EncodeAddress("gonkavalcons", b.proposer).value_or(""));
  for (const auto& tx : b.txs) out->mutable_data()->add_txs(tx);
  ::tendermint::types::Commit* commit = out->mutable_last_commit();
  commit->set_height(b.height - 1);
  FillBlockId(b.last_hash, commit->mutable_block_id());
  if (b.height > 1) {
    ::tendermint::types::CommitSig* sig = commit->add_signatures();
    sig->set_block_id_flag(::tendermint::types::BLOCK_ID_FLAG_COMMIT);
    sig->set_validator_address(b.proposer);
    FillTimestamp(b.time, sig->mutable_timestamp());
    // The same precommit as /block's last_commit (render.cc): signed at this block's time.
    sig->set_signature(
        key.SignPrecommit(b.chain_id, b.height - 1, DevchainBlockId(b.last_hash), b.time));
  }
}

template <typename Request>
bool Parse(absl::string_view bytes, Request* request) {
  return request->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
}

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
  if (absl::StartsWith(method, kCmtService)) {
    return CallCmtService(method.substr(kCmtService.size()), request, answered_height);
  }
  // Queries (and Simulate) are answered by the chain's rules, as over abci_query.
  TxExecutor::QueryResult q = chain_->Query(method, request, height);
  if (answered_height) *answered_height = q.height;
  return FromQuery(q);
}

absl::StatusOr<std::string> CosmosGrpcServer::CallCmtService(absl::string_view method,
                                                             absl::string_view request,
                                                             int64_t* answered_height) {
  if (method == "GetNodeInfo") {
    cmtpb::GetNodeInfoResponse response;
    ::tendermint::p2p::DefaultNodeInfo* node = response.mutable_default_node_info();
    node->mutable_protocol_version()->set_p2p(8);
    node->mutable_protocol_version()->set_block(11);
    node->set_default_node_id(crypto::HexEncode(FakeHash("devchain-node")).substr(0, 40));
    node->set_listen_addr("tcp://127.0.0.1:26656");
    node->set_network(chain_->options().chain_id);
    node->set_version("0.38.17");
    node->set_moniker("devchain");
    node->mutable_other()->set_tx_index("on");
    cmtpb::VersionInfo* app = response.mutable_application_version();
    app->set_name(kAppName);
    app->set_app_name(kAppName);
    app->set_version(kAppVersion);
    app->set_git_commit(kAppCommit);
    app->set_cosmos_sdk_version("v0.53.3");
    return response.SerializeAsString();
  }
  if (method == "GetBlockByHeight" || method == "GetValidatorSetByHeight") {
    int64_t height = 0;
    cmtpb::GetBlockByHeightRequest block_request;
    cmtpb::GetValidatorSetByHeightRequest validators_request;
    bool parsed = method == "GetBlockByHeight" ? Parse(request, &block_request)
                                               : Parse(request, &validators_request);
    if (!parsed) return absl::InvalidArgumentError(absl::StrCat(method, ": cannot decode"));
    height = method == "GetBlockByHeight" ? block_request.height() : validators_request.height();
    // The SDK's checks (client/grpc/cmtservice): a height below 1 or above the tip is
    // InvalidArgument with these texts.
    if (height < 1) return absl::InvalidArgumentError("height must be greater than 0");
    if (height > chain_->height()) {
      return absl::InvalidArgumentError("requested block height is bigger then the chain length");
    }
    absl::StatusOr<BlockPtr> block = chain_->GetBlock(height);
    if (!block.ok()) return absl::NotFoundError(block.status().message());
    if (answered_height) *answered_height = chain_->height();
    if (method == "GetBlockByHeight") {
      cmtpb::GetBlockByHeightResponse response;
      FillBlockId((*block)->hash, response.mutable_block_id());
      FillSdkBlock(**block, chain_->validator(), response.mutable_sdk_block());
      return response.SerializeAsString();
    }
    cmtpb::GetValidatorSetByHeightResponse response;
    response.set_block_height(height);
    cmtpb::Validator* v = response.add_validators();
    // devchain's one validator (gonka/devchain/validator.h), as /validators shows it.
    const ValidatorKey& validator = chain_->validator();
    v->set_address(crypto::EncodeAddress("gonkavalcons", validator.address()).value_or(""));
    ::cosmos::crypto::ed25519::PubKey key;
    key.set_key(validator.public_key());
    v->mutable_pub_key()->set_type_url("/cosmos.crypto.ed25519.PubKey");
    v->mutable_pub_key()->set_value(key.SerializeAsString());
    v->set_voting_power(kValidatorVotingPower);
    response.mutable_pagination()->set_total(1);
    return response.SerializeAsString();
  }
  if (method == "ABCIQuery") {
    cmtpb::ABCIQueryRequest req;
    if (!Parse(request, &req)) return absl::InvalidArgumentError("ABCIQuery: cannot decode");
    // As CometBFT's abci_query through the app: the answer's code/log/value, never a gRPC error
    // for an application error. With prove, a provable store key gets its ICS-23 proof ops.
    TxExecutor::QueryResult q = chain_->Query(req.path(), req.data(), req.height());
    cmtpb::ABCIQueryResponse response;
    response.set_code(q.code);
    response.set_codespace(q.codespace);
    response.set_log(q.log);
    response.set_key(req.data());
    response.set_value(q.value);
    response.set_height(q.height);
    if (req.prove() && q.code == 0) {
      absl::StatusOr<std::vector<chain::ProofOp>> ops =
          chain_->ProveQuery(req.path(), req.data(), q.height);
      if (ops.ok()) {
        for (const chain::ProofOp& op : *ops) {
          cmtpb::ProofOp* out = response.mutable_proof_ops()->add_ops();
          out->set_type(op.type);
          out->set_key(op.key);
          out->set_data(op.data);
        }
      }
    }
    if (answered_height) *answered_height = q.height;
    return response.SerializeAsString();
  }
  return absl::Status(kUnknownMethod, absl::StrCat("unknown method ", kCmtService, method));
}

}  // namespace devchain
}  // namespace gonka
