// Chain messages of the node-manager: the PhaseEngine's chain actions (and the PoC store's
// commits and validations) turned into tx-queue requests, and Gonka's epoch seed.
//
// Contract:
//   - Each builder returns a txqueue::ChainTx with one message, Any-packed with Gonka's type URL
//     ("/inference.inference.MsgSubmitSeed", ...), `creator` = the participant (the account the
//     rewards belong to; the signer executes it through authz MsgExec with that account as
//     granter, as every Gonka warm-key message), producer "node-manager", and an idempotency key
//     that is a pure function of what the message is about: the Action's key for the engine's
//     actions (seed/<e>/<p>, weights/<e>/<p>, claim/<e>/<p>), and for the content-driven commits
//     and validations "<kind>/<poc_start>/<p>/<first 16 hex of SHA-256(message bytes)>". The same
//     input gives the same key and the same bytes on every replica, so the tx queue and the
//     signer ledger give it one chain effect however often a leader (or its successor) builds it.
//   - No ChainTx deadline is set: the windows these messages must land in are bounded by heights,
//     not times, and a message that arrives too late is refused by the chain (e.g. a seed for an
//     epoch no longer current or upcoming: inference code 1174), which the signer dead-letters
//     as rejected. Memo empty.
//   - Builders validate and return InvalidArgument naming the field: a creator that is not a
//     bech32 address of `prefix`, an Action of the wrong kind, a seed for another epoch, an empty
//     entry list, a model id or node id that is empty, a root hash that is not 32 bytes.
//   - GenerateSeed / VerifySeed / SeedInfo are gonka/signer/epoch_seed.h's (Gonka's epoch seed:
//     seed = first 8 bytes of Sign_K(SHA-256(BE64(epoch))), top bit cleared; signature =
//     Sign_K(SHA-256(BE64(seed)))), re-exported here for the builders' callers. signerd serves
//     the same function as POST /v1/seed, so node-manager needs no key (seed_source.h).
//
// Thread-safety: free functions, thread-safe.
//
// Example:
//   ASSIGN_OR_RETURN(SeedInfo seed, EnsureSeed(seed_store, warm_key, participant, action.epoch));
//   ASSIGN_OR_RETURN(txqueue::ChainTx tx, SubmitSeedTx(action, participant, seed));
//   ASSIGN_OR_RETURN(auto r, signer::EnqueueRecorded(ledger, &queue, tx));
#ifndef GONKA_NODEMANAGER_CHAIN_MESSAGES_H_
#define GONKA_NODEMANAGER_CHAIN_MESSAGES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "gonka/crypto/key.h"
#include "gonka/nodemanager/phase_engine.h"
#include "gonka/signer/epoch_seed.h"
#include "gonka/txqueue/txqueue.h"

namespace gonka {
namespace nodemanager {

inline constexpr char kMsgSubmitSeed[] = "/inference.inference.MsgSubmitSeed";
inline constexpr char kMsgClaimRewards[] = "/inference.inference.MsgClaimRewards";
inline constexpr char kMsgMLNodeWeightDistribution[] =
    "/inference.inference.MsgMLNodeWeightDistribution";
inline constexpr char kMsgPoCV2StoreCommit[] = "/inference.inference.MsgPoCV2StoreCommit";
inline constexpr char kMsgSubmitPocValidationsV2[] =
    "/inference.inference.MsgSubmitPocValidationsV2";

// The queries that read them back (gRPC method names and abci_query paths).
inline constexpr char kQueryListRandomSeeds[] = "/inference.inference.Query/ListRandomSeeds";
inline constexpr char kQueryMLNodeWeightDistribution[] =
    "/inference.inference.Query/MLNodeWeightDistribution";
inline constexpr char kQueryPoCV2StoreCommit[] = "/inference.inference.Query/PoCV2StoreCommit";

inline constexpr char kNodeManagerProducer[] = "node-manager";

// The epoch seed (gonka/signer/epoch_seed.h), shared with signerd's POST /v1/seed.
using signer::GenerateSeed;
using signer::SeedInfo;
using signer::VerifySeed;

// Weights of the participant's ML nodes for one model (MLNodeDistributionEntry).
struct NodeWeight {
  std::string node_id;
  uint32_t weight = 0;
};
struct ModelWeights {
  std::string model_id;
  std::vector<NodeWeight> weights;
};

// The participant's artifact store for one model at commit time (PoCV2CommitEntry).
struct StoreCommitEntry {
  std::string model_id;
  uint32_t count = 0;
  std::string root_hash;  // 32 bytes (the MMR root)
};

// One validation verdict (PoCValidationEntryV2): validated_weight -1 = rejected, > 0 accepted.
struct ValidationEntry {
  std::string participant_address;
  int64_t validated_weight = 0;
  std::string model_id;
};

// What every builder needs besides the message's content.
struct MessageContext {
  std::string creator;           // the participant's account address
  std::string prefix = "gonka";  // its bech32 prefix
};

// MsgSubmitSeed{creator, epoch_index = action.epoch, signature} under the action's key.
// `action` must be kEnsureSeed and `seed.epoch` its epoch.
absl::StatusOr<txqueue::ChainTx> SubmitSeedTx(const MessageContext& context, const Action& action,
                                              const SeedInfo& seed);

// MsgClaimRewards{creator, seed, epoch_index = action.epoch} under the action's key. `action` must
// be kClaimRewards (its epoch is the one claimed) and `seed` that epoch's submitted seed.
absl::StatusOr<txqueue::ChainTx> ClaimRewardsTx(const MessageContext& context, const Action& action,
                                                const SeedInfo& seed);

// MsgMLNodeWeightDistribution{creator, poc_stage_start_block_height = action.poc_start,
// entries} under the action's key. `action` must be kDistributeWeights; entries non-empty, each
// with a model id and node ids.
absl::StatusOr<txqueue::ChainTx> WeightDistributionTx(const MessageContext& context,
                                                      const Action& action,
                                                      const std::vector<ModelWeights>& entries);

// MsgPoCV2StoreCommit{creator, poc_stage_start_block_height, entries} under
// "store_commit/<poc_start>/<creator>/<content hash>": a commit whose counts grew is a new
// message, the same commit built again is the same key. `poc_start` > 0; entries non-empty.
absl::StatusOr<txqueue::ChainTx> StoreCommitTx(const MessageContext& context, int64_t poc_start,
                                               const std::vector<StoreCommitEntry>& entries);

// MsgSubmitPocValidationsV2{creator, poc_stage_start_block_height, validations} under
// "validations/<poc_start>/<creator>/<content hash>". `poc_start` > 0; validations non-empty,
// each with a participant address of `prefix` and a model id.
absl::StatusOr<txqueue::ChainTx> PocValidationsTx(const MessageContext& context, int64_t poc_start,
                                                  const std::vector<ValidationEntry>& validations);

}  // namespace nodemanager
}  // namespace gonka

#endif  // GONKA_NODEMANAGER_CHAIN_MESSAGES_H_
