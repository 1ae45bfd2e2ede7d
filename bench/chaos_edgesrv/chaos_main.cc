// bench/chaos_edgesrv: the edge-srv chaos experiment at length: 3 edge-srv replicas behind
// HAProxy, in-test ML nodes posting artifact batches at full speed, replicas killed (-9) and
// rolled (SIGTERM) at random, a committer calling Commit() every 200 ms. Prints the seed, the
// batches posted/accepted/abandoned, the artifacts stored and the violations (each must be 0: an
// accepted batch missing from the store, a nonce twice in a stage, a stored nonce never posted, a
// commit count that went back). Exit 1 on any violation.
//
//   bazel build //bench/chaos_edgesrv && bazel-bin/bench/chaos_edgesrv/chaos_edgesrv --stages=10
#include <cstdio>

#include "gonka/base/config.h"
#include "tests/chaos/edgesrv_chaos.h"

int main(int argc, char** argv) {
  gonka::Config config("chaos_edgesrv");
  gonka::EdgeSrvChaosOptions options;
  int64_t seed = 0;
  config.AddInt("stages", &options.stages, 10, "PoC stages to post through").Range(1, 100000);
  config.AddInt("replicas", &options.replicas, 3, "edge-srv replicas").Range(2, 9);
  config.AddInt("posters", &options.posters, 8, "in-test ML nodes posting").Range(1, 64);
  config.AddInt("batch-size", &options.batch_size, 16, "artifacts per batch").Range(1, 4096);
  config.AddDuration("fault-interval", &options.fault_interval, absl::Milliseconds(1500),
                     "mean time between faults");
  config.AddString("accumulator", &options.accumulator, "smst", "the store: mmr or smst")
      .OneOf({"mmr", "smst"});
  config.AddInt("seed", &seed, 0, "random seed (0 = random, printed)").NonNegative();
  if (absl::Status s = config.Parse(argc, argv); !s.ok() || config.help_requested()) {
    std::fprintf(stderr, "%s\n%s\n", std::string(s.message()).c_str(), config.Usage().c_str());
    return s.ok() ? 0 : 2;
  }
  options.seed = static_cast<uint64_t>(seed);
  absl::StatusOr<gonka::EdgeSrvChaosResult> r = gonka::RunEdgeSrvChaos(options);
  if (!r.ok()) {
    std::fprintf(stderr, "chaos setup failed: %s\n", r.status().ToString().c_str());
    return 2;
  }
  std::printf("chaos_edgesrv: %s\n", r->ToString().c_str());
  const bool ok = r->acked_missing == 0 && r->duplicate_nonces == 0 && r->foreign_nonces == 0 &&
                  r->count_went_back == 0 && r->count_mismatch == 0 &&
                  r->stages == options.stages && r->batches_acked > 0;
  std::printf("chaos_edgesrv: %s\n", ok ? "PASS" : "FAIL");
  return ok ? 0 : 1;
}
