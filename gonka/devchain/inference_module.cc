#include "gonka/devchain/inference_module.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <sstream>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gonka/chain/epoch.h"
#include "gonka/cosmos/tx_builder.h"
#include "gonka/crypto/bech32.h"
#include "gonka/crypto/hash.h"
#include "gonka/proto/inference/bls/query.pb.h"
#include "gonka/proto/inference/restrictions/query.pb.h"
#include "simdjson.h"

namespace gonka {
namespace devchain {
namespace {

namespace ipb = ::inference::inference;
namespace rpb = ::inference::restrictions;
namespace bpb = ::inference::bls;
using QueryResult = TxExecutor::QueryResult;

// Gonka's base coin (x/inference types.BaseCoin).
constexpr char kBaseDenom[] = "ngonka";
// query.CollectionPaginate's default page size (Cosmos SDK types/query: DefaultLimit).
constexpr uint64_t kDefaultPageLimit = 100;

// The SDK's gRPCErrorToSDKError over ABCI: NotFound → sdk 22 (ErrKeyNotFound), InvalidArgument →
// sdk 18 (ErrInvalidRequest); the wrapped message ends with the sdk error's text.
QueryResult NotFound(absl::string_view message) {
  return {22, "sdk", absl::StrCat(message, ": key not found"), ""};
}
QueryResult InvalidArgument(absl::string_view message) {
  return {18, "sdk", absl::StrCat(message, ": invalid request"), ""};
}
QueryResult Answer(const google::protobuf::Message& response) {
  return {0, "", "", cosmos::SerializeDeterministic(response)};
}

template <typename Request>
bool Decode(absl::string_view data, Request* request) {
  return request->ParseFromArray(data.data(), static_cast<int>(data.size()));
}

template <typename Message>
absl::Status ParseArray(const simdjson::dom::element& root, const char* name,
                        std::vector<Message>* out) {
  simdjson::dom::array items;
  if (root[name].get(items) != simdjson::SUCCESS) return absl::OkStatus();
  size_t i = 0;
  for (simdjson::dom::element item : items) {
    Message message;
    std::string text = simdjson::minify(item);
    auto status = google::protobuf::util::JsonStringToMessage(text, &message);
    if (!status.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("genesis inference.", name, "[", i, "]: ", std::string(status.message())));
    }
    out->push_back(std::move(message));
    ++i;
  }
  return absl::OkStatus();
}

// One protobuf-JSON object `root[name]` into `out` (absent = left as is).
absl::Status ParseObject(const simdjson::dom::element& root, const char* name,
                         google::protobuf::Message* out) {
  simdjson::dom::object object;
  if (root[name].get(object) != simdjson::SUCCESS) return absl::OkStatus();
  auto status = google::protobuf::util::JsonStringToMessage(simdjson::minify(object), out);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("genesis inference.", name, ": ", std::string(status.message())));
  }
  return absl::OkStatus();
}

// A cosmos LegacyDec written as a decimal ("0.5") to its wire form, the integer of value·10^18
// ("500000000000000000"); an integer is taken as already in wire form.
absl::StatusOr<std::string> LegacyDecWire(absl::string_view text) {
  constexpr size_t kPrecision = 18;
  size_t dot = text.find('.');
  absl::string_view whole = text.substr(0, dot);
  absl::string_view fraction = dot == absl::string_view::npos ? "" : text.substr(dot + 1);
  if (dot == absl::string_view::npos) return std::string(text.empty() ? "0" : text);
  if (fraction.size() > kPrecision) return absl::InvalidArgumentError("more than 18 decimals");
  std::string digits =
      absl::StrCat(whole, fraction, std::string(kPrecision - fraction.size(), '0'));
  for (char c : digits) {
    if (c < '0' || c > '9') return absl::InvalidArgumentError("not a decimal");
  }
  size_t first = digits.find_first_not_of('0');
  return first == std::string::npos ? std::string("0") : digits.substr(first);
}

}  // namespace

std::string ActiveParticipantsKey(uint64_t epoch) {
  std::string key = "ActiveParticipants/value/";
  for (int shift = 56; shift >= 0; shift -= 8) {
    key.push_back(static_cast<char>((epoch >> shift) & 0xff));
  }
  key.push_back('/');
  return key;
}

absl::StatusOr<InferenceGenesis> ParseInferenceGenesis(absl::string_view json) {
  InferenceGenesis genesis;
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (auto e = parser.parse(json.data(), json.size()).get(root); e) {
    return absl::InvalidArgumentError(
        absl::StrCat("genesis inference: not valid JSON: ", simdjson::error_message(e)));
  }
  simdjson::dom::element price;
  if (root["unit_of_compute_price"].get(price) == simdjson::SUCCESS) {
    std::string_view text;
    int64_t number;
    if (price.get_string().get(text) == simdjson::SUCCESS) {
      if (!absl::SimpleAtoi(absl::string_view(text.data(), text.size()),
                            &genesis.unit_of_compute_price)) {
        return absl::InvalidArgumentError(
            absl::StrCat("genesis inference.unit_of_compute_price: not an integer: \"",
                         std::string(text), "\""));
      }
    } else if (price.get_int64().get(number) == simdjson::SUCCESS) {
      genesis.unit_of_compute_price = number;
    } else {
      return absl::InvalidArgumentError(
          "genesis inference.unit_of_compute_price: must be an integer");
    }
  }
  if (absl::Status s = ParseArray(root, "models", &genesis.models); !s.ok()) return s;
  if (absl::Status s = ParseArray(root, "participants", &genesis.participants); !s.ok()) return s;
  if (absl::Status s = ParseArray(root, "bridge_addresses", &genesis.bridge_addresses); !s.ok()) {
    return s;
  }
  if (absl::Status s = ParseArray(root, "excluded_participants", &genesis.excluded_participants);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = ParseArray(root, "partial_upgrades", &genesis.partial_upgrades); !s.ok()) {
    return s;
  }
  if (absl::Status s = ParseObject(root, "restrictions", &genesis.restrictions); !s.ok()) return s;
  simdjson::dom::element bls;
  if (root["bls"].get(bls) == simdjson::SUCCESS) {
    if (absl::Status s = ParseArray(bls, "epochs", &genesis.bls_epochs); !s.ok()) return s;
    if (absl::Status s = ParseArray(bls, "signing_requests", &genesis.bls_signing_requests);
        !s.ok()) {
      return s;
    }
  }
  for (size_t i = 0; i < genesis.bls_epochs.size(); ++i) {
    if (genesis.bls_epochs[i].epoch_id() == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("genesis inference.bls.epochs[", i, "].epoch_id: must be >= 1"));
    }
    for (auto& participant : *genesis.bls_epochs[i].mutable_participants()) {
      absl::StatusOr<std::string> wire = LegacyDecWire(participant.percentage_weight());
      if (!wire.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("genesis inference.bls.epochs[", i, "].participants.percentage_weight \"",
                         participant.percentage_weight(), "\": ", wire.status().message()));
      }
      participant.set_percentage_weight(*wire);
    }
  }
  for (size_t i = 0; i < genesis.models.size(); ++i) {
    if (genesis.models[i].id().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("genesis inference.models[", i, "]: \"id\" is required"));
    }
  }
  for (size_t i = 0; i < genesis.participants.size(); ++i) {
    ipb::Participant& p = genesis.participants[i];
    if (absl::Status s = crypto::DecodeAddress(p.address(), "").status(); !s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("genesis inference.participants[", i, "].address: ", s.message()));
    }
    if (p.weight() < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("genesis inference.participants[", i, "].weight: must be >= 0"));
    }
  }
  // Gonka keys participants by address; pages are in that order.
  std::sort(genesis.participants.begin(), genesis.participants.end(),
            [](const ipb::Participant& a, const ipb::Participant& b) {
              return a.address() < b.address();
            });
  return genesis;
}

InferenceModule::InferenceModule(InferenceGenesis genesis, EpochParams schedule)
    : genesis_(std::move(genesis)), schedule_(schedule) {
  for (const auto& upgrade : genesis_.partial_upgrades) partial_upgrades_.emplace_back(0, upgrade);
}

bool InferenceModule::Handles(absl::string_view path) {
  return absl::StartsWith(path, kInferenceQueryPrefix) ||
         absl::StartsWith(path, kRestrictionsQueryPrefix) ||
         absl::StartsWith(path, kBlsQueryPrefix) || path == kInferenceStorePath ||
         path == absl::StrCat("/", kInferenceStorePath);
}

int64_t InferenceModule::ActiveParticipantsHeight(uint64_t epoch) const {
  return EffectiveHeight(epoch) - schedule_.set_new_validators_delay;
}

std::optional<ipb::ActiveParticipants> InferenceModule::ActiveParticipantsAt(uint64_t epoch,
                                                                             int64_t height) const {
  if (epoch == 0 || schedule_.epoch_length <= 0) return std::nullopt;
  const int64_t written = ActiveParticipantsHeight(epoch);
  if (height < written) return std::nullopt;
  ipb::ActiveParticipants out;
  for (const auto& p : genesis_.participants) {
    ipb::ActiveParticipant* a = out.add_participants();
    a->set_index(p.address());
    a->set_validator_key(p.validator_key());
    a->set_weight(p.weight() + static_cast<int64_t>(epoch));
    a->set_inference_url(p.inference_url());
    for (const auto& m : genesis_.models) a->add_models(m.id());
    a->mutable_seed()->set_participant(p.address());
    a->mutable_seed()->set_epoch_index(epoch);
  }
  out.set_epoch_group_id(epoch + 1);
  out.set_poc_start_block_height(PocStartHeight(epoch));
  out.set_effective_block_height(written + 2);  // as Gonka's module.go sets it
  out.set_created_at_block_height(written);
  out.set_epoch_id(epoch);
  return out;
}

// A raw KV read: the value at `height`, an empty value (code 0) for a key that is not there,
// as IAVL answers. Only the ActiveParticipants keys exist in devchain's inference store.
TxExecutor::QueryResult InferenceModule::QueryStore(absl::string_view key, int64_t height) const {
  const std::string prefix = "ActiveParticipants/value/";
  if (key.size() == prefix.size() + 9 && absl::StartsWith(key, prefix) && key.back() == '/') {
    uint64_t epoch = 0;
    for (size_t i = 0; i < 8; ++i) {
      epoch = (epoch << 8) | static_cast<uint8_t>(key[prefix.size() + i]);
    }
    if (std::optional<ipb::ActiveParticipants> value = ActiveParticipantsAt(epoch, height)) {
      return Answer(*value);
    }
  }
  return {0, "", "", ""};
}

TxExecutor::QueryResult InferenceModule::QueryRestrictions(absl::string_view method,
                                                           absl::string_view data,
                                                           int64_t height) const {
  const rpb::Params& params = genesis_.restrictions;
  const uint64_t current = static_cast<uint64_t>(height);
  // Gonka's keeper pages these lists by offset/limit (default 100) and always answers a
  // PageResponse with the total; next_key is the marker "has_more" when more follow.
  auto page = [](const ::cosmos::base::query::v1beta1::PageRequest* request, size_t total,
                 size_t* begin, size_t* end, ::cosmos::base::query::v1beta1::PageResponse* out) {
    out->set_total(total);
    *begin = 0;
    *end = total;
    if (request == nullptr) return;
    uint64_t limit = request->limit() == 0 ? kDefaultPageLimit : request->limit();
    *begin = std::min<uint64_t>(request->offset(), total);
    *end = std::min<uint64_t>(*begin + limit, total);
    if (request->offset() + limit < total) out->set_next_key("has_more");
  };
  if (method == "TransferRestrictionStatus") {
    rpb::QueryTransferRestrictionStatusResponse response;
    const bool active = current < params.restriction_end_block();
    response.set_is_active(active);
    response.set_restriction_end_block(params.restriction_end_block());
    response.set_current_block_height(current);
    response.set_remaining_blocks(active ? params.restriction_end_block() - current : 0);
    return Answer(response);
  }
  if (method == "TransferExemptions") {
    rpb::QueryTransferExemptionsRequest request;
    if (!Decode(data, &request)) {
      return InvalidArgument("cannot decode QueryTransferExemptionsRequest");
    }
    std::vector<const rpb::EmergencyTransferExemption*> matching;
    for (const auto& e : params.emergency_transfer_exemptions()) {
      if (request.include_expired() || e.expiry_block() > current) matching.push_back(&e);
    }
    rpb::QueryTransferExemptionsResponse response;
    size_t begin = 0, end = 0;
    page(request.has_pagination() ? &request.pagination() : nullptr, matching.size(), &begin, &end,
         response.mutable_pagination());
    for (size_t i = begin; i < end; ++i) *response.add_exemptions() = *matching[i];
    return Answer(response);
  }
  if (method == "ExemptionUsage") {
    rpb::QueryExemptionUsageRequest request;
    if (!Decode(data, &request)) return InvalidArgument("cannot decode QueryExemptionUsageRequest");
    if (!request.account_address().empty() &&
        !crypto::DecodeAddress(request.account_address(), "").ok()) {
      return InvalidArgument(absl::StrCat("invalid account address: ", request.account_address()));
    }
    std::vector<const rpb::ExemptionUsage*> matching;
    for (const auto& u : params.exemption_usage_tracking()) {
      if (!request.exemption_id().empty() && u.exemption_id() != request.exemption_id()) continue;
      if (!request.account_address().empty() && u.account_address() != request.account_address()) {
        continue;
      }
      matching.push_back(&u);
    }
    rpb::QueryExemptionUsageResponse response;
    size_t begin = 0, end = 0;
    page(request.has_pagination() ? &request.pagination() : nullptr, matching.size(), &begin, &end,
         response.mutable_pagination());
    for (size_t i = begin; i < end; ++i) *response.add_usage_entries() = *matching[i];
    return Answer(response);
  }
  return {6, "sdk", absl::StrCat("unknown query path: ", kRestrictionsQueryPrefix, method), ""};
}

TxExecutor::QueryResult InferenceModule::QueryBls(absl::string_view method, absl::string_view data,
                                                  int64_t height) const {
  if (method == "EpochBLSData") {
    bpb::QueryEpochBLSDataRequest request;
    if (!Decode(data, &request)) return InvalidArgument("cannot decode QueryEpochBLSDataRequest");
    if (request.epoch_id() == 0) return InvalidArgument("epoch_id cannot be zero");
    for (const auto& epoch : genesis_.bls_epochs) {
      if (epoch.epoch_id() != request.epoch_id()) continue;
      if (schedule_.epoch_length > 0 && height < ActiveParticipantsHeight(epoch.epoch_id())) break;
      bpb::QueryEpochBLSDataResponse response;
      *response.mutable_epoch_data() = epoch;
      return Answer(response);
    }
    return NotFound(absl::StrCat("no DKG data found for epoch ", request.epoch_id()));
  }
  if (method == "SigningStatus") {
    bpb::QuerySigningStatusRequest request;
    if (!Decode(data, &request)) return InvalidArgument("cannot decode QuerySigningStatusRequest");
    if (request.request_id().empty()) return InvalidArgument("request_id cannot be empty");
    for (const auto& r : genesis_.bls_signing_requests) {
      if (r.request_id() != request.request_id() || height < r.created_block_height()) continue;
      bpb::QuerySigningStatusResponse response;
      *response.mutable_signing_request() = r;
      return Answer(response);
    }
    return NotFound("threshold signing request not found");
  }
  return {6, "sdk", absl::StrCat("unknown query path: ", kBlsQueryPrefix, method), ""};
}

uint64_t InferenceModule::LatestEpoch(int64_t height) const {
  return static_cast<uint64_t>(chain::LatestEpochAt(schedule_, height));
}

uint64_t InferenceModule::EffectiveEpoch(int64_t height) const {
  return static_cast<uint64_t>(chain::ScheduleAt(schedule_, height).epoch_index);
}

int64_t InferenceModule::PocStartHeight(uint64_t epoch) const {
  return chain::PocStartHeight(schedule_, static_cast<int64_t>(epoch));
}

int64_t InferenceModule::EffectiveHeight(uint64_t epoch) const {
  // Epoch 0 (genesis) holds from the first block; epoch e >= 1 from its SetNewValidators
  // height, the offset gonka/chain/epoch.cc derives.
  if (epoch == 0 || schedule_.epoch_length <= 0) return 1;
  return PocStartHeight(epoch) + schedule_.poc_stage_duration + schedule_.poc_validation_delay +
         schedule_.poc_validation_duration + schedule_.set_new_validators_delay;
}

absl::StatusOr<ipb::PartialUpgrade> InferenceModule::AddPartialUpgrade(
    ipb::PartialUpgrade upgrade) {
  if (upgrade.height() <= static_cast<uint64_t>(latest_height_)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "height: must be above the latest block ", latest_height_, ", got ", upgrade.height(),
        " (the chain deletes a partial upgrade whose height passed)"));
  }
  if (upgrade.name().empty()) {
    upgrade.set_name(absl::StrCat("PartialUpgrade at height ", upgrade.height(),
                                  " for node version ", upgrade.node_version()));
  }
  partial_upgrades_.emplace_back(latest_height_ + 1, upgrade);
  return upgrade;
}

std::vector<ipb::PartialUpgrade> InferenceModule::PartialUpgradesAt(int64_t height) const {
  // Keyed by height as Gonka's collections.Map[uint64]; the later write of a height wins. At
  // `height` the store holds what was written by then and not yet deleted: EndBlock of block b
  // deletes every entry below b.
  std::map<uint64_t, const ipb::PartialUpgrade*> store;
  for (const auto& [from, upgrade] : partial_upgrades_) {
    if (from <= height && static_cast<int64_t>(upgrade.height()) >= height) {
      store[upgrade.height()] = &upgrade;
    }
  }
  std::vector<ipb::PartialUpgrade> out;
  for (const auto& entry : store) out.push_back(*entry.second);
  return out;
}

void InferenceModule::OnCommit(int64_t height, const std::function<AccountMap()>& accounts) {
  latest_height_ = height;
  uint64_t epoch = EffectiveEpoch(height);
  if (height == 1 || epoch != EffectiveEpoch(height - 1)) snapshots_[epoch] = accounts();
}

const AccountMap& InferenceModule::AccountsAt(int64_t height, const AccountMap& live) const {
  uint64_t epoch = EffectiveEpoch(height);
  if (epoch == EffectiveEpoch(latest_height_)) return live;
  auto it = snapshots_.find(epoch);
  return it == snapshots_.end() ? live : it->second;
}

ipb::Params InferenceModule::MakeParams() const {
  ipb::Params params;
  ipb::EpochParams* e = params.mutable_epoch_params();
  e->set_epoch_length(schedule_.epoch_length);
  e->set_epoch_shift(schedule_.epoch_shift);
  e->set_epoch_multiplier(1);
  e->set_default_unit_of_compute_price(genesis_.unit_of_compute_price);
  e->set_poc_stage_duration(schedule_.poc_stage_duration);
  e->set_poc_exchange_duration(schedule_.poc_exchange_duration);
  e->set_poc_validation_delay(schedule_.poc_validation_delay);
  e->set_poc_validation_duration(schedule_.poc_validation_duration);
  e->set_set_new_validators_delay(schedule_.set_new_validators_delay);
  return params;
}

std::optional<ipb::EpochGroupData> InferenceModule::GroupData(uint64_t epoch,
                                                              absl::string_view model_id,
                                                              int64_t height) const {
  if (epoch > LatestEpoch(height)) return std::nullopt;
  const ipb::Model* model = nullptr;
  if (!model_id.empty()) {
    for (const auto& m : genesis_.models) {
      if (m.id() == model_id) model = &m;
    }
    if (!model) return std::nullopt;
  }
  ipb::EpochGroupData data;
  data.set_poc_start_block_height(static_cast<uint64_t>(PocStartHeight(epoch)));
  data.set_epoch_group_id(epoch + 1);
  data.set_effective_block_height(EffectiveHeight(epoch));
  // Set once the next epoch is effective at `height`.
  if (EffectiveEpoch(height) > epoch) data.set_last_block_height(EffectiveHeight(epoch + 1) - 1);
  data.set_unit_of_compute_price(genesis_.unit_of_compute_price);
  data.set_epoch_index(epoch);
  data.set_model_id(std::string(model_id));
  int64_t total = 0;
  for (const auto& p : genesis_.participants) {
    ipb::ValidationWeight* w = data.add_validation_weights();
    int64_t weight = p.weight() + static_cast<int64_t>(epoch);
    w->set_member_address(p.address());
    w->set_weight(weight);
    w->set_reputation(100);
    w->set_confirmation_weight(weight);
    if (model) w->set_voting_power(weight);
    total += weight;
  }
  data.set_total_weight(total);
  if (model) {
    *data.mutable_model_snapshot() = *model;
  } else {
    for (const auto& m : genesis_.models) data.add_sub_group_models(m.id());
  }
  return data;
}

TxExecutor::QueryResult InferenceModule::Query(absl::string_view path, absl::string_view data,
                                               int64_t height, const AccountMap& live) const {
  if (absl::EndsWith(path, kInferenceStorePath)) return QueryStore(data, height);
  if (absl::StartsWith(path, kRestrictionsQueryPrefix)) {
    return QueryRestrictions(path.substr(kRestrictionsQueryPrefix.size()), data, height);
  }
  if (absl::StartsWith(path, kBlsQueryPrefix)) {
    return QueryBls(path.substr(kBlsQueryPrefix.size()), data, height);
  }
  absl::string_view method = path.substr(std::min(path.size(), kInferenceQueryPrefix.size()));
  if (method == "Params") {
    ipb::QueryParamsResponse response;
    *response.mutable_params() = MakeParams();
    return Answer(response);
  }
  if (method == "EpochInfo") {
    ipb::QueryEpochInfoResponse response;
    response.set_block_height(height);
    *response.mutable_params() = MakeParams();
    uint64_t latest = LatestEpoch(height);
    ipb::Epoch* epoch = response.mutable_latest_epoch();
    epoch->set_index(latest);
    epoch->set_poc_start_block_height(PocStartHeight(latest));
    epoch->set_effective_block_height(EffectiveHeight(latest));
    return Answer(response);
  }
  if (method == "GetCurrentEpoch") {
    ipb::QueryGetCurrentEpochResponse response;
    response.set_epoch(EffectiveEpoch(height));
    return Answer(response);
  }
  if (method == "CurrentEpochGroupData") {
    ipb::QueryCurrentEpochGroupDataResponse response;
    *response.mutable_epoch_group_data() = *GroupData(EffectiveEpoch(height), "", height);
    return Answer(response);
  }
  if (method == "EpochGroupData") {
    ipb::QueryGetEpochGroupDataRequest request;
    if (!Decode(data, &request)) {
      return InvalidArgument("cannot decode QueryGetEpochGroupDataRequest");
    }
    std::optional<ipb::EpochGroupData> group =
        GroupData(request.epoch_index(), request.model_id(), height);
    if (!group) return NotFound("not found");
    ipb::QueryGetEpochGroupDataResponse response;
    *response.mutable_epoch_group_data() = *std::move(group);
    return Answer(response);
  }
  if (method == "ModelsAll") {
    // Gonka's keeper answers every governance model and ignores the page request.
    ipb::QueryModelsAllResponse response;
    for (const auto& m : genesis_.models) *response.add_model() = m;
    return Answer(response);
  }
  if (method == "ParticipantsWithBalances") {
    ipb::QueryParticipantsWithBalancesRequest request;
    if (!Decode(data, &request)) {
      return InvalidArgument("cannot decode QueryParticipantsWithBalancesRequest");
    }
    const auto& page = request.pagination();
    if (!page.key().empty() && page.offset() > 0) {
      return InvalidArgument("either offset or key is expected, got both");
    }
    uint64_t limit = page.limit() == 0 ? kDefaultPageLimit : page.limit();
    const auto& participants = genesis_.participants;
    // The page starts at `key` (the first address of the page, as next_key gave it) or at
    // `offset`.
    size_t begin = page.offset();
    if (!page.key().empty()) {
      begin = std::lower_bound(participants.begin(), participants.end(), page.key(),
                               [](const ipb::Participant& p, const std::string& key) {
                                 return p.address() < key;
                               }) -
              participants.begin();
    }
    begin = std::min(begin, participants.size());
    size_t end = begin + std::min<uint64_t>(limit, participants.size() - begin);
    const AccountMap& accounts = AccountsAt(height, live);
    uint64_t epoch = EffectiveEpoch(height);
    ipb::QueryParticipantsWithBalancesResponse response;
    for (size_t i = begin; i < end; ++i) {
      const ipb::Participant& genesis = participants[i];
      ipb::ParticipantWithBalance* out = response.add_participants();
      ipb::Participant* p = out->mutable_participant();
      p->set_index(genesis.address());
      p->set_address(genesis.address());
      p->set_weight(genesis.weight() + static_cast<int32_t>(epoch));
      p->set_join_height(1);
      p->set_inference_url(genesis.inference_url());
      p->set_status(ipb::ACTIVE);
      p->set_validator_key(genesis.validator_key());
      p->set_worker_public_key(genesis.worker_public_key());
      p->set_epochs_completed(static_cast<uint32_t>(epoch));
      auto account = accounts.find(genesis.address());
      if (account != accounts.end()) {
        for (const auto& [denom, amount] : account->second.balances) {  // sorted by denom
          if (amount == 0) continue;
          auto* coin = out->add_balances();
          coin->set_denom(denom);
          std::ostringstream decimal;  // absl::uint128 prints through operator<<
          decimal << amount;
          coin->set_amount(decimal.str());
        }
      }
    }
    if (end < participants.size()) {
      response.mutable_pagination()->set_next_key(participants[end].address());
    } else {
      response.mutable_pagination();
    }
    if (page.count_total() && page.key().empty()) {
      response.mutable_pagination()->set_total(participants.size());
    }
    response.set_block_height(height);
    return Answer(response);
  }
  if (method == "AccountByAddress") {
    ipb::QueryAccountByAddressRequest request;
    if (!Decode(data, &request) || !crypto::DecodeAddress(request.address(), "").ok()) {
      return InvalidArgument("invalid address");
    }
    const AccountMap& accounts = AccountsAt(height, live);
    auto account = accounts.find(request.address());
    if (account == accounts.end()) return NotFound("account not found");
    if (account->second.pub_key.empty()) return NotFound("public key is not available");
    ipb::QueryAccountByAddressResponse response;
    response.set_pubkey(absl::Base64Escape(account->second.pub_key));
    auto balance = account->second.balances.find(kBaseDenom);
    if (balance != account->second.balances.end()) {
      response.set_balance(static_cast<int64_t>(absl::Uint128Low64(balance->second)));
    }
    response.set_denom(kBaseDenom);
    return Answer(response);
  }
  if (method == "PocBatchesForStage") {
    ipb::QueryPocBatchesForStageRequest request;
    if (!Decode(data, &request)) {
      return InvalidArgument("cannot decode QueryPocBatchesForStageRequest");
    }
    ipb::QueryPocBatchesForStageResponse response;
    int64_t stage = request.block_height();
    const int64_t epoch_at_stage = chain::LatestEpochAt(schedule_, stage);
    // One batch per participant for each PoC stage that has started, received the block
    // after the stage start; nothing for any other height (Gonka answers an empty list).
    if (epoch_at_stage > 0 && chain::PocStartHeight(schedule_, epoch_at_stage) == stage &&
        height > stage) {
      uint64_t epoch = static_cast<uint64_t>(epoch_at_stage);
      const AccountMap& accounts = AccountsAt(height, live);
      for (const auto& p : genesis_.participants) {
        ipb::PoCBatchesWithParticipants* entry = response.add_poc_batch();
        entry->set_participant(p.address());
        auto account = accounts.find(p.address());
        if (account != accounts.end() && !account->second.pub_key.empty()) {
          entry->set_pub_key(absl::Base64Escape(account->second.pub_key));
          entry->set_hex_pub_key(crypto::HexEncode(account->second.pub_key));
        }
        ipb::PoCBatch* batch = entry->add_poc_batch();
        batch->set_participant_address(p.address());
        batch->set_poc_stage_start_block_height(stage);
        batch->set_received_at_block_height(stage + 1);
        int64_t nonces = std::min<int64_t>(p.weight() + static_cast<int64_t>(epoch), 16);
        for (int64_t n = 0; n < nonces; ++n) {
          batch->add_nonces(n);
          batch->add_dist(static_cast<double>(n + 1) / static_cast<double>(nonces + 1));
        }
        batch->set_batch_id(absl::StrCat(p.address(), "/", stage));
        batch->set_node_id("devchain-node");
      }
    }
    return Answer(response);
  }
  if (method == "BridgeAddressesByChain") {
    ipb::QueryBridgeAddressesByChainRequest request;
    if (!Decode(data, &request)) {
      return InvalidArgument("cannot decode QueryBridgeAddressesByChainRequest");
    }
    ipb::QueryBridgeAddressesByChainResponse response;
    for (const auto& a : genesis_.bridge_addresses) {
      if (a.chainid() == request.chain_id()) *response.add_addresses() = a;
    }
    return Answer(response);
  }
  if (method == "ExcludedParticipants") {
    ipb::QueryExcludedParticipantsRequest request;
    if (!Decode(data, &request)) {
      return InvalidArgument("cannot decode QueryExcludedParticipantsRequest");
    }
    uint64_t epoch = request.epoch_index() == 0 ? EffectiveEpoch(height) : request.epoch_index();
    ipb::QueryExcludedParticipantsResponse response;
    for (const auto& e : genesis_.excluded_participants) {
      if (e.epoch_index() != epoch) continue;
      uint64_t at = e.exclusion_block_height() != 0 ? e.exclusion_block_height()
                                                    : static_cast<uint64_t>(EffectiveHeight(epoch));
      if (static_cast<int64_t>(at) > height) continue;  // not excluded yet at `height`
      ipb::ExcludedParticipant* item = response.add_items();
      *item = e;
      item->set_exclusion_block_height(at);
    }
    return Answer(response);
  }
  if (method == "PartialUpgrade") {
    ipb::QueryGetPartialUpgradeRequest request;
    if (!Decode(data, &request)) {
      return InvalidArgument("cannot decode QueryGetPartialUpgradeRequest");
    }
    for (auto& upgrade : PartialUpgradesAt(height)) {
      if (upgrade.height() != request.height()) continue;
      ipb::QueryGetPartialUpgradeResponse response;
      *response.mutable_partialupgrade() = std::move(upgrade);
      return Answer(response);
    }
    return NotFound("not found");
  }
  if (method == "PartialUpgradeAll") {
    ipb::QueryAllPartialUpgradeRequest request;
    if (!Decode(data, &request)) {
      return InvalidArgument("cannot decode QueryAllPartialUpgradeRequest");
    }
    // query.CollectionPaginate over a Map[uint64]: keys are the heights as 8 big-endian bytes;
    // a page starts at `key` (inclusive) or `offset`, in ascending order (descending with
    // `reverse`); next_key is the key of the first entry after the page.
    const auto& page = request.pagination();
    if (!page.key().empty() && page.offset() > 0) {
      return InvalidArgument("either offset or key is expected, got both");
    }
    std::vector<ipb::PartialUpgrade> all = PartialUpgradesAt(height);
    if (page.reverse()) std::reverse(all.begin(), all.end());
    auto key_of = [](uint64_t h) {
      std::string key(8, '\0');
      for (int i = 7; i >= 0; --i, h >>= 8) key[i] = static_cast<char>(h & 0xff);
      return key;
    };
    size_t begin = std::min<uint64_t>(page.offset(), all.size());
    if (!page.key().empty()) {
      begin = 0;
      while (begin < all.size() && (page.reverse() ? key_of(all[begin].height()) > page.key()
                                                   : key_of(all[begin].height()) < page.key())) {
        ++begin;
      }
    }
    uint64_t limit = page.limit() == 0 ? kDefaultPageLimit : page.limit();
    size_t end = begin + std::min<uint64_t>(limit, all.size() - begin);
    ipb::QueryAllPartialUpgradeResponse response;
    for (size_t i = begin; i < end; ++i) *response.add_partialupgrade() = all[i];
    response.mutable_pagination();
    if (end < all.size()) response.mutable_pagination()->set_next_key(key_of(all[end].height()));
    if (page.count_total() && page.key().empty()) {
      response.mutable_pagination()->set_total(all.size());
    }
    return Answer(response);
  }
  return {6, "sdk", absl::StrCat("unknown query path: ", path), ""};
}

}  // namespace devchain
}  // namespace gonka
