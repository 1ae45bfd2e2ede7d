#include "gonka/cache/chain_routes.h"

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "gonka/base/json.h"
#include "gonka/base/log.h"
#include "gonka/base/status_macros.h"
#include "gonka/cache/proof_routes.h"
#include "gonka/cache/verify_routes.h"
#include "gonka/chain/inference_query_client.h"
#include "gonka/crypto/bech32.h"
#include "gonka/crypto/bls12381.h"
#include "gonka/crypto/hash.h"
#include "gonka/net/http_server.h"
#include "gonka/proto/cosmos/crypto/ed25519/keys.pb.h"
#include "gonka/proto/inference/inference/activeparticipants.pb.h"
#include "google/protobuf/util/json_util.h"

namespace gonka {
namespace cache {
namespace {

namespace ipb = ::inference::inference;
namespace rpb = ::inference::restrictions;
namespace bpb = ::inference::bls;
namespace cmtpb = ::cosmos::base::tendermint::v1beta1;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// Gonka's ActiveParticipantsFullKey(epoch) (x/inference/types/key_activeparticipants.go):
// "ActiveParticipants/value/", the epoch as 8 big-endian bytes, "/".
std::string ActiveParticipantsKey(uint64_t epoch) {
  std::string key = "ActiveParticipants/value/";
  for (int shift = 56; shift >= 0; shift -= 8) {
    key.push_back(static_cast<char>((epoch >> shift) & 0xff));
  }
  key.push_back('/');
  return key;
}

// Gonka's /v1/bls/* convenience fields: the uncompressed BLS12-381 point (G1 128 bytes, G2 256)
// as base64 (Go prints []byte so), or nothing when the compressed bytes have the wrong length or
// are not a point of the prime-order subgroup (Gonka's edge-api then prints null or leaves the
// field out: blst Uncompress + SigValidate(true)/KeyValidate, errors ignored).
std::optional<std::string> UncompressedBlsBase64(absl::string_view compressed, bool g2) {
  absl::StatusOr<std::string> raw =
      g2 ? crypto::DecompressBls12381G2(compressed) : crypto::DecompressBls12381G1(compressed);
  if (!raw.ok()) return std::nullopt;
  return absl::Base64Escape(*raw);
}

// Cosmos's ProtoMarshalJSON (the `protoToRawJSON` of Gonka's handlers): .proto field names and
// every field, defaults included (EmitDefaults); 64-bit integers as strings, bytes as base64,
// enums by name. (An unset message field is omitted here where Go prints null.)
absl::StatusOr<std::string> CosmosJson(const Message& message) {
  std::string json;
  google::protobuf::util::JsonPrintOptions print;
  print.preserve_proto_field_names = true;
  print.always_print_primitive_fields = true;
  auto printed = google::protobuf::util::MessageToJsonString(message, &json, print);
  if (!printed.ok()) {
    return absl::InternalError(absl::StrCat("cannot render ", message.GetTypeName(),
                                            " as JSON: ", std::string(printed.message())));
  }
  return json;
}

void WriteGoField(JsonWriter& w, const Message& m, const FieldDescriptor* f, int index);

// Go's encoding/json of a gogoproto struct (Gonka's restrictions handlers answer
// ctx.JSON(response)): every field tagged `json:"<proto name>,omitempty"`, so zero scalars,
// empty strings/bytes/lists and unset messages are left out; integers (64-bit too) are numbers,
// bytes base64, enums their number.
void WriteGoJson(JsonWriter& w, const Message& m) {
  const Reflection* r = m.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  r->ListFields(m, &fields);  // set (non-default) fields only, in field-number order
  w.BeginObject();
  for (const FieldDescriptor* f : fields) {
    w.Key(f->name());
    if (f->is_repeated()) {
      w.BeginArray();
      for (int i = 0; i < r->FieldSize(m, f); ++i) WriteGoField(w, m, f, i);
      w.EndArray();
    } else {
      WriteGoField(w, m, f, -1);
    }
  }
  w.EndObject();
}

void WriteGoField(JsonWriter& w, const Message& m, const FieldDescriptor* f, int i) {
  const Reflection* r = m.GetReflection();
  const bool rep = i >= 0;
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      w.Int(rep ? r->GetRepeatedInt32(m, f, i) : r->GetInt32(m, f));
      break;
    case FieldDescriptor::CPPTYPE_INT64:
      w.Int(rep ? r->GetRepeatedInt64(m, f, i) : r->GetInt64(m, f));
      break;
    case FieldDescriptor::CPPTYPE_UINT32:
      w.Uint(rep ? r->GetRepeatedUInt32(m, f, i) : r->GetUInt32(m, f));
      break;
    case FieldDescriptor::CPPTYPE_UINT64:
      w.Uint(rep ? r->GetRepeatedUInt64(m, f, i) : r->GetUInt64(m, f));
      break;
    case FieldDescriptor::CPPTYPE_BOOL:
      w.Bool(rep ? r->GetRepeatedBool(m, f, i) : r->GetBool(m, f));
      break;
    case FieldDescriptor::CPPTYPE_ENUM:
      w.Int(rep ? r->GetRepeatedEnumValue(m, f, i) : r->GetEnumValue(m, f));
      break;
    case FieldDescriptor::CPPTYPE_STRING: {
      std::string value = rep ? r->GetRepeatedString(m, f, i) : r->GetString(m, f);
      w.String(f->type() == FieldDescriptor::TYPE_BYTES ? absl::Base64Escape(value) : value);
      break;
    }
    case FieldDescriptor::CPPTYPE_MESSAGE:
      WriteGoJson(w, rep ? r->GetRepeatedMessage(m, f, i) : r->GetMessage(m, f));
      break;
    default:  // float/double: not in these messages
      w.Null();
  }
}

// A cosmos LegacyDec's wire form (the integer of value·10^18) as its JSON text, the decimal with
// 18 places ("500000000000000000" → "0.500000000000000000").
std::string LegacyDecText(absl::string_view wire) {
  constexpr size_t kPrecision = 18;
  bool negative = absl::ConsumePrefix(&wire, "-");
  std::string digits(wire.empty() ? "0" : wire);
  if (digits.size() <= kPrecision) {
    digits = std::string(kPrecision + 1 - digits.size(), '0') + digits;
  }
  return absl::StrCat(negative ? "-" : "", digits.substr(0, digits.size() - kPrecision), ".",
                      digits.substr(digits.size() - kPrecision));
}

// CometBFT's address of an Ed25519 consensus key: the first 20 bytes of its SHA-256, here in
// upper-case hex (Gonka's utils.ValidatorKeyToHexAddress). "" when `base64_key` is not base64 of
// 32 bytes.
std::string ValidatorHexAddress(absl::string_view base64_key) {
  std::string key;
  if (!absl::Base64Unescape(base64_key, &key) || key.size() != 32) return "";
  return absl::AsciiStrToUpper(
      crypto::HexEncode(crypto::AsStringView(crypto::Sha256(key)).substr(0, 20)));
}

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

// Gonka's GetEpochParticipants (common/queryapi/epoch.go) for `epoch` >= 1, the value query
// pinned to `height`: {active_participants, addresses, active_participants_bytes, [proof_ops],
// validators, [block], excluded_participants}.
absl::StatusOr<std::string> EpochParticipantsJson(chain::InferenceQueryClient* chain,
                                                  uint64_t epoch, int64_t height) {
  const std::string key = ActiveParticipantsKey(epoch);
  ASSIGN_OR_RETURN(cmtpb::ABCIQueryResponse value,
                   chain->ABCIQuery("store/inference/key", key, height, /*prove=*/false));
  if (value.code() != 0 || value.value().empty()) {
    return absl::NotFoundError("active participants not found for epoch");
  }
  ipb::ActiveParticipants active;
  if (!active.ParseFromString(value.value())) {
    return absl::InternalError(
        absl::StrCat("epoch ", epoch, ": the ActiveParticipants value does not decode"));
  }
  // The proof query, anchored at the creation height (the node answers proof_ops, devchain
  // included; without them the field is left out as Gonka leaves out a nil one).
  const int64_t created = active.created_at_block_height();
  ASSIGN_OR_RETURN(cmtpb::ABCIQueryResponse proved,
                   chain->ABCIQuery("store/inference/key", key, created, /*prove=*/true));
  if (proved.code() != 0) return absl::NotFoundError("active participants not found for epoch");
  // Block h+1 commits h's app hash; it may not exist yet for the newest epoch (non-fatal).
  absl::StatusOr<cmtpb::GetBlockByHeightResponse> block = chain->GetBlockByHeight(created + 1);
  cmtpb::GetValidatorSetByHeightResponse validators;
  if (created > 0) {  // CometBFT refuses heights <= 0; Gonka skips the call
    ASSIGN_OR_RETURN(validators, chain->GetValidatorSetByHeight(created));
  }
  ASSIGN_OR_RETURN(std::string active_json, CosmosJson(active));
  JsonWriter w;
  w.BeginObject().Key("active_participants").Raw(active_json).Key("addresses").BeginArray();
  for (const ipb::ActiveParticipant& p : active.participants()) {
    w.String(ValidatorHexAddress(p.validator_key()));
  }
  w.EndArray().Key("active_participants_bytes").String(crypto::HexEncode(proved.value()));
  if (proved.has_proof_ops() && proved.proof_ops().ops_size() > 0) {
    ASSIGN_OR_RETURN(std::string proof_json, CosmosJson(proved.proof_ops()));
    w.Key("proof_ops").Raw(proof_json);
  }
  // Validators as Gonka's legacy dapi shape: hex address, base64 key, numbers.
  w.Key("validators").BeginArray();
  for (const cmtpb::Validator& v : validators.validators()) {
    ::cosmos::crypto::ed25519::PubKey key;
    if (!key.ParseFromString(v.pub_key().value())) {
      return absl::InternalError(absl::StrCat("validator ", v.address(), ": missing pub_key"));
    }
    const std::string base64_key = absl::Base64Escape(key.key());
    w.BeginObject()
        .Key("address")
        .String(ValidatorHexAddress(base64_key))
        .Key("pub_key")
        .String(base64_key)
        .Key("voting_power")
        .Int(v.voting_power())
        .Key("proposer_priority")
        .Int(v.proposer_priority())
        .EndObject();
  }
  w.EndArray();
  if (block.ok() && block->has_sdk_block()) {
    ASSIGN_OR_RETURN(std::string block_json, CosmosJson(block->sdk_block()));
    w.Key("block").Raw(block_json);
  }
  // Excluded participants; an error answers [] (Gonka's handler logs it and goes on).
  w.Key("excluded_participants").BeginArray();
  absl::StatusOr<ipb::QueryExcludedParticipantsResponse> excluded =
      chain->ExcludedParticipants(epoch, height);
  if (excluded.ok()) {
    for (const ipb::ExcludedParticipant& e : excluded->items()) {
      w.BeginObject()
          .Key("address")
          .String(e.address())
          .Key("reason")
          .String(e.reason())
          .Key("exclusion_block_height")
          .Uint(e.exclusion_block_height())
          .EndObject();
    }
  }
  w.EndArray().EndObject();
  return w.Take();
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

  // /v1/restrictions/*: the raw responses as Go's encoding/json prints them (WriteGoJson).
  // Their bodies depend on the height (current_block_height, expiry) → kBlock.
  RETURN_IF_ERROR(
      cache_->AddRoute({"restrictions_status", Freshness::kBlock,
                        [chain](const Query&, int64_t height) -> absl::StatusOr<std::string> {
                          ASSIGN_OR_RETURN(rpb::QueryTransferRestrictionStatusResponse answer,
                                           chain->TransferRestrictionStatus(height));
                          JsonWriter w;
                          WriteGoJson(w, answer);
                          return w.Take();
                        }}));
  RETURN_IF_ERROR(
      cache_->AddRoute({"restrictions_exemptions", Freshness::kBlock,
                        [chain](const Query&, int64_t height) -> absl::StatusOr<std::string> {
                          ASSIGN_OR_RETURN(rpb::QueryTransferExemptionsResponse answer,
                                           chain->TransferExemptions(height));
                          JsonWriter w;
                          WriteGoJson(w, answer);
                          return w.Take();
                        }}));
  // Key: "<exemption id>/<account>" (neither may contain '/': both are path segments).
  RETURN_IF_ERROR(cache_->AddRoute(
      {"restrictions_usage", Freshness::kBlock,
       [chain](const Query& q, int64_t height) -> absl::StatusOr<std::string> {
         std::pair<std::string, std::string> parts = absl::StrSplit(q.key, absl::MaxSplits('/', 1));
         ASSIGN_OR_RETURN(rpb::QueryExemptionUsageResponse answer,
                          chain->ExemptionUsage(parts.first, parts.second, height));
         JsonWriter w;
         WriteGoJson(w, answer);
         return w.Take();
       }}));

  // /v1/bls/epoch/{id}: {epoch_data, group_public_key_uncompressed_256,
  // validation_signature_uncompressed_128}: the 96-byte G2 group key and the 48-byte G1
  // validation signature decompressed (gonka/crypto/bls12381.h), base64; null when absent or not
  // a valid subgroup point, as Gonka. DKG data changes during its phases (deadlines are block
  // heights, not PoC phases) → kBlock.
  RETURN_IF_ERROR(cache_->AddRoute(
      {"bls_epoch", Freshness::kBlock,
       [chain](const Query& q, int64_t height) -> absl::StatusOr<std::string> {
         uint64_t epoch_id = 0;
         if (!absl::SimpleAtoi(q.key, &epoch_id)) {
           return absl::InvalidArgumentError(absl::StrCat("invalid id \"", q.key, "\""));
         }
         ASSIGN_OR_RETURN(bpb::QueryEpochBLSDataResponse answer,
                          chain->EpochBLSData(epoch_id, height));
         bpb::EpochBLSData data = answer.epoch_data();
         for (auto& participant : *data.mutable_participants()) {
           participant.set_percentage_weight(LegacyDecText(participant.percentage_weight()));
         }
         ASSIGN_OR_RETURN(std::string data_json, CosmosJson(data));
         const std::optional<std::string> key_256 =
             UncompressedBlsBase64(data.group_public_key(), /*g2=*/true);
         const std::optional<std::string> signature_128 =
             UncompressedBlsBase64(data.validation_signature(), /*g2=*/false);
         JsonWriter w;
         w.BeginObject().Key("epoch_data").Raw(data_json);
         w.Key("group_public_key_uncompressed_256");
         if (key_256) {
           w.String(*key_256);
         } else {
           w.Null();
         }
         w.Key("validation_signature_uncompressed_128");
         if (signature_128) {
           w.String(*signature_128);
         } else {
           w.Null();
         }
         w.EndObject();
         return w.Take();
       }}));
  // /v1/bls/signatures/{request_id}: {signing_request, uncompressed_signature_128}, the latter
  // only for a COMPLETED request whose final_signature is a valid 48-byte G1 point (Gonka leaves
  // it out otherwise); NotFound → {} (Gonka's handler answers 200 with nothing set).
  RETURN_IF_ERROR(cache_->AddRoute(
      {"bls_signature", Freshness::kBlock,
       [chain](const Query& q, int64_t height) -> absl::StatusOr<std::string> {
         std::string request_id;  // the key is the id in lower-case hex (ServeCached below)
         RETURN_IF_ERROR(crypto::HexDecode(q.key, "request_id", &request_id));
         absl::StatusOr<bpb::QuerySigningStatusResponse> answer =
             chain->SigningStatus(request_id, height);
         if (answer.status().code() == absl::StatusCode::kNotFound) return std::string("{}");
         if (!answer.ok()) return answer.status();
         ASSIGN_OR_RETURN(std::string request_json, CosmosJson(answer->signing_request()));
         std::optional<std::string> signature_128;
         if (answer->signing_request().status() == bpb::THRESHOLD_SIGNING_STATUS_COMPLETED) {
           signature_128 =
               UncompressedBlsBase64(answer->signing_request().final_signature(), /*g2=*/false);
         }
         JsonWriter w;
         w.BeginObject().Key("signing_request").Raw(request_json);
         if (signature_128) w.Key("uncompressed_signature_128").String(*signature_128);
         w.EndObject();
         return w.Take();
       }}));

  // /v1/versions: {timestamp, api_version{application_name,version,commit},
  // node_version{application_name,version,commit}} from cmtservice GetNodeInfo (not pinnable to
  // a height; a node upgrade restarts it at any block → kBlock). `timestamp` is the fetch time,
  // as `created` in /v1/models.
  const ChainRoutesOptions options = options_;
  RETURN_IF_ERROR(cache_->AddRoute(
      {"versions", Freshness::kBlock,
       [chain, options](const Query&, int64_t) -> absl::StatusOr<std::string> {
         ASSIGN_OR_RETURN(cmtpb::GetNodeInfoResponse info, chain->GetNodeInfo());
         const cmtpb::VersionInfo& node = info.application_version();
         JsonWriter w;
         w.BeginObject()
             .Key("timestamp")
             .String(absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::Now(), absl::UTCTimeZone()))
             .Key("api_version")
             .BeginObject()
             .Key("application_name")
             .String(options.api_name)
             .Key("version")
             .String(options.api_version)
             .Key("commit")
             .String(options.api_commit)
             .EndObject()
             .Key("node_version")
             .BeginObject()
             .Key("application_name")
             .String(node.name())
             .Key("version")
             .String(node.version())
             .Key("commit")
             .String(node.git_commit())
             .EndObject()
             .EndObject();
         return w.Take();
       }}));

  // GetCurrentEpoch (the effective epoch): changes exactly at SetNewValidators, the cache's
  // epoch boundary → kEpoch. Resolves /v1/epochs/current/participants and picks the class below.
  RETURN_IF_ERROR(cache_->AddRoute(
      {"current_epoch", Freshness::kEpoch,
       [chain](const Query&, int64_t height) -> absl::StatusOr<std::string> {
         ASSIGN_OR_RETURN(ipb::QueryGetCurrentEpochResponse answer, chain->GetCurrentEpoch(height));
         return absl::StrCat(answer.epoch());
       }}));
  // /v1/epochs/{n}/participants. A finished epoch's answer (n below the effective epoch) is
  // immutable — its ActiveParticipants were written once, block h+1 and the validator set at h
  // are history, exclusions happen while the epoch runs — so it is kNever keyed by n; the
  // effective epoch's (exclusions may still come, block h+1 may not exist yet) is kBlock.
  for (bool finished : {true, false}) {
    RETURN_IF_ERROR(
        cache_->AddRoute({finished ? "epoch_participants" : "epoch_participants_live",
                          finished ? Freshness::kNever : Freshness::kBlock,
                          [chain](const Query& q, int64_t height) -> absl::StatusOr<std::string> {
                            uint64_t epoch = 0;
                            if (!absl::SimpleAtoi(q.key, &epoch)) {
                              return absl::InvalidArgumentError("Invalid epoch id");
                            }
                            return EpochParticipantsJson(chain, epoch, height);
                          }}));
  }
  return absl::OkStatus();
}

net::HttpResponse ChainRoutes::ServeCached(const net::HttpRequest& request, const Query& query,
                                           absl::string_view error_prefix) {
  absl::StatusOr<Snapshot> snapshot = cache_->Begin();
  if (!snapshot.ok()) return ErrorResponse(snapshot.status());
  absl::StatusOr<CachedResponse> answer = snapshot->Get(query);
  if (!answer.ok()) {
    // Gonka's BLS and versions handlers answer every upstream error 500 with their own text.
    if (!error_prefix.empty()) {
      return ErrorResponse(
          absl::InternalError(absl::StrCat(error_prefix, answer.status().message())));
    }
    return ErrorResponse(answer.status());
  }
  return HttpResponseFor(request, *answer, options_.block_max_age);
}

net::HttpResponse ChainRoutes::ServeEpochParticipants(const net::HttpRequest& request,
                                                      absl::string_view epoch_text) {
  // Gonka: "" or not a uint64 (and not "current") → 400 "Invalid epoch id"; 0 → 400.
  absl::StatusOr<Snapshot> snapshot = cache_->Begin();
  if (!snapshot.ok()) return ErrorResponse(snapshot.status());
  uint64_t epoch = 0;
  if (epoch_text != "current" && !absl::SimpleAtoi(epoch_text, &epoch)) {
    return BadRequest(absl::StrCat("Invalid epoch id \"", epoch_text, "\""));
  }
  // The effective epoch resolves "current" and picks the class. Gonka asks it only for
  // "current": when it fails, a numbered epoch is still answered, live (kBlock).
  absl::StatusOr<CachedResponse> current = snapshot->Get({"current_epoch", ""});
  uint64_t effective = 0;
  if (current.ok() && !absl::SimpleAtoi(current->body(), &effective)) {
    current = absl::InternalError("GetCurrentEpoch: not a number");
  }
  if (epoch_text == "current") {
    if (!current.ok()) return ErrorResponse(current.status());
    epoch = effective;
  } else if (!current.ok()) {
    effective = 0;  // every epoch counts as not finished
  }
  if (epoch == 0) return BadRequest("Epoch enumeration starts with 1");
  const char* route = epoch < effective ? "epoch_participants" : "epoch_participants_live";
  absl::StatusOr<CachedResponse> answer = snapshot->Get({route, absl::StrCat(epoch)});
  if (!answer.ok()) return ErrorResponse(answer.status());
  return HttpResponseFor(request, *answer, options_.block_max_age);
}

net::HttpResponse ChainRoutes::ServeEpochs(const net::HttpRequest& request) {
  absl::string_view rest = request.path;
  if (!absl::ConsumePrefix(&rest, "/v1/epochs/")) return BadRequest("invalid epoch path");
  if (rest == "latest") return ServeCached(request, {"epoch_info", ""});
  if (absl::ConsumeSuffix(&rest, "/participants") && !absl::StrContains(rest, '/')) {
    return ServeEpochParticipants(request, rest);
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
  if (path == "/v1/versions") {
    return ServeCached(request, {"versions", ""}, "failed to get node info: ");
  }
  if (path == "/v1/restrictions/status") return ServeCached(request, {"restrictions_status", ""});
  if (path == "/v1/restrictions/exemptions") {
    return ServeCached(request, {"restrictions_exemptions", ""});
  }
  if (absl::ConsumePrefix(&rest, "/v1/restrictions/exemptions/")) {
    std::vector<std::string> parts = absl::StrSplit(rest, '/');
    if (parts.size() != 3 || parts[1] != "usage" || parts[0].empty() || parts[2].empty()) {
      return ErrorResponse(absl::NotFoundError(absl::StrCat("no route ", path)));
    }
    return ServeCached(request, {"restrictions_usage", absl::StrCat(parts[0], "/", parts[2])});
  }
  if (absl::ConsumePrefix(&rest, "/v1/bls/epoch/") ||
      absl::ConsumePrefix(&rest, "/v1/bls/epochs/")) {
    uint64_t id = 0;
    if (!absl::SimpleAtoi(rest, &id)) {
      return BadRequest(absl::StrCat("Invalid format for parameter id: \"", rest, "\""));
    }
    return ServeCached(request, {"bls_epoch", absl::StrCat(id)},
                       "Failed to query BLS epoch data: ");
  }
  if (absl::ConsumePrefix(&rest, "/v1/bls/signatures/")) {
    std::string id;
    if (rest.empty() || !crypto::HexDecode(rest, "request_id", &id).ok()) {
      return BadRequest("Invalid request ID format (must be hex-encoded)");
    }
    return ServeCached(request, {"bls_signature", crypto::HexEncode(id)},
                       "Failed to query BLS signature data: ");
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

std::optional<Query> ChainRoutes::CachedQuery(const net::HttpRequest& request) const {
  absl::string_view path = request.path;
  if (path == "/v1/models") return Query{"models", ""};
  if (path == "/v1/pricing") return Query{"pricing", ""};
  if (path == "/v1/governance/models") return Query{"governance_models", ""};
  if (path == "/v1/governance/models-legacy") return Query{"governance_models_legacy", ""};
  if (path == "/v1/participants") return Query{"participants", ""};
  if (path == "/v1/epochs/latest") return Query{"epoch_info", ""};
  if (path == "/v1/bridge/addresses") {
    std::optional<std::string> chain = request.QueryParam("chain");
    if (!chain.has_value() || chain->empty()) return std::nullopt;
    return Query{"bridge_addresses", *std::move(chain)};
  }
  if (path == "/v1/versions") return Query{"versions", ""};
  if (path == "/v1/restrictions/status") return Query{"restrictions_status", ""};
  if (path == "/v1/restrictions/exemptions") return Query{"restrictions_exemptions", ""};
  // The keys exactly as Serve() builds them; anything it would refuse is left to Serve().
  absl::string_view rest = path;
  if (absl::ConsumePrefix(&rest, "/v1/bls/epoch/") ||
      absl::ConsumePrefix(&rest, "/v1/bls/epochs/")) {
    uint64_t id = 0;
    if (!absl::SimpleAtoi(rest, &id)) return std::nullopt;
    return Query{"bls_epoch", absl::StrCat(id)};
  }
  if (absl::ConsumePrefix(&rest, "/v1/bls/signatures/")) {
    std::string id;
    if (rest.empty() || !crypto::HexDecode(rest, "request_id", &id).ok()) return std::nullopt;
    return Query{"bls_signature", crypto::HexEncode(id)};
  }
  return std::nullopt;
}

std::optional<net::HttpResponse> ChainRoutes::ServeIfCached(const net::HttpRequest& request) {
  std::optional<Query> query = CachedQuery(request);
  if (!query.has_value()) return std::nullopt;
  std::optional<CachedResponse> hit = cache_->GetIfCached(*query);
  if (!hit.has_value()) return std::nullopt;
  return HttpResponseFor(request, *hit, options_.block_max_age);
}

std::shared_ptr<const net::PreparedResponse> ChainRoutes::PreparedIfCached(
    const net::HttpRequest& request) {
  if (request.headers.Has("If-None-Match")) return nullptr;
  std::optional<Query> query = CachedQuery(request);
  if (!query.has_value()) return nullptr;
  return cache_->PreparedIfCached(*query);
}

void ChainRoutes::AddRoutes(net::HttpServer* server) {
  auto serve = [this](const net::HttpRequest& request) { return Serve(request); };
  if (options_.serve_status) server->Handle("GET", "/v1/status", serve);
  // Hits are answered on the I/O thread; misses (which may wait for the chain) on the pool.
  net::HttpServer::RouteOptions cached;
  cached.prepared_handler = [this](const net::HttpRequest& request) {
    return PreparedIfCached(request);
  };
  cached.inline_handler = [this](const net::HttpRequest& request) {
    return ServeIfCached(request);
  };
  for (const char* path :
       {"/v1/models", "/v1/pricing", "/v1/governance/models", "/v1/governance/models-legacy",
        "/v1/participants", "/v1/participants/*", "/v1/epochs/*", "/v1/poc-batches/*",
        "/v1/bridge/addresses", "/v1/cache/stats", "/v1/versions", "/v1/restrictions/status",
        "/v1/restrictions/exemptions", "/v1/restrictions/exemptions/*", "/v1/bls/epoch/*",
        "/v1/bls/epochs/*", "/v1/bls/signatures/*"}) {
    server->Handle("GET", path, serve, cached);
  }
}

net::HttpResponse ServeOptionalRoute(const net::HttpRequest& request) {
  absl::string_view rest = request.path;
  if (absl::ConsumePrefix(&rest, "/v1/debug/pubkey-to-addr/")) {
    // Gonka's utils.PubKeyToAddress: base64 of the compressed key, the account address is
    // RIPEMD-160(SHA-256(key)) in bech32 with the "gonka" prefix.
    std::string key;
    if (!absl::Base64Unescape(rest, &key) || key.size() != 33) {
      return BadRequest("invalid pubkey: expected the base64 of a 33-byte compressed key");
    }
    const crypto::Ripemd160Digest hash = crypto::Hash160(key);
    absl::StatusOr<std::string> address = crypto::EncodeAddress(
        "gonka", absl::string_view(reinterpret_cast<const char*>(hash.data()), hash.size()));
    if (!address.ok()) return ErrorResponse(address.status());
    return net::HttpResponse::Text(200, *address);
  }
  const char* missing = "";
  if (request.path == "/v1/verify-proof") return ServeVerifyProof(request);
  if (request.path == "/v1/verify-block" || absl::StartsWith(request.path, "/v1/debug/verify/")) {
    missing = "the chain's CometBFT RPC (registered without a CometClient)";
  } else {
    return ErrorResponse(absl::NotFoundError(absl::StrCat("no route ", request.path)));
  }
  JsonWriter w;
  w.BeginObject()
      .Key("error")
      .String(absl::StrCat(request.path, " is not served by this edge-api: it needs ", missing,
                           ", which libgonka does not implement"))
      .EndObject();
  net::HttpResponse response = net::HttpResponse::Json(501, w.Take());
  response.headers.Set("Cache-Control", "no-store");
  return response;
}

void AddOptionalRoutes(net::HttpServer* server, chain::CometClient* comet) {
  server->Handle("GET", "/v1/debug/pubkey-to-addr/*", ServeOptionalRoute);
  server->Handle("POST", "/v1/verify-proof", ServeOptionalRoute);
  if (comet != nullptr) {
    AddVerifyRoutes(server, comet);  // POST /v1/verify-block, GET /v1/debug/verify/*
  } else {
    server->Handle("GET", "/v1/debug/verify/*", ServeOptionalRoute);
    server->Handle("POST", "/v1/verify-block", ServeOptionalRoute);
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
