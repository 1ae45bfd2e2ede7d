// InferenceModule: devchain's answers to Gonka's inference.inference.Query methods that
// edge-api's read routes ask (docs/devchain.md, "Inference module"; field facts in
// docs/reference/gonka.md, "Inference module queries"):
//   Params, EpochInfo, GetCurrentEpoch, CurrentEpochGroupData, EpochGroupData, ModelsAll,
//   ParticipantsWithBalances, AccountByAddress, PocBatchesForStage, BridgeAddressesByChain,
//   ExcludedParticipants, PartialUpgrade, PartialUpgradeAll
// at the path "/inference.inference.Query/<Method>", Gonka's restrictions module
// (TransferRestrictionStatus, TransferExemptions, ExemptionUsage) and BLS module (EpochBLSData,
// SigningStatus), and raw reads of the inference store ("store/inference/key": epoch e's
// ActiveParticipants under ActiveParticipantsKey(e)), over gRPC and abci_query alike.
//
// State comes from the genesis file's "inference" object and follows devchain's own epoch
// schedule (gonka/chain/epoch.h): epoch e >= 1 is created at its PoC start e·L (EpochInfo's
// latest_epoch, its EpochGroupData and PoC batches appear then) and becomes effective at
// SetNewValidators (GetCurrentEpoch, CurrentEpochGroupData). Everything epoch-derived is a pure
// function of (genesis, height), so every past epoch is answerable at any height; bank balances
// (ParticipantsWithBalances, AccountByAddress) at a height of a past epoch are those of a
// snapshot taken at that epoch's first effective block (the per-epoch history kept by
// OnCommit), and the live ones in the current epoch.
//
//   ASSIGN_OR_RETURN(InferenceGenesis g, ParseInferenceGenesis(R"({"models":[{"id":"m"}]})"));
//   InferenceModule module(std::move(g), chain_options.epochs);
//   module.OnCommit(height, [&] { return accounts; });         // after every block
//   TxExecutor::QueryResult r = module.Query(path, request, height, accounts);
//
// Errors as the Cosmos SDK reports a query handler's gRPC status over ABCI (codespace "sdk"):
// NotFound → 22, InvalidArgument → 18, an unknown method → 6.
//
// Not thread-safe: CosmosApp calls it under its own lock.
#ifndef GONKA_DEVCHAIN_INFERENCE_MODULE_H_
#define GONKA_DEVCHAIN_INFERENCE_MODULE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/numeric/int128.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "gonka/devchain/chain.h"
#include "gonka/proto/inference/bls/types.pb.h"
#include "gonka/proto/inference/inference/activeparticipants.pb.h"
#include "gonka/proto/inference/inference/partial_upgrade.pb.h"
#include "gonka/proto/inference/inference/query.pb.h"
#include "gonka/proto/inference/restrictions/params.pb.h"

namespace gonka {
namespace devchain {

inline constexpr absl::string_view kInferenceQueryPrefix = "/inference.inference.Query/";
inline constexpr absl::string_view kRestrictionsQueryPrefix = "/inference.restrictions.Query/";
inline constexpr absl::string_view kBlsQueryPrefix = "/inference.bls.Query/";
// The raw store query of the inference module's KV store (abci_query path; data = the key).
inline constexpr absl::string_view kInferenceStorePath = "store/inference/key";

// Gonka's ActiveParticipantsFullKey(epoch): "ActiveParticipants/value/" + the epoch as 8
// big-endian bytes + "/" (x/inference/types/key_activeparticipants.go).
std::string ActiveParticipantsKey(uint64_t epoch);

// The genesis "inference" object; every entry is protobuf JSON of Gonka's message (field names
// as in the .proto or lowerCamelCase, 64-bit integers as strings or numbers):
//   {"unit_of_compute_price": "100",
//    "models": [{"id": "Qwen/Qwen3-8B", "units_of_compute_per_token": "100", ...}],   // Model
//    "participants": [{"address": "gonka1…", "inference_url": "http://…", "weight": 10}],
//    "bridge_addresses": [{"id": "1", "chainId": "ethereum", "address": "0x…"}],
//    "excluded_participants": [{"address": "gonka1…", "epoch_index": "2", "reason": "…"}],
//    "restrictions": {"restriction_end_block": "1555000",                  // restrictions Params
//                     "emergency_transfer_exemptions": [{"exemption_id": "e1", ...}],
//                     "exemption_usage_tracking": [{"exemption_id": "e1", ...}]},
//    "bls": {"epochs": [{"epoch_id": "1", "dkg_phase": "DKG_PHASE_SIGNED", ...}],   // EpochBLSData
//            "signing_requests": [{"request_id": "<base64>", "status": ..., ...}]}}
// (a BLS participant's percentage_weight may be written as a decimal, "0.5").
struct InferenceGenesis {
  int64_t unit_of_compute_price = 100;
  std::vector<::inference::inference::Model> models;
  // address, inference_url, weight (the genesis weight; epoch e's is weight + e), validator_key,
  // worker_public_key are read; the rest is derived.
  std::vector<::inference::inference::Participant> participants;
  std::vector<::inference::inference::BridgeContractAddress> bridge_addresses;
  // exclusion_block_height defaults to the epoch's effective height.
  std::vector<::inference::inference::ExcludedParticipant> excluded_participants;
  ::inference::restrictions::Params restrictions;
  // Epoch e's BLS data exists from e's end of PoC validation (when Gonka starts its DKG); a
  // signing request from its created_block_height.
  std::vector<::inference::bls::EpochBLSData> bls_epochs;
  std::vector<::inference::bls::ThresholdSigningRequest> bls_signing_requests;
  // Scheduled partial upgrades ("partial_upgrades": [{"height": "500", "node_version": "v2",
  // "api_binaries_json": "", "name": "..."}]), kept as Gonka's store keeps them: one per height
  // (a later entry of the same height replaces an earlier one), deleted once a block above
  // their height ended (Gonka's EndBlock).
  std::vector<::inference::inference::PartialUpgrade> partial_upgrades;
};

// `json` is the text of the "inference" object. InvalidArgument naming the entry
// ("genesis inference.models[1]: …").
absl::StatusOr<InferenceGenesis> ParseInferenceGenesis(absl::string_view json);

// One account as the bank and auth modules hold it.
struct AccountView {
  std::string pub_key;  // 33-byte compressed secp256k1 key; empty before the first tx
  std::map<std::string, absl::uint128> balances;
};
// The committed accounts, address → view.
using AccountMap = std::map<std::string, AccountView>;

class InferenceModule {
 public:
  InferenceModule(InferenceGenesis genesis, EpochParams schedule);

  static bool Handles(absl::string_view path);

  // After block `height` committed; `accounts()` gives the accounts as committed and is called
  // only at an epoch's first effective block, whose snapshot it keeps.
  void OnCommit(int64_t height, const std::function<AccountMap()>& accounts);

  // `height` >= 1 is the state queried (the chain resolved 0 to its latest height);
  // `accounts` are the live committed accounts.
  TxExecutor::QueryResult Query(absl::string_view path, absl::string_view data, int64_t height,
                                const AccountMap& accounts) const;

  // A partial upgrade scheduled at run time (devchain's POST /devchain/partial_upgrade): in the
  // state from the next block on, as if a governance tx carried Gonka's MsgCreatePartialUpgrade
  // (an empty name becomes Gonka's "PartialUpgrade at height H for node version V").
  // InvalidArgument naming `height` unless it is above the latest block (the chain would delete
  // it at once). Not kept in --data-dir. Returns the upgrade as stored.
  absl::StatusOr<::inference::inference::PartialUpgrade> AddPartialUpgrade(
      ::inference::inference::PartialUpgrade upgrade);
  // The partial upgrades in the state at `height`, ascending by height.
  std::vector<::inference::inference::PartialUpgrade> PartialUpgradesAt(int64_t height) const;

  // The schedule's derived heights (0 when epochs are off).
  uint64_t LatestEpoch(int64_t height) const;     // created at its PoC start
  uint64_t EffectiveEpoch(int64_t height) const;  // switches at SetNewValidators
  int64_t PocStartHeight(uint64_t epoch) const;
  int64_t EffectiveHeight(uint64_t epoch) const;
  // Where Gonka writes epoch e's ActiveParticipants (and starts its DKG): the end of its PoC
  // validation, EffectiveHeight(e) - set_new_validators_delay.
  int64_t ActiveParticipantsHeight(uint64_t epoch) const;
  // Epoch e's ActiveParticipants as devchain stores them (nullopt before they are written).
  std::optional<::inference::inference::ActiveParticipants> ActiveParticipantsAt(
      uint64_t epoch, int64_t height) const;

 private:
  ::inference::inference::Params MakeParams() const;
  // NotFound unless the epoch exists at `height` (and, for a model, the model exists).
  std::optional<::inference::inference::EpochGroupData> GroupData(uint64_t epoch,
                                                                  absl::string_view model_id,
                                                                  int64_t height) const;
  const AccountMap& AccountsAt(int64_t height, const AccountMap& live) const;
  TxExecutor::QueryResult QueryRestrictions(absl::string_view method, absl::string_view data,
                                            int64_t height) const;
  TxExecutor::QueryResult QueryBls(absl::string_view method, absl::string_view data,
                                   int64_t height) const;
  TxExecutor::QueryResult QueryStore(absl::string_view key, int64_t height) const;

  const InferenceGenesis genesis_;
  const EpochParams schedule_;
  int64_t latest_height_ = 0;
  std::map<uint64_t, AccountMap> snapshots_;  // effective epoch → accounts at its first block
  // (first height in the state, upgrade): the genesis ones at 0, then AddPartialUpgrade's.
  std::vector<std::pair<int64_t, ::inference::inference::PartialUpgrade>> partial_upgrades_;
};

}  // namespace devchain
}  // namespace gonka

#endif  // GONKA_DEVCHAIN_INFERENCE_MODULE_H_
