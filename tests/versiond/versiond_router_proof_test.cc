// Issue 18's proof, CI round: 10 binary swaps (3 of them after bad binaries), 3 host
// evacuations (one through the operator command) and a kill -9, under constant load through
// versiond-router with SSE streams. GONKA_SEED=<n> replays a run's seed.
#include <cstdio>
#include <cstdlib>

#include "absl/strings/numbers.h"
#include "gtest/gtest.h"
#include "tests/versiond/router_proof.h"

namespace gonka {
namespace proof {
namespace {

TEST(VersiondRouterProof, SwapsEvacuationsAndKill9UnderLoad) {
  ProofOptions options;
  if (const char* s = std::getenv("GONKA_SEED")) (void)absl::SimpleAtoi(s, &options.seed);
  absl::StatusOr<ProofResult> result = RunRouterProof(options);
  ASSERT_TRUE(result.ok()) << result.status();
  std::printf("versiond router proof: %s\n", result->ToString().c_str());
  EXPECT_TRUE(result->clean(options.kill9)) << result->ToString();
  EXPECT_EQ(result->swaps, options.swaps);
  EXPECT_EQ(result->evacuations, options.evacuations);
  EXPECT_EQ(result->command_evacuations, 1);
  EXPECT_EQ(result->bad_binaries_refused, 3);
  EXPECT_GT(result->requests, 1000u);
  EXPECT_GT(result->long_streams, 0u);
  EXPECT_GT(result->moved_away, 0u);
  // Moved once: an evacuated host's escrows stay where they went when a replacement returns.
  EXPECT_EQ(result->moved_back, 0u);
  EXPECT_GE(result->max_sessions_at_drain, 0);
}

}  // namespace
}  // namespace proof
}  // namespace gonka
