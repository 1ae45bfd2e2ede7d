#include "gonka/chain/inference_query_client.h"

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <future>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gonka/base/log.h"
#include "gonka/base/metrics.h"
#include "gonka/base/status_macros.h"
#include "gonka/chain/comet_client.h"

namespace gonka {
namespace chain {
namespace {

namespace ipb = ::inference::inference;
namespace rpb = ::inference::restrictions;
namespace bpb = ::inference::bls;
namespace cmtpb = ::cosmos::base::tendermint::v1beta1;

constexpr char kHeightHeader[] = "x-cosmos-block-height";
constexpr char kPrefix[] = "/inference.inference.Query/";
constexpr char kRestrictions[] = "/inference.restrictions.Query/";
constexpr char kBls[] = "/inference.bls.Query/";
constexpr char kCmtService[] = "/cosmos.base.tendermint.v1beta1.Service/";

const char* Name(QueryTransport t) { return t == QueryTransport::kGrpc ? "grpc" : "abci_query"; }

prometheus::Family<prometheus::Counter>& Calls() {
  static auto& family = prometheus::BuildCounter()
                            .Name("gonka_chain_query_calls_total")
                            .Help(
                                "Chain queries by method, transport (grpc, abci_query) and "
                                "result (ok or the status code name)")
                            .Register(metrics::Registry());
  return family;
}

prometheus::Family<prometheus::Histogram>& Latency() {
  static auto& family = prometheus::BuildHistogram()
                            .Name("gonka_chain_query_seconds")
                            .Help("Chain query latency by method and transport")
                            .Register(metrics::Registry());
  return family;
}

prometheus::Family<prometheus::Gauge>& Transport() {
  static auto& family = prometheus::BuildGauge()
                            .Name("gonka_chain_query_transport")
                            .Help("1 on the transport chain queries use first (grpc, abci_query)")
                            .Register(metrics::Registry());
  return family;
}

void Record(const std::string& method, QueryTransport transport, const absl::Status& status,
            absl::Duration elapsed) {
  std::string result = status.ok() ? "ok" : absl::StatusCodeToString(status.code());
  Calls().Add({{"method", method}, {"transport", Name(transport)}, {"result", result}}).Increment();
  Latency()
      .Add({{"method", method}, {"transport", Name(transport)}}, metrics::LatencyBuckets())
      .Observe(absl::ToDoubleSeconds(elapsed));
}

void SetTransportGauge(QueryTransport active) {
  Transport().Add({{"transport", "grpc"}}).Set(active == QueryTransport::kGrpc ? 1 : 0);
  Transport().Add({{"transport", "abci_query"}}).Set(active == QueryTransport::kAbciQuery ? 1 : 0);
}

// The SDK's codes back to gRPC's, the inverse of baseapp's gRPCErrorToSDKError (and
// CreateQueryContext's sdk 26 for a height in the future, which its gRPC server reports as
// InvalidArgument).
absl::StatusCode FromSdk(const std::string& codespace, uint32_t code) {
  if (codespace != "sdk") return absl::StatusCode::kUnknown;
  switch (code) {
    case 22:
      return absl::StatusCode::kNotFound;
    case 18:
    case 26:
    case 7:
      return absl::StatusCode::kInvalidArgument;
    case 4:
      return absl::StatusCode::kUnauthenticated;
    case 6:
      return absl::StatusCode::kUnimplemented;
    default:
      return absl::StatusCode::kUnknown;
  }
}

bool IsTransportFailure(const absl::Status& s) {
  return s.code() == absl::StatusCode::kUnavailable ||
         s.code() == absl::StatusCode::kDeadlineExceeded;
}

}  // namespace

// One channel and generic stub; unary calls by full method name (the way devchain serves them).
class InferenceQueryClient::Grpc {
 public:
  explicit Grpc(const std::string& address)
      : address_(address),
        channel_(grpc::CreateChannel(address, grpc::InsecureChannelCredentials())),
        stub_(channel_) {}

  const std::string& address() const { return address_; }

  absl::StatusOr<std::string> Unary(const std::string& method, const std::string& request,
                                    int64_t height, absl::Duration timeout,
                                    int64_t* answered_height) {
    grpc::Slice slice(request);
    grpc::ByteBuffer in(&slice, 1), out;
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
    if (height != 0) context.AddMetadata(kHeightHeader, absl::StrCat(height));
    std::promise<grpc::Status> done;
    stub_.UnaryCall(&context, method, grpc::StubOptions(), &in, &out,
                    [&done](grpc::Status s) { done.set_value(std::move(s)); });
    grpc::Status status = done.get_future().get();
    if (!status.ok()) {
      return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                          status.error_message());
    }
    const auto& headers = context.GetServerInitialMetadata();
    auto h = headers.find(kHeightHeader);
    if (h != headers.end()) {
      int64_t value = 0;
      if (absl::SimpleAtoi(absl::string_view(h->second.data(), h->second.size()), &value)) {
        *answered_height = value;
      }
    }
    std::vector<grpc::Slice> slices;
    std::string bytes;
    if (!out.Dump(&slices).ok()) return absl::InternalError("cannot read the response");
    for (const auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
    return bytes;
  }

 private:
  const std::string address_;
  std::shared_ptr<grpc::Channel> channel_;
  grpc::GenericStub stub_;
};

InferenceQueryClient::InferenceQueryClient(InferenceQueryClientOptions options)
    : options_(std::move(options)) {
  if (!options_.grpc_address.empty()) grpc_ = std::make_unique<Grpc>(options_.grpc_address);
  if (!options_.rpc_url.empty()) {
    comet_ = std::make_unique<CometClient>(CometClientOptions{
        .rpc_url = options_.rpc_url, .timeout = options_.timeout, .tls = options_.rpc_tls});
  }
  SetTransportGauge(grpc_ ? QueryTransport::kGrpc : QueryTransport::kAbciQuery);
}

InferenceQueryClient::~InferenceQueryClient() = default;

QueryTransport InferenceQueryClient::active_transport() {
  return UseGrpc() ? QueryTransport::kGrpc : QueryTransport::kAbciQuery;
}

bool InferenceQueryClient::UseGrpc() {
  if (!grpc_) return false;
  if (!comet_) return true;
  absl::MutexLock lock(&mu_);
  return options_.clock->Now() >= grpc_down_until_;
}

void InferenceQueryClient::GrpcFailed(const absl::Status& status) {
  if (!comet_) return;
  absl::MutexLock lock(&mu_);
  absl::Time now = options_.clock->Now();
  if (now < grpc_down_until_) return;
  grpc_down_until_ = now + options_.grpc_reprobe_interval;
  SetTransportGauge(QueryTransport::kAbciQuery);
  GONKA_LOG_WARN("chain queries: gRPC unreachable, using abci_query",
                 {"grpc", options_.grpc_address}, {"rpc", options_.rpc_url},
                 {"reprobe_in", absl::FormatDuration(options_.grpc_reprobe_interval)},
                 {"error", status.ToString()});
}

void InferenceQueryClient::GrpcAnswered() {
  if (!comet_) return;
  absl::MutexLock lock(&mu_);
  if (grpc_down_until_ == absl::InfinitePast()) return;
  grpc_down_until_ = absl::InfinitePast();
  SetTransportGauge(QueryTransport::kGrpc);
  GONKA_LOG_INFO("chain queries: gRPC answers again", {"grpc", options_.grpc_address});
}

absl::StatusOr<std::string> InferenceQueryClient::CallGrpc(const std::string& method,
                                                           const std::string& request,
                                                           int64_t height,
                                                           int64_t* answered_height) {
  return grpc_->Unary(method, request, height, options_.timeout, answered_height);
}

absl::StatusOr<std::string> InferenceQueryClient::CallAbci(const std::string& method,
                                                           const std::string& request,
                                                           int64_t height,
                                                           int64_t* answered_height) {
  ASSIGN_OR_RETURN(AbciQueryResponse answer, comet_->AbciQuery(method, request, height));
  if (answer.code != 0) {
    return absl::Status(FromSdk(answer.codespace, answer.code),
                        absl::StrCat(answer.log, " (", answer.codespace, " ", answer.code, ")"));
  }
  *answered_height = answer.height;
  return std::move(answer.value);
}

absl::Status InferenceQueryClient::Call(absl::string_view method, const Proto& request,
                                        Proto* response, int64_t height, QueryMeta* meta) {
  const std::string name(method);
  const bool grpc_only = absl::StartsWith(name, kCmtService);
  std::string bytes = request.SerializeAsString();
  int64_t answered = 0;
  QueryTransport transport = QueryTransport::kAbciQuery;
  absl::StatusOr<std::string> answer = absl::UnavailableError("no transport configured");
  if (UseGrpc()) {
    transport = QueryTransport::kGrpc;
    absl::Time start = absl::Now();
    answer = CallGrpc(name, bytes, height, &answered);
    Record(name, transport, answer.status(), absl::Now() - start);
    if (answer.ok()) {
      GrpcAnswered();
    } else if (IsTransportFailure(answer.status()) && comet_) {
      GrpcFailed(answer.status());
      transport = QueryTransport::kAbciQuery;
    }
  }
  if (transport == QueryTransport::kAbciQuery && comet_ && grpc_only) {
    // cmtservice is a gRPC service of the node, not an ABCI query route.
    answer = absl::UnavailableError("a cmtservice method has no abci_query fallback");
  } else if (transport == QueryTransport::kAbciQuery && comet_) {
    absl::Time start = absl::Now();
    answer = CallAbci(name, bytes, height, &answered);
    Record(name, transport, answer.status(), absl::Now() - start);
  }
  if (!answer.ok()) {
    return absl::Status(answer.status().code(), absl::StrCat(name, " via ", Name(transport), ": ",
                                                             answer.status().message()));
  }
  if (!response->ParseFromString(*answer)) {
    return absl::InternalError(absl::StrCat(name, " via ", Name(transport),
                                            ": the answer does not decode as ",
                                            response->GetTypeName()));
  }
  if (meta) {
    meta->height = answered;
    meta->transport = transport;
  }
  return absl::OkStatus();
}

template <typename Response>
absl::StatusOr<Response> InferenceQueryClient::TypedFull(absl::string_view method,
                                                         const Proto& request, int64_t height,
                                                         QueryMeta* meta) {
  Response response;
  RETURN_IF_ERROR(Call(method, request, &response, height, meta));
  return response;
}

template <typename Response>
absl::StatusOr<Response> InferenceQueryClient::Typed(absl::string_view method, const Proto& request,
                                                     int64_t height, QueryMeta* meta) {
  Response response;
  RETURN_IF_ERROR(Call(absl::StrCat(kPrefix, method), request, &response, height, meta));
  return response;
}

absl::StatusOr<ipb::QueryParamsResponse> InferenceQueryClient::Params(int64_t height,
                                                                      QueryMeta* meta) {
  return Typed<ipb::QueryParamsResponse>("Params", ipb::QueryParamsRequest(), height, meta);
}

absl::StatusOr<ipb::QueryEpochInfoResponse> InferenceQueryClient::EpochInfo(int64_t height,
                                                                            QueryMeta* meta) {
  return Typed<ipb::QueryEpochInfoResponse>("EpochInfo", ipb::QueryEpochInfoRequest(), height,
                                            meta);
}

absl::StatusOr<ipb::QueryGetCurrentEpochResponse> InferenceQueryClient::GetCurrentEpoch(
    int64_t height, QueryMeta* meta) {
  return Typed<ipb::QueryGetCurrentEpochResponse>("GetCurrentEpoch",
                                                  ipb::QueryGetCurrentEpochRequest(), height, meta);
}

absl::StatusOr<ipb::QueryCurrentEpochGroupDataResponse> InferenceQueryClient::CurrentEpochGroupData(
    int64_t height, QueryMeta* meta) {
  return Typed<ipb::QueryCurrentEpochGroupDataResponse>(
      "CurrentEpochGroupData", ipb::QueryCurrentEpochGroupDataRequest(), height, meta);
}

absl::StatusOr<ipb::QueryGetEpochGroupDataResponse> InferenceQueryClient::EpochGroupData(
    uint64_t epoch_index, absl::string_view model_id, int64_t height, QueryMeta* meta) {
  ipb::QueryGetEpochGroupDataRequest request;
  request.set_epoch_index(epoch_index);
  request.set_model_id(std::string(model_id));
  return Typed<ipb::QueryGetEpochGroupDataResponse>("EpochGroupData", request, height, meta);
}

absl::StatusOr<ipb::QueryModelsAllResponse> InferenceQueryClient::ModelsAll(int64_t height,
                                                                            QueryMeta* meta) {
  return Typed<ipb::QueryModelsAllResponse>("ModelsAll", ipb::QueryModelsAllRequest(), height,
                                            meta);
}

absl::StatusOr<ipb::QueryParticipantsWithBalancesResponse>
InferenceQueryClient::ParticipantsWithBalances(
    const ::cosmos::base::query::v1beta1::PageRequest& page, int64_t height, QueryMeta* meta) {
  ipb::QueryParticipantsWithBalancesRequest request;
  *request.mutable_pagination() = page;
  return Typed<ipb::QueryParticipantsWithBalancesResponse>("ParticipantsWithBalances", request,
                                                           height, meta);
}

absl::StatusOr<ipb::QueryAccountByAddressResponse> InferenceQueryClient::AccountByAddress(
    absl::string_view address, int64_t height, QueryMeta* meta) {
  ipb::QueryAccountByAddressRequest request;
  request.set_address(std::string(address));
  return Typed<ipb::QueryAccountByAddressResponse>("AccountByAddress", request, height, meta);
}

absl::StatusOr<ipb::QueryPocBatchesForStageResponse> InferenceQueryClient::PocBatchesForStage(
    int64_t block_height, int64_t height, QueryMeta* meta) {
  ipb::QueryPocBatchesForStageRequest request;
  request.set_block_height(block_height);
  return Typed<ipb::QueryPocBatchesForStageResponse>("PocBatchesForStage", request, height, meta);
}

absl::StatusOr<ipb::QueryBridgeAddressesByChainResponse>
InferenceQueryClient::BridgeAddressesByChain(absl::string_view chain_id, int64_t height,
                                             QueryMeta* meta) {
  ipb::QueryBridgeAddressesByChainRequest request;
  request.set_chain_id(std::string(chain_id));
  return Typed<ipb::QueryBridgeAddressesByChainResponse>("BridgeAddressesByChain", request, height,
                                                         meta);
}

absl::StatusOr<ipb::QueryAllPartialUpgradeResponse> InferenceQueryClient::PartialUpgradeAll(
    const ::cosmos::base::query::v1beta1::PageRequest& page, int64_t height, QueryMeta* meta) {
  ipb::QueryAllPartialUpgradeRequest request;
  *request.mutable_pagination() = page;
  return Typed<ipb::QueryAllPartialUpgradeResponse>("PartialUpgradeAll", request, height, meta);
}

absl::StatusOr<ipb::QueryExcludedParticipantsResponse> InferenceQueryClient::ExcludedParticipants(
    uint64_t epoch_index, int64_t height, QueryMeta* meta) {
  ipb::QueryExcludedParticipantsRequest request;
  request.set_epoch_index(epoch_index);
  return Typed<ipb::QueryExcludedParticipantsResponse>("ExcludedParticipants", request, height,
                                                       meta);
}

absl::StatusOr<::cosmos::upgrade::v1beta1::QueryCurrentPlanResponse>
InferenceQueryClient::CurrentPlan(int64_t height, QueryMeta* meta) {
  return TypedFull<::cosmos::upgrade::v1beta1::QueryCurrentPlanResponse>(
      "/cosmos.upgrade.v1beta1.Query/CurrentPlan",
      ::cosmos::upgrade::v1beta1::QueryCurrentPlanRequest(), height, meta);
}

absl::StatusOr<rpb::QueryTransferRestrictionStatusResponse>
InferenceQueryClient::TransferRestrictionStatus(int64_t height, QueryMeta* meta) {
  return TypedFull<rpb::QueryTransferRestrictionStatusResponse>(
      absl::StrCat(kRestrictions, "TransferRestrictionStatus"),
      rpb::QueryTransferRestrictionStatusRequest(), height, meta);
}

absl::StatusOr<rpb::QueryTransferExemptionsResponse> InferenceQueryClient::TransferExemptions(
    int64_t height, QueryMeta* meta) {
  return TypedFull<rpb::QueryTransferExemptionsResponse>(
      absl::StrCat(kRestrictions, "TransferExemptions"), rpb::QueryTransferExemptionsRequest(),
      height, meta);
}

absl::StatusOr<rpb::QueryExemptionUsageResponse> InferenceQueryClient::ExemptionUsage(
    absl::string_view exemption_id, absl::string_view account_address, int64_t height,
    QueryMeta* meta) {
  rpb::QueryExemptionUsageRequest request;
  request.set_exemption_id(std::string(exemption_id));
  request.set_account_address(std::string(account_address));
  return TypedFull<rpb::QueryExemptionUsageResponse>(absl::StrCat(kRestrictions, "ExemptionUsage"),
                                                     request, height, meta);
}

absl::StatusOr<bpb::QueryEpochBLSDataResponse> InferenceQueryClient::EpochBLSData(uint64_t epoch_id,
                                                                                  int64_t height,
                                                                                  QueryMeta* meta) {
  bpb::QueryEpochBLSDataRequest request;
  request.set_epoch_id(epoch_id);
  return TypedFull<bpb::QueryEpochBLSDataResponse>(absl::StrCat(kBls, "EpochBLSData"), request,
                                                   height, meta);
}

absl::StatusOr<bpb::QuerySigningStatusResponse> InferenceQueryClient::SigningStatus(
    absl::string_view request_id, int64_t height, QueryMeta* meta) {
  bpb::QuerySigningStatusRequest request;
  request.set_request_id(std::string(request_id));
  return TypedFull<bpb::QuerySigningStatusResponse>(absl::StrCat(kBls, "SigningStatus"), request,
                                                    height, meta);
}

absl::StatusOr<cmtpb::GetNodeInfoResponse> InferenceQueryClient::GetNodeInfo(QueryMeta* meta) {
  return TypedFull<cmtpb::GetNodeInfoResponse>(absl::StrCat(kCmtService, "GetNodeInfo"),
                                               cmtpb::GetNodeInfoRequest(), 0, meta);
}

absl::StatusOr<cmtpb::GetBlockByHeightResponse> InferenceQueryClient::GetBlockByHeight(
    int64_t block_height, QueryMeta* meta) {
  cmtpb::GetBlockByHeightRequest request;
  request.set_height(block_height);
  return TypedFull<cmtpb::GetBlockByHeightResponse>(absl::StrCat(kCmtService, "GetBlockByHeight"),
                                                    request, 0, meta);
}

absl::StatusOr<cmtpb::GetValidatorSetByHeightResponse>
InferenceQueryClient::GetValidatorSetByHeight(int64_t block_height, QueryMeta* meta) {
  cmtpb::GetValidatorSetByHeightRequest request;
  request.set_height(block_height);
  return TypedFull<cmtpb::GetValidatorSetByHeightResponse>(
      absl::StrCat(kCmtService, "GetValidatorSetByHeight"), request, 0, meta);
}

absl::StatusOr<cmtpb::ABCIQueryResponse> InferenceQueryClient::ABCIQuery(absl::string_view path,
                                                                         absl::string_view data,
                                                                         int64_t query_height,
                                                                         bool prove,
                                                                         QueryMeta* meta) {
  cmtpb::ABCIQueryRequest request;
  request.set_path(std::string(path));
  request.set_data(std::string(data));
  request.set_height(query_height);
  request.set_prove(prove);
  const std::string method = absl::StrCat(kCmtService, "ABCIQuery");
  absl::StatusOr<cmtpb::ABCIQueryResponse> answer =
      TypedFull<cmtpb::ABCIQueryResponse>(method, request, 0, meta);
  if (answer.ok() || !IsTransportFailure(answer.status()) || !comet_) return answer;
  // The fallback: CometBFT's own abci_query is the same call, proof ops included.
  absl::Time start = absl::Now();
  absl::StatusOr<AbciQueryResponse> direct = comet_->AbciQuery(path, data, query_height, prove);
  Record(method, QueryTransport::kAbciQuery, direct.status(), absl::Now() - start);
  if (!direct.ok()) {
    return absl::Status(direct.status().code(),
                        absl::StrCat(method, " via abci_query: ", direct.status().message()));
  }
  cmtpb::ABCIQueryResponse response;
  response.set_code(direct->code);
  response.set_codespace(direct->codespace);
  response.set_log(direct->log);
  response.set_key(std::string(data));
  response.set_value(direct->value);
  for (const ProofOp& op : direct->proof_ops) {
    cmtpb::ProofOp* out = response.mutable_proof_ops()->add_ops();
    out->set_type(op.type);
    out->set_key(op.key);
    out->set_data(op.data);
  }
  response.set_height(direct->height);
  if (meta) {
    meta->height = direct->height;
    meta->transport = QueryTransport::kAbciQuery;
  }
  return response;
}

}  // namespace chain
}  // namespace gonka
