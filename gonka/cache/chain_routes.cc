#include "gonka/cache/chain_routes.h"

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "gonka/base/json.h"
#include "gonka/base/log.h"
#include "gonka/base/status_macros.h"
#include "gonka/chain/inference_query_client.h"
#include "gonka/net/http_server.h"
#include "google/protobuf/util/json_util.h"

namespace gonka {
namespace cache {
namespace {

namespace ipb = ::inference::inference;

// Protobuf JSON with .proto field names, as Gonka's handlers print raw query responses.
absl::StatusOr<std::string> ProtoJson(const google::protobuf::Message& message) {
  std::string json;
  google::protobuf::util::JsonPrintOptions print;
  print.preserve_proto_field_names = true;
  auto printed = google::protobuf::util::MessageToJsonString(message, &json, print);
  if (!printed.ok()) {
    return absl::InternalError(absl::StrCat("cannot render ", message.GetTypeName(),
                                            " as JSON: ", std::string(printed.message())));
  }
  return json;
}

// Errors an answer can legitimately carry for one model of the epoch group (Gonka's models
// handler skips them); anything else is an outage and must not be cached as a shorter list.
bool SkippableModelError(const absl::Status& status) {
  return status.code() == absl::StatusCode::kNotFound ||
         status.code() == absl::StatusCode::kInvalidArgument ||
         status.code() == absl::StatusCode::kFailedPrecondition;
}

net::HttpResponse ErrorResponse(const absl::Status& status) {
  JsonWriter w;
  w.BeginObject().Key("error").String(status.message()).EndObject();
  net::HttpResponse response = net::HttpResponse::Json(HttpStatusForError(status), w.Take());
  response.headers.Set("Cache-Control", "no-store");
  return response;
}

net::HttpResponse BadRequest(absl::string_view message) {
  return ErrorResponse(absl::InvalidArgumentError(message));
}

// Gonka's EpochContext.NextPoCStart: epoch 0 (anchored at 0) ends where epoch 1's PoC starts,
// epoch_length - epoch_shift; every later epoch one epoch_length after its own PoC start.
int64_t NextPocStart(uint64_t epoch_index, int64_t poc_start, const ipb::EpochParams& p) {
  if (epoch_index == 0) return p.epoch_length() - p.epoch_shift();
  return poc_start + p.epoch_length();
}

// Gonka's EpochContext stages (epoch_context.go; offsets in docs/reference/gonka.md §3),
// anchored at `poc_start`. Epoch 0 has every stage at 0.
void WriteStages(JsonWriter& w, uint64_t epoch_index, int64_t poc_start,
                 const ipb::EpochParams& p) {
  int64_t end_gen = p.poc_stage_duration();
  int64_t start_val = end_gen + p.poc_validation_delay();
  int64_t end_val = start_val + p.poc_validation_duration();
  int64_t set_new = end_val + p.set_new_validators_delay();
  auto at = [&](int64_t offset) { return epoch_index == 0 ? 0 : poc_start + offset; };
  w.BeginObject()
      .Key("epoch_index")
      .Uint(epoch_index)
      .Key("poc_start")
      .Int(at(0))
      .Key("poc_generation_wind_down")
      .Int(at(p.poc_stage_duration() * 8 / 10))
      .Key("poc_generation_end")
      .Int(at(end_gen))
      .Key("poc_exchange_deadline")
      .Int(at(end_gen + p.poc_exchange_duration()))
      .Key("poc_validation_start")
      .Int(at(start_val))
      .Key("poc_validation_wind_down")
      .Int(at(start_val + p.poc_validation_duration() * 8 / 10))
      .Key("poc_validation_end")
      .Int(at(end_val))
      .Key("set_new_validators")
      .Int(at(set_new))
      .Key("claim_money")
      .Int(at(set_new + 1))
      .Key("next_poc_start")
      .Int(NextPocStart(epoch_index, poc_start, p))
      .EndObject();
}

// Gonka's GetCurrentPhase for `height` in the epoch anchored at `poc_start`.
std::string PhaseAt(uint64_t epoch_index, int64_t poc_start, const ipb::EpochParams& p,
                    int64_t height) {
  if (epoch_index == 0 || height < poc_start) return "Inference";
  int64_t o = height - poc_start;
  int64_t wind_down = p.poc_stage_duration() * 8 / 10;
  int64_t start_val = p.poc_stage_duration() + p.poc_validation_delay();
  int64_t val_wind_down = start_val + p.poc_validation_duration() * 8 / 10;
  int64_t end_val = start_val + p.poc_validation_duration();
  if (o < wind_down) return "PoCGenerate";
  if (o < start_val) return "PoCGenerateWindDown";
  if (o < val_wind_down) return "PoCValidate";
  if (o < end_val) return "PoCValidateWindDown";
  return "Inference";
}

// The parent epoch group at `height` and each model's sub-group (skipping models whose
// sub-group is absent, as Gonka's handler does), all pinned to `height`.
struct EpochModels {
  ipb::EpochGroupData parent;
  std::vector<ipb::EpochGroupData> models;
};

absl::StatusOr<EpochModels> FetchEpochModels(chain::InferenceQueryClient* chain, int64_t height) {
  EpochModels out;
  ASSIGN_OR_RETURN(ipb::QueryCurrentEpochGroupDataResponse current,
                   chain->CurrentEpochGroupData(height));
  out.parent = current.epoch_group_data();
  for (const std::string& model_id : out.parent.sub_group_models()) {
    absl::StatusOr<ipb::QueryGetEpochGroupDataResponse> group =
        chain->EpochGroupData(out.parent.epoch_index(), model_id, height);
    if (!group.ok()) {
      if (SkippableModelError(group.status())) continue;
      return group.status();
    }
    out.models.push_back(group->epoch_group_data());
  }
  return out;
}

}  // namespace

int HttpStatusForError(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kInvalidArgument:
      return 400;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kResourceExhausted:
      return 429;
    case absl::StatusCode::kUnavailable:
      return 503;
    default:
      return 500;
  }
}

ChainRoutes::ChainRoutes(ChainCache* cache, chain::InferenceQueryClient* chain,
                         ChainRoutesOptions options)
    : cache_(cache), chain_(chain), options_(std::move(options)) {}

absl::Status ChainRoutes::Register() {
  chain::InferenceQueryClient* chain = chain_;
  const uint64_t page_limit = options_.participants_page_limit;

  // /v1/models: {"object":"list","data":[{object,id,name,created,input_modalities,
  // output_modalities,context_length,max_output_length,hugging_face_id?}]}. Gonka prints
  // `created` as the request time; here it is the fetch time, so the body (and its ETag) stays
  // the same for as long as the entry is valid.
  RETURN_IF_ERROR(cache_->AddRoute(
      {"models", Freshness::kEpoch,
       [chain](const Query&, int64_t height) -> absl::StatusOr<std::string> {
         ASSIGN_OR_RETURN(EpochModels epoch, FetchEpochModels(chain, height));
         const int64_t created = absl::ToUnixSeconds(absl::Now());
         JsonWriter w;
         w.BeginObject().Key("object").String("list").Key("data").BeginArray();
         for (const ipb::EpochGroupData& group : epoch.models) {
           const ipb::Model& model = group.model_snapshot();
           const std::string& id = model.id().empty() ? group.model_id() : model.id();
           w.BeginObject()
               .Key("object")
               .String("model")
               .Key("id")
               .String(id)
               .Key("name")
               .String(id)
               .Key("created")
               .Int(created)
               .Key("input_modalities")
               .BeginArray()
               .String("text")
               .EndArray()
               .Key("output_modalities")
               .BeginArray()
               .String("text")
               .EndArray()
               .Key("context_length")
               .Uint(model.context_window())
               .Key("max_output_length")
               .Uint(model.context_window());
           if (!model.hf_repo().empty()) w.Key("hugging_face_id").String(model.hf_repo());
           w.EndObject();
         }
         w.EndArray().EndObject();
         return w.Take();
       }}));

  // /v1/pricing: {unit_of_compute_price, models:[{id, units_of_compute_per_token,
  // price_per_token}], dynamic_pricing_enabled:false}.
  RETURN_IF_ERROR(cache_->AddRoute(
      {"pricing", Freshness::kEpoch,
       [chain](const Query&, int64_t height) -> absl::StatusOr<std::string> {
         ASSIGN_OR_RETURN(EpochModels epoch, FetchEpochModels(chain, height));
         const int64_t price = epoch.parent.unit_of_compute_price();
         JsonWriter w;
         w.BeginObject().Key("unit_of_compute_price").Int(price).Key("models").BeginArray();
         for (const ipb::EpochGroupData& group : epoch.models) {
           const ipb::Model& model = group.model_snapshot();
           const uint64_t per_token = model.units_of_compute_per_token();
           w.BeginObject()
               .Key("id")
               .String(model.id().empty() ? group.model_id() : model.id())
               .Key("units_of_compute_per_token")
               .Uint(per_token)
               .Key("price_per_token")
               .Int(static_cast<int64_t>(per_token) * price)
               .EndObject();
         }
         w.EndArray().Key("dynamic_pricing_enabled").Bool(false).EndObject();
         return w.Take();
       }}));

  // /v1/governance/models: {"models":[Model…]}; -legacy: {"model":[Model…]} (ModelsAll's own
  // field name).
  for (bool legacy : {false, true}) {
    RETURN_IF_ERROR(cache_->AddRoute(
        {legacy ? "governance_models_legacy" : "governance_models", Freshness::kBlock,
         [chain, legacy](const Query&, int64_t height) -> absl::StatusOr<std::string> {
           ASSIGN_OR_RETURN(ipb::QueryModelsAllResponse all, chain->ModelsAll(height));
           JsonWriter w;
           w.BeginObject().Key(legacy ? "model" : "models").BeginArray();
           for (const ipb::Model& model : all.model()) {
             ASSIGN_OR_RETURN(std::string json, ProtoJson(model));
             w.Raw(json);
           }
           w.EndArray().EndObject();
           return w.Take();
         }}));
  }

  // /v1/participants: every page pinned to the same height; {"participants":[{id,url,
  // coins_owed,refunds_owed,balance,voting_power,reputation}],"block_height":N}.
  RETURN_IF_ERROR(cache_->AddRoute(
      {"participants", Freshness::kBlock,
       [chain, page_limit](const Query&, int64_t height) -> absl::StatusOr<std::string> {
         ::cosmos::base::query::v1beta1::PageRequest page;
         page.set_limit(page_limit);
         JsonWriter w;
         w.BeginObject().Key("participants").BeginArray();
         int64_t block_height = 0;
         for (int pages = 0;; ++pages) {
           ASSIGN_OR_RETURN(ipb::QueryParticipantsWithBalancesResponse answer,
                            chain->ParticipantsWithBalances(page, height));
           if (pages == 0) block_height = answer.block_height() ? answer.block_height() : height;
           for (const ipb::ParticipantWithBalance& entry : answer.participants()) {
             const ipb::Participant& p = entry.participant();
             int64_t balance = 0;
             for (const auto& coin : entry.balances()) {
               if (coin.denom() == "ngonka" && !absl::SimpleAtoi(coin.amount(), &balance)) {
                 return absl::InternalError(absl::StrCat("participant ", p.address(),
                                                         ": balance \"", coin.amount(),
                                                         "\" is not an integer"));
               }
             }
             w.BeginObject()
                 .Key("id")
                 .String(p.address().empty() ? p.index() : p.address())
                 .Key("url")
                 .String(p.inference_url())
                 .Key("coins_owed")
                 .Int(p.coin_balance())
                 .Key("refunds_owed")
                 .Int(0)
                 .Key("balance")
                 .Int(balance)
                 .Key("voting_power")
                 .Int(p.weight())
                 .Key("reputation")
                 .Int(0)
                 .EndObject();
           }
           if (answer.pagination().next_key().empty()) break;
           if (pages > 100000) {
             return absl::InternalError("ParticipantsWithBalances: more than 100000 pages");
           }
           page.set_key(answer.pagination().next_key());
         }
         w.EndArray().Key("block_height").Int(block_height).EndObject();
         return w.Take();
       }}));

  // /v1/participants/{address}: {pubkey, balance, denom}; NotFound → 404.
  RETURN_IF_ERROR(
      cache_->AddRoute({"account", Freshness::kBlock,
                        [chain](const Query& q, int64_t height) -> absl::StatusOr<std::string> {
                          ASSIGN_OR_RETURN(ipb::QueryAccountByAddressResponse account,
                                           chain->AccountByAddress(q.key, height));
                          JsonWriter w;
                          w.BeginObject()
                              .Key("pubkey")
                              .String(account.pubkey())
                              .Key("balance")
                              .Int(account.balance())
                              .Key("denom")
                              .String(account.denom())
                              .EndObject();
                          return w.Take();
                        }}));

  // /v1/epochs/latest: EpochInfo plus the phase and stages Gonka's handler computes from the
  // EpochContext (latest epoch, its PoC start, the params).
  RETURN_IF_ERROR(cache_->AddRoute(
      {"epoch_info", Freshness::kBlock,
       [chain](const Query&, int64_t height) -> absl::StatusOr<std::string> {
         ASSIGN_OR_RETURN(ipb::QueryEpochInfoResponse info, chain->EpochInfo(height));
         const ipb::EpochParams& params = info.params().epoch_params();
         const uint64_t index = info.latest_epoch().index();
         const int64_t poc_start = info.latest_epoch().poc_start_block_height();
         const int64_t block_height = info.block_height() ? info.block_height() : height;
         ASSIGN_OR_RETURN(std::string params_json, ProtoJson(info.params()));
         JsonWriter w;
         w.BeginObject()
             .Key("block_height")
             .Int(block_height)
             .Key("latest_epoch")
             .BeginObject()
             .Key("index")
             .Uint(index)
             .Key("poc_start_block_height")
             .Int(poc_start)
             .EndObject()
             .Key("phase")
             .String(PhaseAt(index, poc_start, params, block_height))
             .Key("epoch_stages");
         WriteStages(w, index, poc_start, params);
         w.Key("next_epoch_stages");
         WriteStages(w, index + 1, NextPocStart(index, poc_start, params), params);
         w.Key("epoch_params")
             .Raw(params_json)
             .Key("is_confirmation_poc_active")
             .Bool(info.is_confirmation_poc_active())
             .Key("active_confirmation_poc_event")
             .Null()
             .EndObject();
         return w.Take();
       }}));

  // /v1/poc-batches/{height}: the raw QueryPocBatchesForStageResponse; 404 when empty.
  RETURN_IF_ERROR(cache_->AddRoute(
      {"poc_batches", Freshness::kPhase,
       [chain](const Query& q, int64_t height) -> absl::StatusOr<std::string> {
         int64_t stage_height = 0;
         if (!absl::SimpleAtoi(q.key, &stage_height)) {
           return absl::InvalidArgumentError(absl::StrCat("invalid height \"", q.key, "\""));
         }
         ASSIGN_OR_RETURN(ipb::QueryPocBatchesForStageResponse batches,
                          chain->PocBatchesForStage(stage_height, height));
         if (batches.poc_batch_size() == 0) {
           return absl::NotFoundError(
               absl::StrCat("no PoC batches for stage height ", stage_height));
         }
         return ProtoJson(batches);
       }}));

  // /v1/bridge/addresses?chain=X: {chain_name, chain_id, addresses[]}.
  RETURN_IF_ERROR(
      cache_->AddRoute({"bridge_addresses", Freshness::kBlock,
                        [chain](const Query& q, int64_t height) -> absl::StatusOr<std::string> {
                          ASSIGN_OR_RETURN(ipb::QueryBridgeAddressesByChainResponse answer,
                                           chain->BridgeAddressesByChain(q.key, height));
                          JsonWriter w;
                          w.BeginObject()
                              .Key("chain_name")
                              .String(q.key)
                              .Key("chain_id")
                              .String(q.key)
                              .Key("addresses")
                              .BeginArray();
                          for (const auto& address : answer.addresses())
                            w.String(address.address());
                          w.EndArray().EndObject();
                          return w.Take();
                        }}));
  return absl::OkStatus();
}

net::HttpResponse ChainRoutes::ServeCached(const net::HttpRequest& request, const Query& query) {
  absl::StatusOr<Snapshot> snapshot = cache_->Begin();
  if (!snapshot.ok()) return ErrorResponse(snapshot.status());
  absl::StatusOr<CachedResponse> answer = snapshot->Get(query);
  if (!answer.ok()) return ErrorResponse(answer.status());
  return HttpResponseFor(request, *answer, options_.block_max_age);
}

net::HttpResponse ChainRoutes::ServeEpochs(const net::HttpRequest& request) {
  absl::string_view rest = request.path;
  if (!absl::ConsumePrefix(&rest, "/v1/epochs/")) return BadRequest("invalid epoch path");
  if (rest == "latest") return ServeCached(request, {"epoch_info", ""});
  if (absl::EndsWith(rest, "/participants")) {
    JsonWriter w;
    w.BeginObject()
        .Key("error")
        .String("/v1/epochs/{epoch}/participants is not served by this edge-api")
        .EndObject();
    return net::HttpResponse::Json(501, w.Take());
  }
  // Gonka's epoch handler answers only "latest".
  return BadRequest(absl::StrCat("unsupported epoch \"", rest, "\": only \"latest\""));
}

net::HttpResponse ChainRoutes::ServeStats() {
  CacheStats stats = cache_->Stats();
  JsonWriter w;
  w.BeginObject()
      .Key("bytes")
      .Uint(stats.bytes)
      .Key("max_bytes")
      .Uint(stats.max_bytes)
      .Key("entries")
      .Uint(stats.entries)
      .Key("height")
      .Int(stats.height)
      .Key("phase_start")
      .Int(stats.phase_start)
      .Key("epoch_start")
      .Int(stats.epoch_start)
      .Key("redis_errors")
      .Uint(stats.redis_errors)
      .Key("routes")
      .BeginArray();
  for (const RouteStats& r : stats.routes) {
    w.BeginObject()
        .Key("route")
        .String(r.route)
        .Key("freshness")
        .String(FreshnessName(r.freshness))
        .Key("hits")
        .Uint(r.hits)
        .Key("shared_hits")
        .Uint(r.shared_hits)
        .Key("misses")
        .Uint(r.misses)
        .Key("collapsed")
        .Uint(r.collapsed)
        .Key("stale")
        .Uint(r.stale)
        .Key("errors")
        .Uint(r.errors)
        .Key("evictions")
        .Uint(r.evictions)
        .Key("upstream_calls")
        .Uint(r.upstream_calls)
        .Key("upstream_errors")
        .Uint(r.upstream_errors)
        .Key("upstream_seconds")
        .Raw(absl::StrCat(absl::ToDoubleSeconds(r.upstream_time)))
        .EndObject();
  }
  w.EndArray().EndObject();
  net::HttpResponse response = net::HttpResponse::Json(200, w.Take());
  response.headers.Set("Cache-Control", "no-store");
  return response;
}

net::HttpResponse ChainRoutes::Serve(const net::HttpRequest& request) {
  absl::string_view path = request.path;
  if (path == "/v1/status" && options_.serve_status) {
    return net::HttpResponse::Json(200, "{\"status\":\"ok\"}");
  }
  if (path == "/v1/models") return ServeCached(request, {"models", ""});
  if (path == "/v1/pricing") return ServeCached(request, {"pricing", ""});
  if (path == "/v1/governance/models") return ServeCached(request, {"governance_models", ""});
  if (path == "/v1/governance/models-legacy") {
    return ServeCached(request, {"governance_models_legacy", ""});
  }
  if (path == "/v1/participants") return ServeCached(request, {"participants", ""});
  if (path == "/v1/cache/stats") return ServeStats();
  if (path == "/v1/bridge/addresses") {
    std::optional<std::string> chain = request.QueryParam("chain");
    if (!chain.has_value() || chain->empty()) return BadRequest("missing query parameter chain");
    return ServeCached(request, {"bridge_addresses", *chain});
  }
  if (absl::StartsWith(path, "/v1/epochs/")) return ServeEpochs(request);
  absl::string_view rest = path;
  if (absl::ConsumePrefix(&rest, "/v1/participants/")) {
    if (rest.empty() || absl::StrContains(rest, '/')) return BadRequest("invalid address");
    return ServeCached(request, {"account", std::string(rest)});
  }
  if (absl::ConsumePrefix(&rest, "/v1/poc-batches/")) {
    int64_t height = 0;
    if (!absl::SimpleAtoi(rest, &height)) {
      return BadRequest(absl::StrCat("invalid height \"", rest, "\""));
    }
    return ServeCached(request, {"poc_batches", absl::StrCat(height)});
  }
  return ErrorResponse(absl::NotFoundError(absl::StrCat("no route ", path)));
}

void ChainRoutes::AddRoutes(net::HttpServer* server) {
  auto serve = [this](const net::HttpRequest& request) { return Serve(request); };
  if (options_.serve_status) server->Handle("GET", "/v1/status", serve);
  for (const char* path :
       {"/v1/models", "/v1/pricing", "/v1/governance/models", "/v1/governance/models-legacy",
        "/v1/participants", "/v1/participants/*", "/v1/epochs/*", "/v1/poc-batches/*",
        "/v1/bridge/addresses", "/v1/cache/stats"}) {
    server->Handle("GET", path, serve);
  }
}

std::optional<chain::EpochParams> ChainEpochParams(chain::InferenceQueryClient& probe,
                                                   const chain::EpochParams& fallback) {
  absl::StatusOr<inference::inference::QueryParamsResponse> params = probe.Params();
  if (params.ok() && params->params().epoch_params().epoch_length() > 0) {
    const auto& p = params->params().epoch_params();
    return chain::EpochParams{.epoch_length = p.epoch_length(),
                              .epoch_shift = p.epoch_shift(),
                              .poc_stage_duration = p.poc_stage_duration(),
                              .poc_exchange_duration = p.poc_exchange_duration(),
                              .poc_validation_delay = p.poc_validation_delay(),
                              .poc_validation_duration = p.poc_validation_duration(),
                              .set_new_validators_delay = p.set_new_validators_delay()};
  }
  const std::string error = params.ok() ? "no epoch_length" : params.status().ToString();
  if (fallback.epoch_length > 0) {
    GONKA_LOG_WARN("chain Params unavailable: cache boundaries from --epoch-length",
                   {"error", error});
    return fallback;
  }
  GONKA_LOG_WARN("no epoch parameters: phase/epoch cache entries live at most 30 s",
                 {"error", error});
  return std::nullopt;
}

}  // namespace cache
}  // namespace gonka
