// versiond_router_bench: tests/versiond/router_proof.h with longer rounds. Exit 0 when the run is
// clean (0 non-2xx, 0 errors, 0 cut streams, no bad-binary answer, no unexplained escrow move,
// kill -9 left nothing behind), 1 otherwise, 2 for bad flags.
#include <cstdio>

#include "gonka/base/config.h"
#include "tests/versiond/router_proof.h"

int main(int argc, char** argv) {
  gonka::Config config("versiond_router_bench");
  gonka::proof::ProofOptions o;
  int64_t seed = 0;
  config.AddInt("seed", &seed, 0, "0 = from the clock");
  config.AddInt("swaps", &o.swaps, 30, "binary swaps (3 of them after bad binaries)");
  config.AddInt("evacuations", &o.evacuations, 9, "host evacuations (one host at a time)");
  config.AddInt("request-clients", &o.request_clients, 6, "keep-alive request clients");
  config.AddInt("escrows", &o.escrows, 300, "escrow ids");
  config.AddInt("long-stream-events", &o.long_stream_events, 50, "events per long stream");
  if (auto s = config.Parse(argc, argv); !s.ok()) {
    std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
    return 2;
  }
  if (config.help_requested()) {
    std::printf("%s", config.Usage().c_str());
    return 0;
  }
  o.seed = static_cast<uint32_t>(seed);
  absl::StatusOr<gonka::proof::ProofResult> r = gonka::proof::RunRouterProof(o);
  if (!r.ok()) {
    std::fprintf(stderr, "versiond_router_bench: %s\n", r.status().ToString().c_str());
    return 1;
  }
  std::printf("versiond_router_bench: %s\n", r->ToString().c_str());
  return r->clean(o.kill9) ? 0 : 1;
}
