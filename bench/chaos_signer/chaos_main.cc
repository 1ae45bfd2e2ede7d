// bench/chaos_signer: the tx queue exactly-once proof at full length: 3 producers
// enqueue 10,000 MsgRecord requests in total (10 % twice, some much later) while 3 signer workers
// are kill -9'd at random (>= 50 kills), one node of the 3-node NATS cluster (R3 stream) is
// killed now and then and the whole cluster is restarted once. Prints the seed and one summary
// line (messages, kills, duplicates, lost, ledger disagreements); exit 1 unless every key is on
// chain exactly once and the ledger agrees.
//
//   bazel run //bench/chaos_signer -- --messages=10000 --signer-kills=50 --max-batch=8 [--seed=N]
#include <cstdio>
#include <string>

#include "absl/time/time.h"
#include "gonka/base/config.h"
#include "tests/chaos/signer_chaos.h"

int main(int argc, char** argv) {
  gonka::Config config("chaos_signer");
  gonka::SignerChaosOptions options;
  int64_t seed = 0;
  int messages = 0;
  config.AddInt("messages", &messages, 10000, "unique keys in total, split over the producers")
      .Range(1, 1000000);
  config.AddInt("producers", &options.producers, 3, "producer threads").Range(1, 64);
  config.AddInt("signers", &options.signers, 3, "signer worker processes").Range(1, 16);
  config.AddInt("max-batch", &options.max_batch, 8, "messages per tx (SIGNER_MAX_BATCH)")
      .Range(1, 256);
  config.AddInt("signer-kills", &options.min_signer_kills, 50, "at least this many signer kill -9")
      .Range(0, 100000);
  config.AddDuration("kill-interval-min", &options.kill_interval_min, absl::Seconds(1),
                     "shortest time between two signer kills");
  config.AddDuration("kill-interval-max", &options.kill_interval_max, absl::Seconds(3),
                     "longest time between two signer kills");
  config.AddDouble("duplicate-fraction", &options.duplicate_fraction, 0.10,
                   "share of keys enqueued twice on purpose");
  config.AddDuration("produce-over", &options.produce_over, absl::Seconds(90),
                     "each producer spreads its keys over this long (0 = as fast as it can)");
  config.AddDuration("duplicate-window", &options.duplicate_window, absl::Seconds(10),
                     "the stream's Nats-Msg-Id dedupe window");
  config.AddBool("nats-cluster", &options.nats_cluster, true,
                 "3-node NATS cluster with an R3 stream (false: one server, which the node "
                 "kills and restarts hit)");
  config.AddInt("nats-node-kills", &options.nats_node_kills, 3, "NATS node kill -9 + restart")
      .Range(0, 1000);
  config.AddInt("cluster-restarts", &options.cluster_restarts, 1, "whole-cluster restarts")
      .Range(0, 100);
  int64_t tx_ttl_ms = 60000;
  config.AddInt("tx-ttl-ms", &tx_ttl_ms, 60000, "the signers' tx lifetime (SIGNER_TX_TTL_MS)")
      .Range(500, 600000);
  config
      .AddDuration("reenqueue-after", &options.reenqueue_after, absl::Seconds(15),
                   "the signers' Reconciler: re-enqueue a request whose ledger row has not "
                   "changed this long (0 = off)")
      .NonNegative();
  config.AddBool("producer-outbox", &options.producer_outbox, true,
                 "producers enqueue with signer::EnqueueRecorded (ledger first, then publish); "
                 "false: plain TxQueue::Enqueue, which nats-server 2.9 can lose in a whole-cluster "
                 "restart before any signer saw it");
  config.AddBool("cluster-kill9", &options.cluster_kill9, false,
                 "the whole-cluster restart is a kill -9 of every node (nats-server 2.9 can then "
                 "lose the last acknowledged messages; see tests/chaos/signer_chaos.h)");
  config
      .AddInt("broadcast-drops", &options.broadcast_drops, 0,
              "windows in which devchain answers broadcasts but drops them")
      .Range(0, 1000);
  config.AddDuration("settle-timeout", &options.settle_timeout, absl::Seconds(180),
                     "after the chaos, how long to wait for every key to settle");
  config.AddBool("verbose", &options.verbose, true, "print each fault as it happens");
  config.AddInt("seed", &seed, 0, "random seed (0 = random, printed)").NonNegative();
  if (absl::Status s = config.Parse(argc, argv); !s.ok() || config.help_requested()) {
    std::fprintf(stderr, "%s\n%s\n", std::string(s.message()).c_str(), config.Usage().c_str());
    return s.ok() ? 0 : 2;
  }
  options.seed = static_cast<uint64_t>(seed);
  options.tx_ttl = absl::Milliseconds(tx_ttl_ms);
  options.total_keys = messages;
  absl::StatusOr<gonka::SignerChaosResult> r = gonka::RunSignerChaos(options);
  if (!r.ok()) {
    std::fprintf(stderr, "chaos setup failed: %s\n", r.status().ToString().c_str());
    return 2;
  }
  std::printf("chaos_signer: %s\n", r->ToString().c_str());
  const bool ok = r->Clean() && r->self_check_passed;
  std::printf(
      "chaos_signer: messages %lld, signer kills %d, NATS node kills %d, cluster restarts %d, "
      "duplicates %lld, lost %lld, ledger disagreements %lld, re-enqueued from the ledger %lld, "
      "checker self-check %s: %s\n",
      static_cast<long long>(r->unique_keys), r->signer_kills, r->nats_node_kills,
      r->cluster_restarts, static_cast<long long>(r->duplicates_on_chain),
      static_cast<long long>(r->lost), static_cast<long long>(r->ledger_disagreements),
      static_cast<long long>(r->reenqueued), r->self_check_passed ? "passed" : "FAILED",
      ok ? "PASS" : "FAIL");
  return ok ? 0 : 1;
}
