// The router proof of issue 18, shared by //tests/versiond:versiond_router_proof_test (the CI
// round) and bench/versiond_router (longer rounds): versiond-router — real HAProxy on
// deploy/haproxy/versiond-router.cfg.template — in front of three real versiond hosts, each with
// its own version oracle listing one version ("app") as a devchild variant.
//
// While constant load runs through the router (keep-alive POSTs on many escrow ids, plus SSE
// streams, some of them long), the run:
//   - swaps binaries through each host's oracle (a new devchild variant, another sha256), and
//     waits until that host's versiond has swapped;
//   - offers three bad binaries at once (one host each: a sha256 that does not match the bytes,
//     a child that never gets ready, a child that crashes at start), waits until each host has
//     refused or failed it, then swaps each to a good one;
//   - evacuates hosts one at a time through HAProxy's runtime API (gonka::router::EvacuateHost:
//     drain in every backend → sessions 0 → SIGTERM to versiond, which exits), one of them with
//     the operator command (tools/evacuate), starts a replacement versiond at the same address
//     and returns it (ReturnHost);
// then, with the load stopped, kill -9s one versiond and checks that its children die and every
// port it and they held is free, and that a restarted versiond serves again behind the router.
//
// Every response is counted, and its host (X-Versiond-Backend) and binary (X-Devchild-Version)
// recorded: each escrow's host changes only as the consistent hash says — away from its host
// while that host is evacuated, back when the replacement returns — and each binary label is
// only ever answered by the host whose oracle listed it. Test-only.
#ifndef TESTS_VERSIOND_ROUTER_PROOF_H_
#define TESTS_VERSIOND_ROUTER_PROOF_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace gonka {
namespace proof {

struct ProofOptions {
  uint32_t seed = 0;  // 0 = from the clock (printed in the result)
  int swaps = 10;     // good binary swaps, round-robin over the hosts (bad-binary recoveries count)
  int evacuations = 3;
  bool bad_binaries = true;
  bool kill9 = true;
  int command_evacuation = 2;  // which evacuation runs through tools/evacuate (-1: none)
  int request_clients = 6;
  int escrows = 300;
  int request_delay_ms = 2;
  int short_stream_clients = 2;  // n=10 events, 50 ms apart
  int long_stream_clients = 2;   // n=long_stream_events, 100 ms apart
  int long_stream_events = 30;
};

struct ProofResult {
  uint32_t seed = 0;
  uint64_t requests = 0;
  uint64_t non_2xx = 0;
  uint64_t errors = 0;  // connection errors, resets, incomplete responses
  uint64_t streams = 0;
  uint64_t long_streams = 0;
  uint64_t cut_streams = 0;  // ended before `event: end`, out of order, or not 200
  int swaps = 0;
  int bad_binaries_refused = 0;
  uint64_t bad_binary_responses = 0;   // answers from a bad binary's label (must be 0)
  uint64_t label_host_violations = 0;  // a label answered by a host whose oracle never listed it
  int evacuations = 0;
  int command_evacuations = 0;
  int64_t max_sessions_at_drain = 0;
  absl::Duration max_drain;
  uint64_t escrows_seen = 0;
  uint64_t moved_away = 0;         // escrows that left their evacuated host (once)
  uint64_t moved_back = 0;         // moves onto a host as it returned (must be 0: pinned)
  uint64_t unexplained_moves = 0;  // any other host change (must be 0)
  // HAProxy's backend counters (wretr, wredis): retries it made on its own.
  uint64_t router_retries = 0;
  uint64_t router_redispatches = 0;
  bool kill9_children_reaped = false;
  bool kill9_ports_free = false;
  bool kill9_restarted = false;
  absl::Duration elapsed;

  // 0 non-2xx, 0 errors, 0 cut streams, 0 bad-binary answers, 0 label violations, 0 unexplained
  // moves, and kill -9 (if run) left nothing behind.
  bool clean(bool kill9) const;
  std::string ToString() const;
};

// An error means the run could not be carried out (a host did not start, a swap did not happen
// in time, an evacuation failed); request outcomes are counted in the result.
absl::StatusOr<ProofResult> RunRouterProof(const ProofOptions& options);

}  // namespace proof
}  // namespace gonka

#endif  // TESTS_VERSIOND_ROUTER_PROOF_H_
