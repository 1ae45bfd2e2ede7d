// PhaseEngine: the node-manager's stage transitions — what Gonka's new-block dispatcher does at
// each stage of an epoch (docs/node-manager.md, "Phase table") — evaluated for EVERY height in
// order, so a height the process did not see live (a failover, a restart, a slow block) still
// produces its transition, and each transition carries an idempotency key that makes doing it a
// second time (a replay after failover) a no-op downstream.
//
// Contract:
//   - Advance(h) returns the actions of every height in (last_height(), h], in height order and,
//     within a height, in the order Gonka's dispatcher takes them; heights at or below
//     last_height() return nothing. Pure: the same heights give the same actions with the same
//     keys on every replica, so a new leader replaying from the durable stream position re-derives
//     exactly the keys the old leader may already have used.
//   - Keys: "<kind>/<epoch>/<participant>" for once-per-epoch chain messages (seed, claim,
//     weights), "<kind>/<poc_start>" for ML-node commands of a stage. The tx queue turns a repeated
//     key into one chain message; devmlnode/ML nodes see the same idempotency key again.
//   - Gonka's dispatcher tests stages by exact height equality (Is*Stage(h)); the engine reports,
//     per Advance(), how many transitions fell on heights other than the one passed in — the
//     transitions that rule would have missed had those heights not been seen live
//     (missed_by_exact_height()).
//
// Thread-safety: not thread-safe (the node-manager leader's block thread owns it).
//
// Example:
//   PhaseEngine engine({.params = chain_params, .participant = "gonka1..."});
//   engine.ResumeAfter(cursor);                  // the last height fully handled
//   for (const Action& a : engine.Advance(block.height())) RETURN_IF_ERROR(executor.Run(a));
#ifndef GONKA_NODEMANAGER_PHASE_ENGINE_H_
#define GONKA_NODEMANAGER_PHASE_ENGINE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "gonka/chain/epoch.h"

namespace gonka {
namespace nodemanager {

enum class ActionKind {
  kEnsureSeed,         // StartOfPoC: make sure this epoch's MsgSubmitSeed is on chain
  kInitValidate,       // EndOfPoCGeneration: ML nodes from generating to validating
  kStoreCommit,        // EndOfPoCGeneration + 1: MsgPoCV2StoreCommit of the stage's artifacts
  kValidateAll,        // StartOfPoCValidation: validate the stage's received batches
  kDistributeWeights,  // StartOfPoCValidation: MsgMLNodeWeightDistribution for the stage
  kInferenceUpAll,     // EndOfPoCValidation: ML nodes back to inference
  kChangeCurrentSeed,  // SetNewValidators: the epoch's seed becomes the current one
  kClaimRewards,       // ClaimMoney + this participant's delay: MsgClaimRewards(epoch - 1)
};

// "ensure_seed", "init_validate", ...
absl::string_view ActionKindName(ActionKind kind);

struct Action {
  ActionKind kind;
  int64_t height = 0;     // the height whose stage triggered it
  int64_t epoch = 0;      // the epoch the action is about (kClaimRewards: the one claimed)
  int64_t poc_start = 0;  // PoC start height of the stage it belongs to
  std::string idempotency_key;
};

// The ML-node state a phase intends (reconciliation drives every node there).
enum class IntendedState { kInference, kPocGenerating, kPocValidating };
IntendedState IntendedStateFor(absl::string_view phase);
absl::string_view IntendedStateName(IntendedState state);

// Gonka's claim spread: participants claim `d` blocks after ClaimMoney, d = (first 8 bytes of
// SHA-256(participant address), big-endian) % 500 + 1; no delay when the claim height is at most
// 500 or the epoch is too short (next PoC start - ClaimMoney < 1000).
int64_t ClaimDelay(absl::string_view participant, int64_t claim_height, int64_t next_poc_start);

struct PhaseEngineOptions {
  chain::EpochParams params;  // the chain's (epoch_length > 0)
  std::string participant;    // this node's account address (keys, claim delay)
};

class PhaseEngine {
 public:
  explicit PhaseEngine(PhaseEngineOptions options);

  // Heights up to `height` are done (the durable cursor); the next Advance() starts after it.
  void ResumeAfter(int64_t height) { last_height_ = height; }

  std::vector<Action> Advance(int64_t height);

  int64_t last_height() const { return last_height_; }
  // Transitions returned so far that fell on a height other than the Advance() argument.
  int64_t missed_by_exact_height() const { return missed_by_exact_height_; }

 private:
  void ActionsAt(int64_t height, std::vector<Action>* out) const;

  const PhaseEngineOptions options_;
  int64_t last_height_ = 0;
  int64_t missed_by_exact_height_ = 0;
};

}  // namespace nodemanager
}  // namespace gonka

#endif  // GONKA_NODEMANAGER_PHASE_ENGINE_H_
