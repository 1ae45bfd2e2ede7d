// The tx queue and signers under partitions in CI: one fault of each type (GONKA_PARTITION_FAULTS
// for more) while 3 producers enqueue and 3 signers (each on its own test host) are also
// kill -9'd now and then; seed printed (GONKA_CHAOS_SEED replays the choices). Needs root for the
// test hosts: fails, never skips, without it. Every key on chain exactly once, the ledger agreeing.
#include <cstdio>
#include "gonka/testing/process.h"
#include "gonka/testing/env_var.h"
#include "gtest/gtest.h"
#include "tests/chaos/signer_chaos.h"

namespace gonka {
namespace {

TEST(SignerPartitionsTest, EveryKeyOnChainExactlyOnceUnderPartitions) {
  ASSERT_TRUE(testing::RunningAsRoot())
      << "partition tests build network namespaces and need root (CI runs as root)";
  SignerChaosOptions options;
  options.seed = static_cast<uint64_t>(testing::EnvInt("GONKA_CHAOS_SEED", 0));
  options.partition_faults = static_cast<int>(testing::EnvInt("GONKA_PARTITION_FAULTS", 8));
  options.partition_length = absl::Seconds(3);
  // Room for every fault (each holds the network ~6 s) while the producers still produce.
  options.produce_over = absl::Seconds(6) * options.partition_faults + absl::Seconds(4);
  options.total_keys = 100 * options.partition_faults;
  options.producers = 3;
  options.signers = 3;
  options.max_batch = 8;
  options.min_signer_kills = 3;
  options.kill_interval_min = absl::Seconds(4);
  options.kill_interval_max = absl::Seconds(8);
  options.duplicate_window = absl::Seconds(2);
  // The network faults replace the NATS process faults of the crash suite.
  options.nats_cluster = true;
  options.nats_node_kills = 0;
  options.cluster_restarts = 0;
  options.producer_outbox = true;
  options.settle_timeout = absl::Seconds(testing::EnvInt("GONKA_CHAOS_SETTLE_S", 60));
  options.verbose = true;
  absl::StatusOr<SignerChaosResult> r = RunSignerChaos(options);
  ASSERT_TRUE(r.ok()) << r.status();
  std::printf("signer partitions: %s\n%s", r->ToString().c_str(), r->PartitionTable().c_str());
  EXPECT_EQ(r->partition_faults, options.partition_faults);
  EXPECT_TRUE(r->settled) << r->first_problem;
  EXPECT_EQ(r->duplicates_on_chain, 0) << r->first_problem;
  EXPECT_EQ(r->lost, 0) << r->first_problem;
  EXPECT_EQ(r->ledger_disagreements, 0) << r->first_problem;
  EXPECT_EQ(r->signer_crashes, 0) << r->first_problem;
  EXPECT_EQ(r->included_once, r->unique_keys);
  EXPECT_TRUE(r->self_check_passed) << r->first_problem;
}

}  // namespace
}  // namespace gonka
