// bench/chaos_partitions: the partition rounds of tests/partitions at full length, as root: the
// event hub suite (3 edge-api replicas, Redis, a 3-node NATS cluster and devchain, each on its own
// test host) and the signer suite (3 signers, PostgreSQL and 3 NATS nodes on their own hosts,
// devchain and producers on the test host), >= 100 partition faults each by default. Prints the
// exactly-once verdicts and, per fault type, the pause it caused as a ratio of the cut's own
// length (below 1: the system recovered while the cut was still on; about 1 or more: it waited
// for the heal). Exit 1 on any gap, duplicate, reorder, lost key or ledger disagreement.
//
//   bazel build //bench/chaos_partitions
//   bazel-bin/bench/chaos_partitions/chaos_partitions --suite=both --faults=100 [--seed=N]
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gonka/base/config.h"
#include "tests/chaos/signer_chaos.h"
#include "tests/partitions/eventhub_partitions.h"

namespace {

bool RunEventHub(int faults, uint64_t seed, const std::vector<std::string>& types) {
  gonka::PartitionChaosOptions options;
  options.types = types;
  options.faults = faults;
  options.seed = seed;
  absl::StatusOr<gonka::PartitionChaosResult> r = gonka::RunEventHubPartitions(options);
  if (!r.ok()) {
    std::printf("chaos_partitions eventhub: could not run: %s\n", r.status().ToString().c_str());
    return false;
  }
  std::printf("chaos_partitions eventhub: %s\n", r->ToString().c_str());
  for (const auto& [type, stats] : r->per_type) {
    // A cut lasts options.cut plus up to 1 s of jitter: compare with its mean.
    const double cut = absl::ToDoubleSeconds(options.cut) + 0.5;
    std::printf(
        "chaos_partitions eventhub: %-22s n=%3d leader_changed=%3d pause p50 %.2f s (%.2fx cut) "
        "p99 %.2f s (%.2fx cut) max %.2f s\n",
        type.c_str(), stats.injected, stats.leader_changed,
        absl::ToDoubleSeconds(stats.Quantile(0.5)),
        absl::ToDoubleSeconds(stats.Quantile(0.5)) / cut,
        absl::ToDoubleSeconds(stats.Quantile(0.99)),
        absl::ToDoubleSeconds(stats.Quantile(0.99)) / cut,
        absl::ToDoubleSeconds(stats.Quantile(1.0)));
  }
  bool ok = r->faults == faults && r->first_height == 1 && r->gaps == 0 && r->duplicates == 0 &&
            r->reorders == 0 && r->content_mismatch.empty();
  std::printf("chaos_partitions eventhub: %s\n", ok ? "PASS" : "FAIL");
  return ok;
}

bool RunSigner(int faults, uint64_t seed) {
  gonka::SignerChaosOptions options;
  options.seed = seed;
  options.partition_faults = faults;
  options.partition_length = absl::Seconds(3);
  options.produce_over = absl::Seconds(6) * faults + absl::Seconds(4);
  options.total_keys = 100 * faults;
  options.max_batch = 8;
  options.min_signer_kills = faults / 2;
  options.kill_interval_min = absl::Seconds(4);
  options.kill_interval_max = absl::Seconds(10);
  options.duplicate_window = absl::Seconds(2);
  options.nats_node_kills = 0;
  options.cluster_restarts = 0;
  options.producer_outbox = true;
  options.settle_timeout = absl::Seconds(120);
  absl::StatusOr<gonka::SignerChaosResult> r = gonka::RunSignerChaos(options);
  if (!r.ok()) {
    std::printf("chaos_partitions signer: could not run: %s\n", r.status().ToString().c_str());
    return false;
  }
  std::printf("chaos_partitions signer: %s\n", r->ToString().c_str());
  const double cut = absl::ToDoubleSeconds(options.partition_length);
  for (const auto& [type, stats] : r->partitions) {
    std::printf(
        "chaos_partitions signer: %-26s n=%3d inclusion stall p50 %.2f s (%.2fx cut) max %.2f s "
        "(%.2fx cut)\n",
        type.c_str(), stats.injected, absl::ToDoubleSeconds(stats.Median()),
        absl::ToDoubleSeconds(stats.Median()) / cut, absl::ToDoubleSeconds(stats.Max()),
        absl::ToDoubleSeconds(stats.Max()) / cut);
  }
  bool ok = r->partition_faults == faults && r->Clean() && r->self_check_passed;
  std::printf("chaos_partitions signer: %s\n", ok ? "PASS" : "FAIL");
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  gonka::Config config("chaos_partitions");
  std::string suite;
  int faults = 0;
  int64_t seed = 0;
  config.AddString("suite", &suite, "both", "eventhub, signer or both");
  config.AddInt("faults", &faults, 100, "partition faults per suite").Range(1, 100000);
  config.AddInt("seed", &seed, 0, "random seed (0 = random, printed)").NonNegative();
  std::string eventhub_types;
  config.AddString("eventhub-types", &eventhub_types, "",
                   "comma-separated event hub fault types (default: all)");
  if (absl::Status s = config.Parse(argc, argv); !s.ok() || config.help_requested()) {
    std::fprintf(stderr, "%s\n%s\n", std::string(s.message()).c_str(), config.Usage().c_str());
    return s.ok() ? 0 : 2;
  }
  if (suite != "eventhub" && suite != "signer" && suite != "both") {
    std::fprintf(stderr, "--suite: \"%s\" is not eventhub, signer or both\n", suite.c_str());
    return 2;
  }
  bool ok = true;
  std::vector<std::string> types = absl::StrSplit(eventhub_types, ',', absl::SkipEmpty());
  if (suite != "signer") ok = RunEventHub(faults, static_cast<uint64_t>(seed), types) && ok;
  if (suite != "eventhub") ok = RunSigner(faults, static_cast<uint64_t>(seed)) && ok;
  std::printf("chaos_partitions: %s\n", ok ? "PASS" : "FAIL");
  return ok ? 0 : 1;
}
