// The edge-srv chaos experiment, shared by tests/chaos (CI: 2 PoC stages) and bench/chaos_edgesrv
// (longer): devchain (PoC every 200 blocks of 50 ms, a 155-block generation window), nats-server
// and an edge-api emitting the block stream, PostgreSQL with the shared artifact store, three
// edge-srv replicas behind HAProxy (deploy/haproxy/haproxy.cfg.template: /ready checks,
// conn-failure retries only), and `posters` in-test ML nodes posting GeneratedArtifactBatchV2 at
// full speed through HAProxy, each retrying a batch until it is answered 200 (as an ML node
// retries a callback) or its stage's window closes. Meanwhile replicas are killed (-9) and rolled
// (SIGTERM, drain, restart) at random moments, and a committer (the node-manager leader's part)
// calls Commit() on the stage every 200 ms.
// Checked from the store: every nonce answered 200 is in the stage's committed MMR exactly once;
// no nonce appears twice in any stage; nothing is stored that was not posted; a Commit() count
// never went back. Test-only.
#ifndef TESTS_CHAOS_EDGESRV_CHAOS_H_
#define TESTS_CHAOS_EDGESRV_CHAOS_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace gonka {

struct EdgeSrvChaosOptions {
  uint64_t seed = 0;  // 0 = random (printed)
  int stages = 2;     // PoC stages to post through
  int replicas = 3;
  int posters = 4;
  int batch_size = 16;
  // Mean time between faults (each a kill -9 or a SIGTERM roll of a random replica).
  absl::Duration fault_interval = absl::Milliseconds(1500);
  std::string accumulator = "smst";  // the replicas' --accumulator (mmr or smst)
};

struct EdgeSrvChaosResult {
  uint64_t seed = 0;
  std::string accumulator;
  int stages = 0;
  int kills = 0, rolls = 0;
  int64_t batches_posted = 0;     // POSTs made (retries included)
  int64_t batches_acked = 0;      // batches answered 200
  int64_t batches_abandoned = 0;  // batches never answered 200 before their window closed
  int64_t non_200 = 0;            // answers other than 200 and transport errors (retried)
  int64_t acked_nonces = 0;       // nonces in batches answered 200
  int64_t stored = 0;             // artifacts committed over all stages
  int64_t acked_missing = 0;      // acked nonces not in the committed store: must be 0
  int64_t duplicate_nonces = 0;   // a nonce twice in one stage's leaves: must be 0
  int64_t foreign_nonces = 0;     // stored nonces never posted: must be 0
  int64_t count_went_back = 0;    // Commit() counts lower than an earlier one: must be 0
  int64_t commits = 0;            // Commit() calls that succeeded
  int64_t count_mismatch = 0;     // stages whose committed count differs from the leaves read
  std::string ToString() const;
};

// Runs the experiment; errors name the step that could not be set up.
absl::StatusOr<EdgeSrvChaosResult> RunEdgeSrvChaos(const EdgeSrvChaosOptions& options);

}  // namespace gonka

#endif  // TESTS_CHAOS_EDGESRV_CHAOS_H_
