// The event hub under network partitions, shared by tests/partitions (CI: one fault of each type)
// and bench/chaos_partitions (100+). Each process on its own test host (gonka/testing/hosts.h):
//   host 0 Redis (leases, cursor) · hosts 1-3 edge-api replicas, each reaching Redis through a
//   latency relay on its own host · hosts 4-6 a 3-node NATS JetStream cluster (R3 block stream) ·
//   host 7 devchain · the test host: an independent checker reading the stream from height 1.
// Faults, in a seeded order (printed): the leader cut from Redis (both ways, or one way), from a
// NATS majority, from the chain node; one NATS node cut from its peers (clients still reach it);
// the leader's link down; a latency spike on the leader's Redis path past its renew deadline; a
// Redis cut followed by kill -9 of the replica that took over. After each fault the network heals
// and emission must resume; the checker then asserts every height exactly once, in order, equal
// to devchain's. Test-only.
#ifndef TESTS_PARTITIONS_EVENTHUB_PARTITIONS_H_
#define TESTS_PARTITIONS_EVENTHUB_PARTITIONS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace gonka {

struct PartitionChaosOptions {
  uint64_t seed = 0;  // 0 = random (printed)
  // Faults to inject. Types are drawn as shuffled rounds of all types, so any multiple of the
  // type count injects each type equally often.
  int faults = 8;
  // How long each cut lasts (past the 2 s lease).
  absl::Duration cut = absl::Seconds(3);
  // Only these fault types (names as printed); empty = all.
  std::vector<std::string> types;
};

// What each fault type did: how often, the pause it caused at the checker (longest gap between
// two consecutive heights from the fault's start to recovery), and how often leadership moved.
struct FaultTypeStats {
  int injected = 0;
  int leader_changed = 0;
  std::vector<absl::Duration> pauses;
  absl::Duration Quantile(double q) const;
};

struct PartitionChaosResult {
  uint64_t seed = 0;
  int faults = 0;
  int64_t heights = 0;
  int64_t first_height = 0;
  int gaps = 0;
  int duplicates = 0;
  int reorders = 0;
  std::string content_mismatch;  // "" when every block equals devchain's
  // Times, after a fault healed, that two replicas still claimed leadership 5 s later.
  int lingering_two_leaders = 0;
  std::map<std::string, FaultTypeStats> per_type;
  std::string ToString() const;
  // One line per fault type: "  <type>: n=.. leader_changed=.. pause p50=.. max=..".
  std::string PauseTable() const;
};

// An error means the experiment could not run (not root, a process did not start, emission did
// not resume within 45 s after a heal — the message names the fault); lost or duplicated blocks
// are counted in the result.
absl::StatusOr<PartitionChaosResult> RunEventHubPartitions(const PartitionChaosOptions& options);

}  // namespace gonka

#endif  // TESTS_PARTITIONS_EVENTHUB_PARTITIONS_H_
