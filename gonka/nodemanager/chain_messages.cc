#include "gonka/nodemanager/chain_messages.h"

#include <array>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gonka/base/status_macros.h"
#include "gonka/cosmos/tx_builder.h"
#include "gonka/crypto/bech32.h"
#include "gonka/crypto/hash.h"
#include "gonka/proto/inference/inference/tx.pb.h"

namespace gonka {
namespace nodemanager {
namespace {

namespace infpb = ::inference::inference;

absl::Status CheckAddress(absl::string_view field, absl::string_view address,
                          absl::string_view prefix) {
  absl::Status s = crypto::DecodeAddress(address, prefix).status();
  if (!s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " \"", address, "\" is not a ", prefix, " address: ", s.message()));
  }
  return absl::OkStatus();
}

absl::Status CheckAction(const Action& action, ActionKind want) {
  if (action.kind != want) {
    return absl::InvalidArgumentError(absl::StrCat("action ", action.idempotency_key, " is ",
                                                   ActionKindName(action.kind), ", not ",
                                                   ActionKindName(want)));
  }
  if (action.idempotency_key.empty() || action.idempotency_key.size() > txqueue::kMaxKeyLength) {
    return absl::InvalidArgumentError(absl::StrCat("action ", ActionKindName(action.kind),
                                                   ": idempotency_key must have 1..",
                                                   txqueue::kMaxKeyLength, " characters"));
  }
  return absl::OkStatus();
}

absl::Status CheckSeed(const SeedInfo& seed, uint64_t epoch) {
  if (seed.epoch != epoch) {
    return absl::InvalidArgumentError(
        absl::StrCat("seed is for epoch ", seed.epoch, ", the action for epoch ", epoch));
  }
  if (seed.seed <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("seed of epoch ", epoch, " is not positive"));
  }
  if (seed.signature_hex.size() != 128) {
    return absl::InvalidArgumentError(absl::StrCat("seed signature of epoch ", epoch, " has ",
                                                   seed.signature_hex.size(),
                                                   " hex characters, want 128"));
  }
  return absl::OkStatus();
}

txqueue::ChainTx Wrap(const google::protobuf::Message& msg, std::string key) {
  txqueue::ChainTx tx;
  tx.set_idempotency_key(std::move(key));
  *tx.add_messages() = cosmos::PackAny(msg);
  tx.set_producer(kNodeManagerProducer);
  return tx;
}

// "<kind>/<poc_start>/<creator>/<16 hex of SHA-256(message bytes)>".
std::string ContentKey(absl::string_view kind, int64_t poc_start, absl::string_view creator,
                       const google::protobuf::Message& msg) {
  std::string digest = crypto::HexEncode(crypto::Sha256(cosmos::SerializeDeterministic(msg)));
  return absl::StrCat(kind, "/", poc_start, "/", creator, "/", digest.substr(0, 16));
}

}  // namespace

absl::StatusOr<txqueue::ChainTx> SubmitSeedTx(const MessageContext& context, const Action& action,
                                              const SeedInfo& seed) {
  RETURN_IF_ERROR(CheckAction(action, ActionKind::kEnsureSeed));
  RETURN_IF_ERROR(CheckAddress("creator", context.creator, context.prefix));
  RETURN_IF_ERROR(CheckSeed(seed, static_cast<uint64_t>(action.epoch)));
  infpb::MsgSubmitSeed msg;
  msg.set_creator(context.creator);
  msg.set_epoch_index(seed.epoch);
  msg.set_signature(seed.signature_hex);
  return Wrap(msg, action.idempotency_key);
}

absl::StatusOr<txqueue::ChainTx> ClaimRewardsTx(const MessageContext& context, const Action& action,
                                                const SeedInfo& seed) {
  RETURN_IF_ERROR(CheckAction(action, ActionKind::kClaimRewards));
  RETURN_IF_ERROR(CheckAddress("creator", context.creator, context.prefix));
  RETURN_IF_ERROR(CheckSeed(seed, static_cast<uint64_t>(action.epoch)));
  infpb::MsgClaimRewards msg;
  msg.set_creator(context.creator);
  msg.set_seed(seed.seed);
  msg.set_epoch_index(seed.epoch);
  return Wrap(msg, action.idempotency_key);
}

absl::StatusOr<txqueue::ChainTx> WeightDistributionTx(const MessageContext& context,
                                                      const Action& action,
                                                      const std::vector<ModelWeights>& entries) {
  RETURN_IF_ERROR(CheckAction(action, ActionKind::kDistributeWeights));
  RETURN_IF_ERROR(CheckAddress("creator", context.creator, context.prefix));
  if (action.poc_start <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("action ", action.idempotency_key, ": poc_start must be positive"));
  }
  if (entries.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("weights of stage ", action.poc_start, ": entries is empty"));
  }
  infpb::MsgMLNodeWeightDistribution msg;
  msg.set_creator(context.creator);
  msg.set_poc_stage_start_block_height(action.poc_start);
  for (size_t i = 0; i < entries.size(); ++i) {
    const ModelWeights& e = entries[i];
    if (e.model_id.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("entries[", i, "].model_id is empty"));
    }
    infpb::MLNodeDistributionEntry* entry = msg.add_entries();
    entry->set_model_id(e.model_id);
    for (size_t j = 0; j < e.weights.size(); ++j) {
      if (e.weights[j].node_id.empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat("entries[", i, "].weights[", j, "].node_id is empty"));
      }
      infpb::MLNodeWeight* w = entry->add_weights();
      w->set_node_id(e.weights[j].node_id);
      w->set_weight(e.weights[j].weight);
    }
  }
  return Wrap(msg, action.idempotency_key);
}

absl::StatusOr<txqueue::ChainTx> StoreCommitTx(const MessageContext& context, int64_t poc_start,
                                               const std::vector<StoreCommitEntry>& entries) {
  RETURN_IF_ERROR(CheckAddress("creator", context.creator, context.prefix));
  if (poc_start <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("store commit: poc_start ", poc_start, " must be positive"));
  }
  if (entries.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("store commit of stage ", poc_start, ": entries is empty"));
  }
  infpb::MsgPoCV2StoreCommit msg;
  msg.set_creator(context.creator);
  msg.set_poc_stage_start_block_height(poc_start);
  for (size_t i = 0; i < entries.size(); ++i) {
    const StoreCommitEntry& e = entries[i];
    if (e.model_id.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("entries[", i, "].model_id is empty"));
    }
    if (e.root_hash.size() != 32) {
      return absl::InvalidArgumentError(
          absl::StrCat("entries[", i, "].root_hash has ", e.root_hash.size(), " bytes, want 32"));
    }
    infpb::PoCV2CommitEntry* entry = msg.add_entries();
    entry->set_model_id(e.model_id);
    entry->set_count(e.count);
    entry->set_root_hash(e.root_hash);
  }
  std::string key = ContentKey("store_commit", poc_start, context.creator, msg);
  return Wrap(msg, std::move(key));
}

absl::StatusOr<txqueue::ChainTx> PocValidationsTx(const MessageContext& context, int64_t poc_start,
                                                  const std::vector<ValidationEntry>& validations) {
  RETURN_IF_ERROR(CheckAddress("creator", context.creator, context.prefix));
  if (poc_start <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("validations: poc_start ", poc_start, " must be positive"));
  }
  if (validations.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("validations of stage ", poc_start, ": validations is empty"));
  }
  infpb::MsgSubmitPocValidationsV2 msg;
  msg.set_creator(context.creator);
  msg.set_poc_stage_start_block_height(poc_start);
  for (size_t i = 0; i < validations.size(); ++i) {
    const ValidationEntry& v = validations[i];
    RETURN_IF_ERROR(CheckAddress(absl::StrCat("validations[", i, "].participant_address"),
                                 v.participant_address, context.prefix));
    if (v.model_id.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("validations[", i, "].model_id is empty"));
    }
    infpb::PoCValidationEntryV2* entry = msg.add_validations();
    entry->set_participant_address(v.participant_address);
    entry->set_validated_weight(v.validated_weight);
    entry->set_model_id(v.model_id);
  }
  std::string key = ContentKey("validations", poc_start, context.creator, msg);
  return Wrap(msg, std::move(key));
}

}  // namespace nodemanager
}  // namespace gonka
