// The tx queue exactly-once experiment (docs/txqueue.md, "Proof"), shared by tests/chaos (CI: a
// short round) and bench/chaos_signer (the full proof: 10,000 messages, >= 50 signer kills).
//
// Real processes and servers: PostgreSQL (the signer ledger), a 3-node NATS JetStream cluster
// with the CHAIN_TX stream at R3 (or one nats-server, `nats_cluster` = false), devchain in this
// process (blocks every 100 ms, its RPC on a loopback port), and `signers` signer worker
// processes (gonka/testing:signer_worker) sharing the queue, the ledger and one key. While
// `producers` threads enqueue MsgRecord requests (a `duplicate_fraction` of them enqueued twice on
// purpose, some right away and some much later, past the stream's duplicate window), a chaos loop:
//   - SIGKILLs a random signer every kill_interval_min..max and restarts it at once;
//   - SIGKILLs a random NATS node `nats_node_kills` times and restarts it after node_down_*
//     (with a single server: that server, so NATS is down meanwhile and may come back without
//     the consumer's latest acks);
//   - stops the whole NATS cluster (or the single server) `cluster_restarts` times (SIGTERM;
//     kill -9 with `cluster_kill9`) and restarts it;
//   - has devchain drop broadcasts (answered as accepted, never included) `broadcast_drops`
//     times, so timed-out txs are replaced by new ones.
// Producers retry Enqueue with the same idempotency key until it is acknowledged, so nothing is
// lost on the producer side. Then the chaos stops and the run waits (up to settle_timeout) until
// every key is on chain, the ledger says included, and the consumer has nothing pending; after a
// quiet period (at least 2 x ack_wait and 5 blocks; an error if the chain stops) the checker
// counts:
//   - on chain (devchain's committed state): each key's MsgRecord count must be exactly 1;
//   - the ledger: each key `included`, with a tx hash that devchain has in a block at the
//     ledger's height with result code 0.
// The seed is printed at the start; a run is reproducible in its choices (keys, duplicates,
// victims, fault order), not in its timing.
//
// Thread-safety: RunSignerChaos may be called from one thread at a time; it starts every child
// process from the calling thread (their parent-death signal is tied to it).
//
// Example:
//   gonka::SignerChaosOptions o;
//   o.keys_per_producer = 500;
//   absl::StatusOr<gonka::SignerChaosResult> r = gonka::RunSignerChaos(o);
//   if (r.ok()) std::printf("%s\n", r->ToString().c_str());   // r->Clean() for the verdict
#ifndef TESTS_CHAOS_SIGNER_CHAOS_H_
#define TESTS_CHAOS_SIGNER_CHAOS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace gonka {

struct SignerChaosOptions {
  uint64_t seed = 0;  // 0 = random (printed)

  // Producers: keys are "chaos/p<producer>/<n>"; each producer spreads its keys evenly over
  // `produce_over` (0 = as fast as it can).
  int producers = 3;
  int keys_per_producer = 500;
  // > 0: the total instead, split as evenly as possible (producer p gets one more key while
  // p < total_keys % producers).
  int64_t total_keys = 0;
  double duplicate_fraction = 0.10;  // share of each producer's keys enqueued twice on purpose
  // Of those, the share enqueued again "much later" (a random 20..100 % of produce_over after
  // the first); the rest right after the first enqueue (deduplicated by the stream).
  double late_duplicate_share = 0.5;
  absl::Duration produce_over = absl::Seconds(20);
  // The stream's Nats-Msg-Id window. Shorter than the late duplicates' delay on purpose: those
  // are stored again by the queue, and only the signer's ledger stops a second effect.
  absl::Duration duplicate_window = absl::Seconds(10);

  // Signers (worker processes).
  int signers = 3;
  int max_batch = 8;                           // SIGNER_MAX_BATCH
  absl::Duration ack_wait = absl::Seconds(3);  // SIGNER_ACK_WAIT_MS
  // The signers' tx lifetime (SIGNER_TX_TTL_MS). A short one (2 s) makes txs whose signer was
  // killed, or that devchain dropped, time out unincluded so that new txs are built under chaos.
  absl::Duration tx_ttl = absl::Seconds(60);
  // The signers' Reconciler (SIGNER_REENQUEUE_AFTER_MS): a ledger row unchanged this long has its
  // request enqueued again. 0 = off (then a request the queue loses stays lost).
  absl::Duration reenqueue_after = absl::Seconds(15);

  // Chaos. The loop runs until production is over AND every planned fault happened; signer kills
  // continue until at least `min_signer_kills`.
  int min_signer_kills = 8;
  absl::Duration kill_interval_min = absl::Seconds(1);
  absl::Duration kill_interval_max = absl::Seconds(3);
  // true: 3-node cluster, R3 stream, node and cluster crashes; false: one NATS server (R1
  // stream), which the node kills and cluster restarts below hit.
  bool nats_cluster = true;
  int nats_node_kills = 1;
  absl::Duration node_down_min = absl::Seconds(2);
  absl::Duration node_down_max = absl::Seconds(6);
  int cluster_restarts = 1;
  // How the whole cluster goes down for a restart: false = SIGTERM to every node (each flushes its
  // store), true = kill -9 of every node at once. nats-server 2.9 acknowledges a stored message
  // before its store has written it out (no per-message fsync, no sync_interval option until
  // 2.10), so killing every replica at the same instant can lose the last messages acknowledged
  // to producers; no client can compensate for that. A single node's kill -9 loses nothing (the
  // other replicas hold the messages).
  bool cluster_kill9 = false;
  // Producers enqueue with signer::EnqueueRecorded (the request is in the ledger before it is
  // published), which covers the requests a whole-cluster kill -9 can lose before any signer saw
  // them.
  bool producer_outbox = false;
  // Windows in which devchain answers broadcasts as accepted but drops them (a node losing
  // txs): those txs time out unincluded and the signers must build new ones, once.
  int broadcast_drops = 0;
  absl::Duration broadcast_drop_length = absl::Milliseconds(1500);

  absl::Duration block_interval = absl::Milliseconds(100);
  // After the chaos stops: how long the run waits for every key to settle.
  absl::Duration settle_timeout = absl::Seconds(90);
  bool verbose = false;  // print each fault as it happens
  // After the count: send one more MsgRecord for a key straight to devchain (not through the
  // queue) and check that the chain counts it, i.e. that a second effect would have been seen.
  bool self_check = true;

  // Partitions (tests/partitions, bench/chaos_partitions). > 0: PostgreSQL, each NATS node and each
  // signer run on their own test host (gonka/testing/hosts.h; needs root), devchain and the
  // producers stay in this process on the test host, each signer reaches devchain through a
  // latency relay on its own host, and this many partition faults, drawn as seeded shuffled rounds
  // of every type, are spread over the chaos span one at a time (alongside the kills above):
  //   signer-chain-cut, signer-chain-answers-lost (devchain -> signer dropped: a broadcast lands,
  //   its answer never comes back), signer-nats-cut, signer-ledger-cut, nats-node-isolated (from
  //   its peers; clients still reach it), signer-link-down, signer-chain-latency (1.5 s each way),
  //   signer-chain-cut+kill (kill -9 of the cut signer mid-cut).
  int partition_faults = 0;
  absl::Duration partition_length = absl::Seconds(3);
};

// One partition fault type in a run: how often, and the longest time without a new inclusion on
// chain from the fault's start to 3 s after its heal (the other signers keep working, so this is
// the stall the service as a whole saw).
struct PartitionFaultStats {
  int injected = 0;
  std::vector<absl::Duration> stalls;
  absl::Duration Max() const;
  absl::Duration Median() const;
};

struct SignerChaosResult {
  uint64_t seed = 0;
  int64_t unique_keys = 0;
  int64_t enqueued = 0;            // acknowledged Enqueue calls (unique keys + second enqueues)
  int64_t duplicate_enqueues = 0;  // second enqueues made on purpose
  // Second enqueues the stream stored again (past its duplicate window or its dedupe state):
  // delivered to the signers, which must skip them through the ledger.
  int64_t duplicates_stored_again = 0;
  int64_t enqueue_retries = 0;  // failed Enqueue attempts retried (NATS outages)
  int signer_kills = 0;
  int signer_exits = 0;  // workers that exited by themselves (e.g. NATS down at start), restarted
  // Of those, exits that were not the worker's orderly "cannot start" (exit code 1): a crash.
  int signer_crashes = 0;
  int nats_node_kills = 0;
  int cluster_restarts = 0;
  int broadcast_drops = 0;
  int partition_faults = 0;
  std::map<std::string, PartitionFaultStats> partitions;  // by fault type

  int64_t included_once = 0;         // keys with exactly one MsgRecord on chain
  int64_t duplicates_on_chain = 0;   // keys with more than one
  int64_t lost = 0;                  // keys with none
  int64_t ledger_disagreements = 0;  // keys whose ledger entry is not included at a real tx
  int64_t ledger_failed = 0;         // of those: ledger state failed (dead-lettered)
  int64_t resigned = 0;              // keys whose ledger shows more than one signed tx
  int64_t reenqueued = 0;            // copies the signers' Reconcilers put back from the ledger
  std::string first_problem;         // one offending key and what is wrong with it
  // self_check: the injected second MsgRecord was counted (the checker can see a duplicate).
  bool self_check_passed = false;

  bool settled = false;        // everything converged before settle_timeout
  absl::Duration chaos_time;   // start of production to the end of the chaos loop
  absl::Duration settle_time;  // end of the chaos loop to convergence
  absl::Duration elapsed;      // whole run, servers included

  // True when every key is on chain exactly once and the ledger agrees.
  bool Clean() const {
    return settled && signer_crashes == 0 && duplicates_on_chain == 0 && lost == 0 &&
           ledger_disagreements == 0 && included_once == unique_keys;
  }
  // One line: seed, messages, kills, duplicates, lost, ledger, times.
  std::string ToString() const;
  // One line per partition fault type: "  <type>: n=.. stall p50=.. max=..".
  std::string PartitionTable() const;
};

// An error means the experiment could not run (a server did not start, NATS never came back);
// duplicates and losses are counted in the result, not returned as errors.
absl::StatusOr<SignerChaosResult> RunSignerChaos(const SignerChaosOptions& options);

}  // namespace gonka

#endif  // TESTS_CHAOS_SIGNER_CHAOS_H_
