// LeaderElector: one leader at a time among candidates sharing a lease, with a fencing token.
//
// Contract:
//   - Start() connects and campaigns in the background. At most one candidate holds the lease;
//     each term gets a FencingToken strictly greater than every earlier one, and OnElected(token)
//     runs when this candidate wins. Every side effect the leader makes should carry the token so
//     the store can reject it once a newer token exists (see fenced_write.h, docs/election.md).
//   - The leader renews every `renew_interval`. If it has not renewed successfully within
//     `renew_deadline` of the start of its last successful renew, it steps down LOCALLY: IsLeader()
//     turns false, OnRevoked(reason) runs, a warning is logged and
//     gonka_election_step_downs_total is incremented. Because renew_deadline < lease_ttl -
//     drift_margin, this happens before the server-side lease can expire, so a paused or
//     partitioned leader stops acting before anyone else can start. A lost lease is never re-taken
//     silently: the next term is a new election with a new token and a new OnElected.
//   - Stop() releases the lease (compare-owner delete), so a waiting candidate takes over at once,
//     and runs OnRevoked("stopped") if it was leader.
//   - IsLeader() also checks the local deadline on the caller's clock, so right after a process
//     resumes from a long pause it is false even before the background thread has run. A
//     watchdog thread enforces the deadline even while the elector is blocked in a server call.
//
// Thread-safety: all methods are thread-safe. Callbacks run on the elector's own threads (its
// loop, or its deadline watchdog), one at a time, in order (OnElected(t) before the matching
// OnRevoked); do not call Stop() from a callback.
//
// Example:
//   LeaderElectorOptions options;
//   options.identity = "edge-api-1";
//   options.on_elected = [&](FencingToken t) { hub.BecomeLeader(t); };
//   options.on_revoked = [&](absl::string_view why) { hub.BecomeFollower(); };
//   ASSIGN_OR_RETURN(auto elector, NewRedisLeaderElector(redis_options, "edge-api", options));
//   RETURN_IF_ERROR(elector->Start());
//   ...
//   elector->Stop();   // on drain: immediate handoff
#ifndef GONKA_ELECTION_LEADER_ELECTOR_H_
#define GONKA_ELECTION_LEADER_ELECTOR_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gonka/base/clock.h"

namespace gonka {
namespace election {

// Strictly increasing per election across terms; 0 means "no token".
using FencingToken = int64_t;

// The outcome of a fenced write (RedisFence, JetStreamFence): "write only if my token is still
// the newest".
struct FenceResult {
  bool applied = false;
  // The newest token known to the store (when rejected: the one that superseded ours).
  FencingToken newest_token = 0;
  // For IncrBy when applied: the new value.
  int64_t value = 0;
};

struct LeaderElectorOptions {
  // Names this candidate in logs, metrics and the lease value. Required.
  std::string identity;
  // How long the server keeps the lease without a renew.
  absl::Duration lease_ttl = absl::Seconds(2);
  // How often the leader renews.
  absl::Duration renew_interval = absl::Milliseconds(300);
  // The leader steps down if no renew succeeded within this long. Must be < lease_ttl -
  // drift_margin and > renew_interval.
  absl::Duration renew_deadline = absl::Milliseconds(1500);
  // How often a candidate retries while someone else leads (it also wakes on a release
  // notification, and at the lease's reported expiry if sooner).
  absl::Duration retry_interval = absl::Milliseconds(250);
  // Allowance for clock-rate difference between this host and the server over one TTL.
  absl::Duration drift_margin = absl::Milliseconds(200);
  // Upper bound of the backoff between attempts while the server is unreachable.
  absl::Duration max_error_backoff = absl::Seconds(1);

  std::function<void(FencingToken)> on_elected;
  std::function<void(absl::string_view reason)> on_revoked;

  // Time source (tests pass a FakeClock). Not owned.
  Clock* clock = Clock::Real();
};

// InvalidArgument naming the offending field, e.g. "renew_deadline (2s) must be < lease_ttl (2s)
// - drift_margin (200ms)".
absl::Status ValidateLeaderElectorOptions(const LeaderElectorOptions& options);

class LeaderElector {
 public:
  virtual ~LeaderElector() = default;

  // Connects to the server (Unavailable naming it if unreachable) and starts campaigning.
  // FailedPrecondition if already started.
  virtual absl::Status Start() = 0;
  // Stops campaigning, releases the lease if held, runs OnRevoked("stopped") if leader. Blocks
  // until the background thread has exited. Idempotent.
  virtual void Stop() = 0;
  // True while this candidate holds the lease and is within its renew deadline.
  virtual bool IsLeader() const = 0;
  // The token of the current term while IsLeader(), else 0.
  virtual FencingToken Token() const = 0;
  // The highest token this candidate has seen (held, or observed while acquiring).
  virtual FencingToken HighestTokenSeen() const = 0;
  virtual const std::string& identity() const = 0;
};

}  // namespace election
}  // namespace gonka

#endif  // GONKA_ELECTION_LEADER_ELECTOR_H_
