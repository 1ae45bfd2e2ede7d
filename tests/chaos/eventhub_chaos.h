// The event hub chaos experiment, shared by tests/chaos (CI: 20 failovers) and
// bench/chaos_eventhub (100+): devchain, Redis, NATS JetStream and 3 edge-api replicas as real
// processes; random faults on the leader (kill -9, SIGSTOP past the lease then SIGCONT, SIGTERM
// drain), devchain dropping every WebSocket, /block_results failing for an upcoming height, and
// the lease store (Redis, or NATS with --coordination=nats) crashing and restarting; an independent
// checker reads the stream from height 1 and compares each block with devchain's. Test-only.
#ifndef TESTS_CHAOS_EVENTHUB_CHAOS_H_
#define TESTS_CHAOS_EVENTHUB_CHAOS_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace gonka {

struct ChaosOptions {
  uint64_t seed = 0;   // 0 = random (printed)
  int failovers = 20;  // leader failovers to cause
  // A 3-node NATS cluster with an R3 stream; adds node crashes and whole-cluster restarts.
  bool nats_cluster = false;
  // Where the replicas keep their lease and cursor (edge-api --coordination): "redis", or
  // "nats" (JetStream KV; no Redis process is started, and the store fault restarts NATS).
  std::string coordination = "redis";
};

struct ChaosResult {
  uint64_t seed = 0;
  int failovers = 0;
  int64_t heights = 0;  // records the checker read
  int64_t first_height = 0;
  int gaps = 0;
  int duplicates = 0;
  int reorders = 0;
  // Longest time between two consecutive heights reaching the checker.
  absl::Duration max_emission_pause;
  // Failover pauses on kill -9 of the leader, measured at the publisher: the stream's stored
  // time of the first record after the kill minus that of the last record before it (the
  // server stamps a record when the publish reaches it).
  int kills = 0;
  absl::Duration kill_pause_p50, kill_pause_p99, kill_pause_max;
  std::string content_mismatch;  // "" when every block equals devchain's
  std::string ToString() const;
};

// An error means the experiment could not run (a process did not start), not that a block was
// lost — those are counted in the result.
absl::StatusOr<ChaosResult> RunEventHubChaos(const ChaosOptions& options);

}  // namespace gonka

#endif  // TESTS_CHAOS_EVENTHUB_CHAOS_H_
