// The rolling-restart experiment shared by //gonka/testing:rollout_test (a few restarts, in
// tools/test) and bench/rollout (the long run): real HAProxy built from
// deploy/haproxy/haproxy.cfg.template in front of N test_daemon replicas, constant load through
// HAProxy (keep-alive GETs of a slow endpoint, POSTs whose echo is checked, and back-to-back SSE
// streams), while the replicas are restarted one at a time with the documented procedure
// (docs/operations.md, "Rolling restarts behind HAProxy"):
//
//   SIGTERM → HAProxy marks it DOWN (its /ready fails during the announce window) → it drains
//   and exits → start it → /ready 200 → wait until HAProxy's runtime API shows it UP → next.
//
// The template's retry policy is used as is (`retry-on conn-failure`: nothing that could have
// reached a replica is replayed) or with every retry turned off (`router_retries = false`), and
// HAProxy's own retry/redispatch counters are reported, so a run shows whether 0 errors needed
// any retry at all. Every response, connection error and stream is counted. Test-only.
#ifndef GONKA_TESTING_ROLLOUT_HARNESS_H_
#define GONKA_TESTING_ROLLOUT_HARNESS_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace gonka {
namespace testing {

struct RolloutOptions {
  int replicas = 2;
  int rounds = 2;  // each round restarts every replica once
  int request_clients = 4;
  int stream_clients = 2;
  int post_every = 4;           // every Nth request of a client is a POST /echo (0 = none)
  int slow_ms = 20;             // GET /slow?ms=
  int stream_events = 20;       // events per SSE stream
  int stream_interval_ms = 50;  // between events
  // Must cover HAProxy's DOWN detection (inter 500ms + fastinter 250ms with fall 2, plus the
  // checks themselves): see the timing contract in docs/operations.md.
  std::string drain_announce = "2s";
  std::string shutdown_grace = "20s";
  // true: after a restart, wait until HAProxy shows the replica UP before the next one (the
  // documented procedure). false: move on as soon as its /ready answers 200 — the old, broken
  // step, kept to reproduce what it costs (HAProxy 503s while no replica is UP).
  bool wait_for_router_up = true;
  // true: the template's retry policy as is. false: HAProxy retries nothing at all (its
  // `retries` and `retry-on` lines become `retries 0` and `retry-on none`), to show that a
  // rollout needs no router retry, not even of connections that never reached a replica.
  bool router_retries = true;
};

struct RolloutResult {
  uint64_t requests = 0;       // responses received
  uint64_t posts = 0;          // of which POSTs
  uint64_t non_2xx = 0;        // responses with a status outside 200..299
  uint64_t bad_answers = 0;    // 2xx whose body was not the expected one (POST echo)
  uint64_t resets = 0;         // connection errors (reset, EOF mid-response, refused)
  uint64_t streams = 0;        // SSE streams completed
  uint64_t cut_streams = 0;    // streams that ended early or with an error
  uint64_t restarts = 0;       // replica restarts performed
  uint64_t unclean_exits = 0;  // replicas whose drain did not exit 0
  // HAProxy's counters for the backend ("show stat"): retries (wretr), redispatches (wredis),
  // response errors (eresp) and connection errors (econ).
  uint64_t router_retries = 0;
  uint64_t router_redispatches = 0;
  uint64_t router_response_errors = 0;
  uint64_t router_connect_errors = 0;
  // Longest time from SIGTERM until HAProxy showed the replica DOWN (must stay inside the
  // announce window), and from /ready 200 until HAProxy showed it UP again.
  absl::Duration max_down_after_sigterm;
  absl::Duration max_up_after_ready;
  std::string retry_policy;  // the retries / retry-on / redispatch / http-reuse lines used
  absl::Duration elapsed;

  // 0 non-2xx, 0 bad answers, 0 resets, 0 cut streams, every replica exited 0.
  bool clean() const;
  std::string ToString() const;
};

// Runs the experiment; an error means the setup failed (HAProxy or a replica did not start, or
// HAProxy did not mark a replica DOWN/UP in time), not that requests failed — those are counted
// in the result.
absl::StatusOr<RolloutResult> RunRollout(const RolloutOptions& options);

}  // namespace testing
}  // namespace gonka

#endif  // GONKA_TESTING_ROLLOUT_HARNESS_H_
