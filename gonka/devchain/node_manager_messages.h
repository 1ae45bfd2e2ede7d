// devchain's handling of the chain messages a Gonka node-manager sends (MsgSubmitSeed,
// MsgClaimRewards, MsgMLNodeWeightDistribution, MsgPoCV2StoreCommit; MsgSubmitPocValidationsV2
// is only recorded) and the queries that read them back (ListRandomSeeds,
// MLNodeWeightDistribution, PoCV2StoreCommit). docs/node-manager.md, "Chain messages";
// field facts in docs/reference/gonka.md, "Node-manager chain messages".
//
// Contract:
//   - ApplyNodeManagerMsg runs after the ante handler and the signer/authz checks, on the tx's
//     state branch (a refusal reverts nothing but itself; CosmosApp keeps fee and sequence as
//     baseapp does). Refusals carry codespace "inference" and Gonka's registered codes:
//       MsgSubmitSeed: epoch outside [effective, effective + 1] → 1174 (Gonka's keeper); a second
//         seed for the same (epoch, creator) → 1137 (devchain is stricter than Gonka, whose
//         keeper accepts an identical re-submission as a no-op: a double send shows up here);
//       MsgClaimRewards: an epoch that has not ended (not below the effective epoch) → 1137; no
//         seed submitted for (epoch, creator), or a seed that the submitted signature does not
//         verify with the creator's or a grantee's public key → 1116; a second claim of the same
//         (epoch, creator) → 1137 (Gonka answers these with code 0 and a `result` text instead:
//         devchain refuses, so tests see them);
//       MsgMLNodeWeightDistribution / MsgPoCV2StoreCommit: a stage height that is not the PoC
//         start of an epoch started at or before the block → 1137; no entries, an empty model
//         id or a root hash that is not 32 bytes → sdk 18. Stored per (stage, creator, model),
//         the latest overwriting (Gonka: latest wins).
//   - QueryNodeManager answers the three queries from the committed state (whatever the queried
//     height, like devchain's auth and bank queries); an undecodable request is sdk 18.
//
// Thread-safety: plain functions over caller-owned state; CosmosApp calls them under its lock.
#ifndef GONKA_DEVCHAIN_NODE_MANAGER_MESSAGES_H_
#define GONKA_DEVCHAIN_NODE_MANAGER_MESSAGES_H_

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "gonka/devchain/chain.h"
#include "gonka/devchain/types.h"
#include "google/protobuf/any.pb.h"

namespace gonka {
namespace devchain {

struct NodeManagerState {
  // (epoch, creator) → the submitted signature (hex).
  std::map<std::pair<uint64_t, std::string>, std::string> random_seeds;
  // (epoch, creator) of the claims accepted.
  std::set<std::pair<uint64_t, std::string>> claims;
  // (poc stage start, creator, model id) → the serialized MLNodeDistributionEntry.
  std::map<std::tuple<int64_t, std::string, std::string>, std::string> weight_distributions;
  // (poc stage start, creator, model id) → the serialized PoCV2CommitEntry.
  std::map<std::tuple<int64_t, std::string, std::string>, std::string> store_commits;
};

// True for the message types ApplyNodeManagerMsg handles.
bool IsNodeManagerMsg(absl::string_view type_url);

// Checks and applies `msg` (signed by `creator`) in block `height` under `schedule`.
// `signer_pub_keys` are the 33-byte public keys that may have signed the creator's seed (its own
// and its authz grantees'). nullopt on success, else the refusal.
std::optional<TxResult> ApplyNodeManagerMsg(const google::protobuf::Any& msg,
                                            const EpochParams& schedule, int64_t height,
                                            const std::vector<std::string>& signer_pub_keys,
                                            NodeManagerState* state, std::vector<Event>* events);

// True for the query paths QueryNodeManager answers.
bool HandlesNodeManagerQuery(absl::string_view path);
TxExecutor::QueryResult QueryNodeManager(absl::string_view path, absl::string_view data,
                                         const NodeManagerState& state);

}  // namespace devchain
}  // namespace gonka

#endif  // GONKA_DEVCHAIN_NODE_MANAGER_MESSAGES_H_
