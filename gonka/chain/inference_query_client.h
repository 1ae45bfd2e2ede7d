// InferenceQueryClient: the chain queries behind edge-api's read routes — Gonka's
// inference.inference.Query, inference.restrictions.Query and inference.bls.Query methods and
// the Cosmos SDK's cmtservice (cosmos.base.tendermint.v1beta1.Service) — over Cosmos gRPC with a
// CometBFT abci_query fallback, as Gonka's edge-api reads the chain (chain.NewWithQueryFallback;
// docs/reference/gonka.md, "Inference module queries", "Restrictions and BLS queries").
//
//   InferenceQueryClient chain({.grpc_address = "127.0.0.1:9090",
//                               .rpc_url = "http://127.0.0.1:26657"});
//   ASSIGN_OR_RETURN(auto info, chain.EpochInfo());                 // latest height
//   QueryMeta meta;
//   ASSIGN_OR_RETURN(auto group, chain.EpochGroupData(info.latest_epoch().index(), "",
//                                                     /*height=*/info.block_height(), &meta));
//   // meta.height: the height the answer is from; meta.transport: kGrpc or kAbciQuery
//
// Height pinning: `height` 0 asks for the latest state; otherwise the query runs on the state at
// that height (gRPC request header `x-cosmos-block-height`, abci_query `height`), and `meta`
// (optional) receives the height the node says it answered (the `x-cosmos-block-height`
// response header, abci_query's `height`).
//
// Transport: gRPC first. A gRPC transport failure (UNAVAILABLE, DEADLINE_EXCEEDED) switches to
// abci_query for that call and for every call after it until `grpc_reprobe_interval` has passed
// (default 30 minutes, Gonka's edge-api's); the next call then tries gRPC again and stays on it
// if it answers. Application errors (NotFound, InvalidArgument, ...) never switch transports.
// With no `grpc_address` every call goes through abci_query; with no `rpc_url` there is no
// fallback. cmtservice is not an ABCI query route on a node: over the fallback, ABCIQuery is
// CometBFT's own abci_query (same path, data, height, prove) and GetNodeInfo, GetBlockByHeight
// and GetValidatorSetByHeight answer Unavailable naming the method (gRPC only).
//
// Errors (every message names the method and the transport): the node's answer as the status
// code Gonka's GRPCErrorToHTTP maps — NotFound (404), InvalidArgument (400; also a height above
// the latest), Unauthenticated, PermissionDenied, ResourceExhausted, Unavailable (503: no
// transport answered); over abci_query the SDK's codes map back (sdk 22 → NotFound, 18 and 26 →
// InvalidArgument, 4 → Unauthenticated, 6 → Unimplemented, others → Unknown); an answer that does
// not decode → Internal.
//
// Metrics: gonka_chain_query_calls_total{method, transport, result},
// gonka_chain_query_seconds{method, transport} and gonka_chain_query_transport{transport}
// (1 on the active one).
//
// Thread-safe; calls may run concurrently (they share one gRPC channel and one HTTP pool).
#ifndef GONKA_CHAIN_INFERENCE_QUERY_CLIENT_H_
#define GONKA_CHAIN_INFERENCE_QUERY_CLIENT_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gonka/base/clock.h"
#include "gonka/net/tls.h"
#include "gonka/proto/cosmos/base/tendermint/v1beta1/query.pb.h"
#include "gonka/proto/cosmos/upgrade/v1beta1/upgrade.pb.h"
#include "gonka/proto/inference/bls/query.pb.h"
#include "gonka/proto/inference/inference/query.pb.h"
#include "gonka/proto/inference/restrictions/query.pb.h"

namespace google {
namespace protobuf {
class Message;
}  // namespace protobuf
}  // namespace google

namespace gonka {
namespace chain {

class CometClient;

struct InferenceQueryClientOptions {
  // Cosmos gRPC, "host:port" (plaintext). Empty: abci_query only.
  std::string grpc_address;
  // CometBFT RPC for the abci_query fallback ("http://host:26657"). Empty: no fallback.
  std::string rpc_url;
  // Whom to trust when `rpc_url` is https:// (as CometClientOptions::tls).
  net::TlsClientOptions rpc_tls;
  absl::Duration timeout = absl::Seconds(10);
  // How long to stay on abci_query after a gRPC transport failure before trying gRPC again.
  absl::Duration grpc_reprobe_interval = absl::Minutes(30);
  Clock* clock = Clock::Real();
};

enum class QueryTransport { kGrpc, kAbciQuery };

// What a call learned besides the answer.
struct QueryMeta {
  int64_t height = 0;  // the height the node answered at (0 if it did not say)
  QueryTransport transport = QueryTransport::kGrpc;
};

class InferenceQueryClient {
 public:
  explicit InferenceQueryClient(InferenceQueryClientOptions options);
  ~InferenceQueryClient();
  InferenceQueryClient(const InferenceQueryClient&) = delete;
  InferenceQueryClient& operator=(const InferenceQueryClient&) = delete;

  using Proto = ::google::protobuf::Message;

  // One method per query; `height` 0 = latest, `meta` may be null.
  absl::StatusOr<::inference::inference::QueryParamsResponse> Params(int64_t height = 0,
                                                                     QueryMeta* meta = nullptr);
  absl::StatusOr<::inference::inference::QueryEpochInfoResponse> EpochInfo(
      int64_t height = 0, QueryMeta* meta = nullptr);
  absl::StatusOr<::inference::inference::QueryGetCurrentEpochResponse> GetCurrentEpoch(
      int64_t height = 0, QueryMeta* meta = nullptr);
  absl::StatusOr<::inference::inference::QueryCurrentEpochGroupDataResponse> CurrentEpochGroupData(
      int64_t height = 0, QueryMeta* meta = nullptr);
  // NotFound when the epoch (or the model's sub-group) does not exist at `height`.
  absl::StatusOr<::inference::inference::QueryGetEpochGroupDataResponse> EpochGroupData(
      uint64_t epoch_index, absl::string_view model_id, int64_t height = 0,
      QueryMeta* meta = nullptr);
  absl::StatusOr<::inference::inference::QueryModelsAllResponse> ModelsAll(
      int64_t height = 0, QueryMeta* meta = nullptr);
  // One page; loop on pagination().next_key() (edge-api asks limit 1000 and pins the following
  // pages to the first page's block_height).
  absl::StatusOr<::inference::inference::QueryParticipantsWithBalancesResponse>
  ParticipantsWithBalances(const ::cosmos::base::query::v1beta1::PageRequest& page,
                           int64_t height = 0, QueryMeta* meta = nullptr);
  // NotFound for an unknown account (or one without a public key), InvalidArgument for a
  // malformed address.
  absl::StatusOr<::inference::inference::QueryAccountByAddressResponse> AccountByAddress(
      absl::string_view address, int64_t height = 0, QueryMeta* meta = nullptr);
  absl::StatusOr<::inference::inference::QueryPocBatchesForStageResponse> PocBatchesForStage(
      int64_t block_height, int64_t height = 0, QueryMeta* meta = nullptr);
  absl::StatusOr<::inference::inference::QueryBridgeAddressesByChainResponse>
  BridgeAddressesByChain(absl::string_view chain_id, int64_t height = 0, QueryMeta* meta = nullptr);
  // The scheduled partial upgrades (ML-node version and/or API binaries at a height), one page
  // in ascending height; loop on pagination().next_key(). Gonka's chain deletes one once its
  // height has passed (docs/node-manager.md, "The upgrade plan").
  absl::StatusOr<::inference::inference::QueryAllPartialUpgradeResponse> PartialUpgradeAll(
      const ::cosmos::base::query::v1beta1::PageRequest& page, int64_t height = 0,
      QueryMeta* meta = nullptr);
  // `epoch_index` 0 = the current effective epoch.
  absl::StatusOr<::inference::inference::QueryExcludedParticipantsResponse> ExcludedParticipants(
      uint64_t epoch_index, int64_t height = 0, QueryMeta* meta = nullptr);

  // inference.restrictions.Query (answers at `height`; Gonka's keeper pages nothing unless asked).
  absl::StatusOr<::inference::restrictions::QueryTransferRestrictionStatusResponse>
  TransferRestrictionStatus(int64_t height = 0, QueryMeta* meta = nullptr);
  absl::StatusOr<::inference::restrictions::QueryTransferExemptionsResponse> TransferExemptions(
      int64_t height = 0, QueryMeta* meta = nullptr);
  // InvalidArgument for a malformed (non-empty) account address.
  absl::StatusOr<::inference::restrictions::QueryExemptionUsageResponse> ExemptionUsage(
      absl::string_view exemption_id, absl::string_view account_address, int64_t height = 0,
      QueryMeta* meta = nullptr);

  // inference.bls.Query: NotFound for an epoch without DKG data or an unknown request id,
  // InvalidArgument for epoch 0 or an empty id.
  absl::StatusOr<::inference::bls::QueryEpochBLSDataResponse> EpochBLSData(
      uint64_t epoch_id, int64_t height = 0, QueryMeta* meta = nullptr);
  absl::StatusOr<::inference::bls::QuerySigningStatusResponse> SigningStatus(
      absl::string_view request_id, int64_t height = 0, QueryMeta* meta = nullptr);

  // cosmos.upgrade.v1beta1.Query/CurrentPlan: the scheduled software upgrade; `plan` unset when
  // none is (the SDK deletes it once the upgrade ran).
  absl::StatusOr<::cosmos::upgrade::v1beta1::QueryCurrentPlanResponse> CurrentPlan(
      int64_t height = 0, QueryMeta* meta = nullptr);

  // cosmos.base.tendermint.v1beta1.Service. GetBlockByHeight/GetValidatorSetByHeight:
  // InvalidArgument for a height below 1 or above the tip. ABCIQuery returns the node's answer
  // as is (an application error is its code/log, not a Status); `query_height` 0 = latest.
  absl::StatusOr<::cosmos::base::tendermint::v1beta1::GetNodeInfoResponse> GetNodeInfo(
      QueryMeta* meta = nullptr);
  absl::StatusOr<::cosmos::base::tendermint::v1beta1::GetBlockByHeightResponse> GetBlockByHeight(
      int64_t block_height, QueryMeta* meta = nullptr);
  absl::StatusOr<::cosmos::base::tendermint::v1beta1::GetValidatorSetByHeightResponse>
  GetValidatorSetByHeight(int64_t block_height, QueryMeta* meta = nullptr);
  absl::StatusOr<::cosmos::base::tendermint::v1beta1::ABCIQueryResponse> ABCIQuery(
      absl::string_view path, absl::string_view data, int64_t query_height, bool prove,
      QueryMeta* meta = nullptr);

  // Any query by full method name ("/inference.inference.Query/EpochInfo"), for methods without
  // a typed wrapper. Errors as above.
  absl::Status Call(absl::string_view method, const Proto& request, Proto* response,
                    int64_t height = 0, QueryMeta* meta = nullptr);

  // The transport the next call will try first.
  QueryTransport active_transport();

 private:
  template <typename Response>
  absl::StatusOr<Response> Typed(absl::string_view method, const Proto& request, int64_t height,
                                 QueryMeta* meta);
  template <typename Response>
  absl::StatusOr<Response> TypedFull(absl::string_view method, const Proto& request, int64_t height,
                                     QueryMeta* meta);
  absl::StatusOr<std::string> CallGrpc(const std::string& method, const std::string& request,
                                       int64_t height, int64_t* answered_height);
  absl::StatusOr<std::string> CallAbci(const std::string& method, const std::string& request,
                                       int64_t height, int64_t* answered_height);
  bool UseGrpc();
  void GrpcFailed(const absl::Status& status);
  void GrpcAnswered();

  class Grpc;
  const InferenceQueryClientOptions options_;
  std::unique_ptr<Grpc> grpc_;          // null without grpc_address
  std::unique_ptr<CometClient> comet_;  // null without rpc_url

  absl::Mutex mu_;
  // While set, calls use abci_query until the clock passes it.
  absl::Time grpc_down_until_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

}  // namespace chain
}  // namespace gonka

#endif  // GONKA_CHAIN_INFERENCE_QUERY_CLIENT_H_
