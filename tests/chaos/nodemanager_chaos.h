// The node-manager chaos experiment, shared by tests/chaos (CI: 3 epochs) and
// bench/chaos_nodemanager (20+): devchain with short epochs (40 blocks of 200 ms), nats-server, an
// edge-api emitting the block stream, `ml_nodes` development ML nodes requiring fencing, and
// `replicas` node-manager replicas (lease and cursor in Redis). The leader is killed (-9) or paused
// past its lease at random moments, including inside each PoC phase; killed replicas restart.
// Checked from the ML nodes' own command logs: every PoC stage of the run started generation on
// every ML node (one accepted InitGenerate per stage and node, whatever the failovers), every
// node returned to inference after each stage, and no node ever accepted a command whose token
// was lower than one it had accepted before (a deposed leader's command); and each epoch's
// MsgSubmitSeed and MsgClaimRewards reached the chain exactly once through the tx queue and a
// signerd (the ledger has one included row per key, none failed). Test-only.
#ifndef TESTS_CHAOS_NODEMANAGER_CHAOS_H_
#define TESTS_CHAOS_NODEMANAGER_CHAOS_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace gonka {

struct NodeManagerChaosOptions {
  uint64_t seed = 0;  // 0 = random (printed)
  int epochs = 3;     // PoC stages to cross after the first leader is up
  int replicas = 3;
  int ml_nodes = 3;
  // Chain messages through the tx queue: PostgreSQL (signer ledger, seed store), a signerd, the
  // cold account's authz grant to the warm key; checked on chain and in the ledger.
  bool chain_messages = true;
};

struct NodeManagerChaosResult {
  uint64_t seed = 0;
  int kills = 0;
  int pauses = 0;
  int stages = 0;               // PoC stages fully inside the run
  int stage_node_pairs = 0;     // stages x ML nodes
  int generated = 0;            // pairs with an accepted InitGenerate for that stage
  int generated_in_time = 0;    // ... accepted before the stage's wind-down block was made
  int duplicate_generates = 0;  // pairs with more than one accepted InitGenerate
  // pairs with an accepted command ending generation (pow/stop, inference/up, stop) after it
  int returned_to_inference = 0;
  int lower_token_accepted = 0;     // must be 0
  int refused_commands = 0;         // commands ML nodes refused (deposed leaders' late commands)
  int64_t rescued_transitions = 0;  // summed over the replicas alive at the end
  // Transitions at heights no leader saw live (from a fault on the leader to the next leader's
  // first block): Gonka's exact-height dispatcher would have missed each; here each was made.
  int64_t transitions_in_gaps = 0;
  // Chain messages (with chain_messages): epochs whose MsgSubmitSeed is expected / found on chain
  // exactly once (ListRandomSeeds) with its ledger row included; claims expected / included.
  int seeds_expected = 0, seeds_on_chain_once = 0;
  int claims_expected = 0, claims_included = 0;
  // Stages whose MsgPoCV2StoreCommit on chain counts every artifact the ML nodes generated, and
  // whose MsgMLNodeWeightDistribution has a weight per ML node (and its ledger row included).
  int commits_expected = 0, commits_complete = 0, weights_complete = 0;
  // Ledger keys that are not one of the node-manager's messages for a stage of the run.
  int unexpected_messages = 0;
  std::string unexpected;
  int ledger_failed = 0;     // ledger rows in state failed (a refused duplicate would land here)
  std::string ledger_error;  // the first failed row's key and error
  // kill -9 of the leader → the first block handled by a leader with a higher token (polled
  // every 50 ms from the replicas' status).
  absl::Duration failover_p50, failover_p99, failover_max;
  std::string missing;  // the first (stage, node) pairs without generation, for the report
  std::string ToString() const;
};

// An error means the experiment could not run (a process did not start), not that a command was
// lost — those are counted in the result.
absl::StatusOr<NodeManagerChaosResult> RunNodeManagerChaos(const NodeManagerChaosOptions& options);

}  // namespace gonka

#endif  // TESTS_CHAOS_NODEMANAGER_CHAOS_H_
