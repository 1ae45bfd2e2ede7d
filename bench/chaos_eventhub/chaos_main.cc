// bench/chaos_eventhub: the event hub chaos experiment at full length: 3 edge-api
// replicas, devchain, Redis, NATS; >= 100 random leader failovers; prints failovers, gaps,
// duplicates, the longest emission pause and the kill -9 failover pause p99 (publisher side). Exit
// 1 on any gap, duplicate or content mismatch.
//
//   bazel run //bench/chaos_eventhub -- --failovers=100 [--seed=N]
#include <cstdio>

#include "gonka/base/config.h"
#include "tests/chaos/eventhub_chaos.h"

int main(int argc, char** argv) {
  gonka::Config config("chaos_eventhub");
  gonka::ChaosOptions options;
  int64_t seed = 0;
  config.AddInt("failovers", &options.failovers, 100, "leader failovers to cause").Range(1, 100000);
  config.AddInt("seed", &seed, 0, "random seed (0 = random, printed)").NonNegative();
  config.AddBool("nats-cluster", &options.nats_cluster, false,
                 "3-node NATS cluster, R3 stream, node and cluster crashes");
  if (absl::Status s = config.Parse(argc, argv); !s.ok() || config.help_requested()) {
    std::fprintf(stderr, "%s\n%s\n", std::string(s.message()).c_str(), config.Usage().c_str());
    return s.ok() ? 0 : 2;
  }
  options.seed = static_cast<uint64_t>(seed);
  absl::StatusOr<gonka::ChaosResult> r = gonka::RunEventHubChaos(options);
  if (!r.ok()) {
    std::fprintf(stderr, "chaos setup failed: %s\n", r.status().ToString().c_str());
    return 2;
  }
  std::printf("chaos_eventhub: %s\n", r->ToString().c_str());
  std::printf(
      "chaos_eventhub: failover pause on kill -9 (publisher side, %d kills): p99 %.2f s (limit "
      "<= 3 s), max %.2f s\n",
      r->kills, absl::ToDoubleSeconds(r->kill_pause_p99), absl::ToDoubleSeconds(r->kill_pause_max));
  bool ok = r->gaps == 0 && r->duplicates == 0 && r->reorders == 0 && r->content_mismatch.empty();
  std::printf("chaos_eventhub: %s\n", ok ? "PASS" : "FAIL");
  return ok ? 0 : 1;
}
