// The rolling-restart experiment shared by the rollout test (a few rounds, in tools/test) and
// bench/rollout (the full x10): real HAProxy built from deploy/haproxy/haproxy.cfg.template in
// front of N test_daemon replicas, constant load through HAProxy (keep-alive GETs of a slow
// endpoint, POSTs, and back-to-back SSE streams), while the replicas are restarted one at a time
// with SIGTERM. Every response, connection error and stream is counted. Test-only.
#ifndef GONKA_DRAIN_ROLLOUT_HARNESS_H_
#define GONKA_DRAIN_ROLLOUT_HARNESS_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace gonka {

struct RolloutOptions {
  int replicas = 2;
  int rounds = 2;  // each round restarts every replica once
  int request_clients = 4;
  int stream_clients = 2;
  int slow_ms = 20;             // GET /slow?ms=
  int stream_events = 20;       // events per SSE stream
  int stream_interval_ms = 50;  // between events
  std::string drain_announce = "2s";
  std::string shutdown_grace = "20s";
};

struct RolloutResult {
  uint64_t requests = 0;       // responses received
  uint64_t non_2xx = 0;        // responses with a status outside 200..299
  uint64_t resets = 0;         // connection errors (reset, EOF mid-response, refused)
  uint64_t streams = 0;        // SSE streams completed
  uint64_t cut_streams = 0;    // streams that ended early or with an error
  uint64_t restarts = 0;       // replica restarts performed
  uint64_t unclean_exits = 0;  // replicas whose drain did not exit 0
  absl::Duration elapsed;
  std::string ToString() const;
};

// Runs the experiment; an error means the setup failed (HAProxy or a replica did not start),
// not that requests failed — those are counted in the result.
absl::StatusOr<RolloutResult> RunRollout(const RolloutOptions& options);

}  // namespace gonka

#endif  // GONKA_DRAIN_ROLLOUT_HARNESS_H_
