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
#include "simdjson.h"

namespace gonka {
namespace devchain {
namespace {

namespace ipb = ::inference::inference;
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

}  // namespace

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
    : genesis_(std::move(genesis)), schedule_(schedule) {}

bool InferenceModule::Handles(absl::string_view path) {
  return absl::StartsWith(path, kInferenceQueryPrefix);
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
  return {6, "sdk", absl::StrCat("unknown query path: ", path), ""};
}

}  // namespace devchain
}  // namespace gonka
