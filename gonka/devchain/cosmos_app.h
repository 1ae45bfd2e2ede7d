// CosmosApp: devchain's transaction rules — a strict subset of the Cosmos SDK 0.53 ante handler
// and modules, so a signer bug that a real chain would reject is rejected here too, with the
// Cosmos SDK's codespace and code (docs/reference/protocol.md, "Unordered transactions" and
// "Error codes").
//
// Ante handler, in the SDK's order: decode (sdk 2) → at least one message (sdk 18) → signature
// count (sdk 15 / 4) → timeout height (sdk 30) and timeout timestamp (sdk 42) → memo length
// (sdk 12) → gas limit vs ante gas (sdk 11) → fee: valid coins (sdk 10), minimum gas price
// (sdk 13), fee grant (feegrant 5 no allowance, 3 expired, 2 limit exceeded, 7 message not
// allowed), payer balance (sdk 5) → signer account exists (sdk 9) → public key matches the
// signer (sdk 8) → unordered rules (sdk 18: sequence 0, timeout set, within 10 minutes, replay
// of signer + timeout) or sequence (sdk 32 "account sequence mismatch, expected X, got Y") →
// SIGN_MODE_DIRECT signature over SignDoc{body, auth_info, chain_id, account_number} (sdk 4) →
// sequence increment. Messages then run on a branch: a failing message reverts its effects but
// the fee and sequence stay, as in baseapp.
//
// Messages: cosmos.bank MsgSend; cosmos.authz MsgGrant (GenericAuthorization), MsgExec (only
// granted types; authz 2 "authorization not found", 6 expired), MsgRevoke; cosmos.feegrant
// MsgGrantAllowance (BasicAllowance, AllowedMsgAllowance), MsgRevokeAllowance;
// gonka.devchain.v1.MsgRecord; and the Gonka message types in kGonkaRecordTypes, recorded like
// MsgRecord under the key "<type url>/<sha256 of the message>" — the node-manager's seed, claim,
// weight and store-commit messages checked and stored first (node_manager_messages.h).
//
// Queries (abci_query): /inference.inference.Query/* (InferenceModule, answered at the queried
// height; ListRandomSeeds, MLNodeWeightDistribution and PoCV2StoreCommit from the committed
// state), /cosmos.auth.v1beta1.Query/Account and /AccountInfo (sdk 22 when
// unknown), /cosmos.bank.v1beta1.Query/Balance, /cosmos.tx.v1beta1.Service/Simulate (runs the tx
// on a scratch copy of the check state without signature verification and with an infinite gas
// meter, as the SDK's simulate mode; returns gas_info and the events).
//
// Thread-safe: Chain calls it under its lock; RecordCount(), Balance() and AddPartialUpgrade()
// may be called from
// anywhere.
#ifndef GONKA_DEVCHAIN_COSMOS_APP_H_
#define GONKA_DEVCHAIN_COSMOS_APP_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/numeric/int128.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gonka/devchain/chain.h"
#include "gonka/devchain/gov_proposals.h"
#include "gonka/devchain/inference_module.h"
#include "gonka/devchain/node_manager_messages.h"
#include "gonka/devchain/price_proposals.h"
#include "gonka/net/http_server.h"
#include "gonka/proto/cosmos/upgrade/v1beta1/upgrade.pb.h"

namespace gonka {
namespace devchain {

// One genesis account: an address, or a mnemonic (the address derived with the Gonka HD path).
struct GenesisAccount {
  std::string address;
  std::string mnemonic;
  std::map<std::string, std::string> balances;  // denom → decimal amount
};

struct AppOptions {
  std::string prefix = "gonka";
  std::vector<GenesisAccount> accounts;
  // Minimum gas price in the fee denom (CheckTx only, as min-gas-prices): fee >= gas × price.
  std::string fee_denom = "ngonka";
  uint64_t min_gas_price = 0;
  absl::Duration max_unordered_timeout = absl::Minutes(10);
  size_t max_memo_characters = 256;

  // Chain settings a genesis file may carry; when present they win over the daemon's flags (a
  // chain's identity belongs to its genesis).
  std::optional<std::string> chain_id;
  std::optional<absl::Duration> block_interval;
  std::optional<EpochParams> epochs;

  // Gonka's inference module (genesis "inference"; gonka/devchain/inference_module.h) and the
  // epoch schedule it follows: the chain's (the daemon copies ChainOptions::epochs here).
  InferenceGenesis inference;
  EpochParams inference_schedule;
};

// Parses a genesis JSON file's content:
//   {"chain_id":"gonka-devnet", "block_interval":"1s",
//    "epoch":{"epoch_length":"300","poc_stage_duration":"60","poc_exchange_duration":"5",
//             "poc_validation_delay":"5","poc_validation_duration":"20",
//             "set_new_validators_delay":"120"},
//    "accounts":[{"address":"gonka1…","balances":{"ngonka":"1000"}}, {"mnemonic":"…",…}],
//    "min_gas_price":"0", "fee_denom":"ngonka", "max_unordered_timeout":"10m",
//    "inference":{"models":[…],"participants":[…],…}}   (ParseInferenceGenesis)
// InvalidArgument naming the field ("genesis accounts[1].balances.ngonka: …").
absl::StatusOr<AppOptions> ParseGenesis(absl::string_view json);

// Gonka message types devchain accepts and records (their field 1 is the signer, `creator`).
extern const char* const kGonkaRecordTypes[];

class CosmosApp : public TxExecutor {
 public:
  // InvalidArgument naming the genesis account that is malformed.
  static absl::StatusOr<std::unique_ptr<CosmosApp>> Create(AppOptions options);

  TxResult Check(absl::string_view tx, const TxContext& context) override;
  TxResult Deliver(absl::string_view tx, const TxContext& context) override;
  void Commit(int64_t height) override;
  QueryResult Query(absl::string_view path, absl::string_view data, int64_t height) override;
  // "inference": every epoch's ActiveParticipants written by `height`, under Gonka's
  // ActiveParticipantsFullKey, each at the height it was written (docs/devchain.md, "Proofs").
  std::map<std::string, std::vector<StoreEntry>> ProvableStores(int64_t height) override;

  // Schedules a partial upgrade in the inference module from the next block on
  // (InferenceModule::AddPartialUpgrade; InvalidArgument naming the field).
  absl::StatusOr<::inference::inference::PartialUpgrade> AddPartialUpgrade(
      ::inference::inference::PartialUpgrade upgrade);

  // Schedules the upgrade module's plan from the next block on, as a passed governance
  // MsgSoftwareUpgrade would: it replaces any plan scheduled before, and is gone from the state
  // of block `plan.height` on (the SDK applies the upgrade there and clears the plan). Answered
  // by /cosmos.upgrade.v1beta1.Query/CurrentPlan. InvalidArgument naming `name` (empty) or
  // `height` (not above the next block). Not kept in --data-dir.
  absl::Status ScheduleUpgradePlan(::cosmos::upgrade::v1beta1::Plan plan);

  // Committed state.
  uint64_t RecordCount(absl::string_view key) const;
  absl::uint128 Balance(absl::string_view address, absl::string_view denom) const;
  // Account number and sequence; NotFound if the account does not exist.
  absl::StatusOr<std::pair<uint64_t, uint64_t>> Account(absl::string_view address) const;

  struct Allowance {
    std::map<std::string, absl::uint128> spend_limit;  // empty = unlimited
    std::optional<absl::Time> expiration;
    std::vector<std::string> allowed_messages;  // empty = any
  };
  struct AccountState {
    uint64_t number = 0;
    uint64_t sequence = 0;
    std::string pub_key;  // 33 bytes once known
    std::map<std::string, absl::uint128> balances;
  };
  struct State {
    std::map<std::string, AccountState> accounts;
    uint64_t next_account_number = 0;
    // (granter, grantee, msg type url) → expiration (nullopt = none)
    std::map<std::tuple<std::string, std::string, std::string>, std::optional<absl::Time>> grants;
    std::map<std::pair<std::string, std::string>, Allowance> allowances;
    std::set<std::pair<int64_t, std::string>> unordered_nonces;  // (timeout ns, signer)
    std::map<std::string, uint64_t> records;
    // The node-manager's seeds, claims, weight distributions and store commits.
    NodeManagerState node_manager;
    // Each participant's latest unit-of-compute price proposal.
    PriceProposalState price_proposals;
    // Governance proposals (MsgSubmitProposal carrying MsgRegisterModel).
    GovProposalState gov;
  };

 private:
  explicit CosmosApp(AppOptions options) : options_(std::move(options)) {}
  TxResult Run(State& state, absl::string_view tx, const TxContext& context, bool deliver);

  AccountMap Accounts() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const AppOptions options_;
  mutable absl::Mutex mu_;
  std::unique_ptr<InferenceModule> inference_ ABSL_GUARDED_BY(mu_);
  State committed_ ABSL_GUARDED_BY(mu_);
  State check_ ABSL_GUARDED_BY(mu_);
  absl::Time last_block_time_ ABSL_GUARDED_BY(mu_);
  int64_t last_height_ ABSL_GUARDED_BY(mu_) = 0;
  // ProvableStores' inference entries, epoch e at [e - 1], built as they are first written.
  std::vector<StoreEntry> inference_entries_ ABSL_GUARDED_BY(mu_);
  // (first height in the state, plan) in the order scheduled (ScheduleUpgradePlan).
  std::vector<std::pair<int64_t, ::cosmos::upgrade::v1beta1::Plan>> upgrade_plans_
      ABSL_GUARDED_BY(mu_);
};

// The debug route that schedules a partial upgrade at run time, for tests:
//   POST /devchain/partial_upgrade {"height": "500", "node_version": "v2"[, "name": "...",
//                                   "api_binaries_json": "..."]}   (protobuf JSON of Gonka's
//                                   PartialUpgrade)
//   → 200 {"name": "...", "height": "500"} (in the state from the next block); 400 naming the
//     problem (not JSON, an unknown field, no height, a height not above the latest block).
void AddPartialUpgradeRoute(net::HttpServer* server, CosmosApp* app);

// The debug route that schedules the upgrade module's plan (CosmosApp::ScheduleUpgradePlan):
//   POST /devchain/upgrade_plan {"name": "v2", "height": "500", "info": "{\"binaries\": ...,
//                                \"node_version\": \"v2\"}"}   (protobuf JSON of the SDK's Plan)
//   → 200 {"name": "v2", "height": "500"}; 400 naming the problem (not JSON, an unknown field, no
//     name, a height not above the next block).
void AddUpgradePlanRoute(net::HttpServer* server, CosmosApp* app);

}  // namespace devchain
}  // namespace gonka

#endif  // GONKA_DEVCHAIN_COSMOS_APP_H_
