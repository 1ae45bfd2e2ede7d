// Emitter: the event hub's leader loop (docs/eventhub.md, "The guarantee and how it holds").
// Every replica runs one; only the one whose LeaderElector holds the lease emits. For each height
// h it fetches /block and /block_results, normalises them into one BlockEvents record and
// publishes it to JetStream with Nats-Msg-Id "<chain-id>/<h>" and Nats-Expected-Last-Msg-Id
// "<chain-id>/<h-1>", so the stream itself refuses a gap, a reorder or a second writer, and a
// retried publish is absorbed by the dedupe window. It advances the cursor
// `last_processed_height` with a write fenced by the leader's token after at most `cursor_every`
// published heights or `cursor_interval`, and when it has caught up (a cursor behind the stream
// is harmless: resume takes the max of both).
//
// Catch-up pipeline, three stages that overlap:
//   fetch    `fetchers` threads fetch heights ahead, `fetch_batch` heights per JSON-RPC batch
//            request (/block and /block_results of each), at most `fetch_window` heights ahead of
//            the next one to publish, into a reorder window keyed by height. A height whose
//            fetch failed is re-fetched alone, never skipped.
//   publish  the loop publishes strictly in height order without waiting for each ack: up to
//            `max_inflight` publishes are unacked at once, each fenced on its predecessor, so
//            if one is refused every later one is refused too and the loop resyncs from the
//            stream. Heights count as emitted when acked, in order.
//   cursor   the fenced cursor write, every `cursor_every` acked heights or `cursor_interval`.
//
// Guarantees: heights appear in the stream exactly once and in order, across leader crashes,
// pauses and restarts of NATS or Redis. A new leader resumes from max(cursor, last message in the
// stream) + 1, or from the stream's last message + 1 when the stream holds fewer heights than the
// cursor (it lost acknowledged records: they are emitted again, not skipped). A height that cannot
// be fetched (pruned, failing) is never skipped: emission stops there, health() reports it (so
// /ready fails) and the loop retries; with an `archive` client, a height the node no longer has
// (NotFound) is fetched from the archive node instead. The WebSocket subscription only wakes the
// loop (Wake()); the loop also polls /status every `poll_interval`, so a dropped socket never
// becomes a gap.
//
//   Emitter emitter(options, &comet, js.get(), coordination->store(), coordination->elector());
//   emitter.Start();                        // also call emitter.Wake() on each NewBlock
//   ... emitter.Stop();
//
// Thread-safety: thread-safe; the loop and the fetchers run on their own threads.
#ifndef GONKA_EVENTHUB_EMITTER_H_
#define GONKA_EVENTHUB_EMITTER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gonka/chain/comet_client.h"
#include "gonka/chain/epoch.h"
#include "gonka/election/fenced_store.h"
#include "gonka/election/leader_elector.h"
#include "gonka/nats/jetstream.h"

namespace prometheus {
class Counter;
class Gauge;
}  // namespace prometheus

namespace gonka {
namespace eventhub {

struct EmitterOptions {
  std::string chain_id;            // required; also checked against every block
  std::string stream = "BLOCKS";   // JetStream stream of BlockEvents records
  std::string subject = "blocks";  // the block subject (derived views live elsewhere)
  int stream_replicas = 1;
  // Key of the cursor in the fenced store; "" = "eventhub:{<chain_id>}:cursor" (a JetStream KV
  // store keeps it as "eventhub__<chain_id>__cursor").
  std::string cursor_key;
  chain::EpochParams epochs;
  // Where to start when both the stream and the cursor are empty: 0 = the chain's current height.
  int64_t start_height = 0;
  absl::Duration poll_interval = absl::Seconds(1);
  // After a failed fetch or publish the loop waits retry_interval, doubling with each further
  // failure up to max_retry_interval; the first emitted height resets it.
  absl::Duration retry_interval = absl::Milliseconds(200);
  absl::Duration max_retry_interval = absl::Seconds(5);
  // Catch-up pipeline: fetcher threads, and how far ahead of the next height to publish they may
  // fetch (records held in memory: at most fetch_window + fetchers * fetch_batch).
  int fetchers = 4;
  int fetch_window = 64;
  // Heights per JSON-RPC batch request; 1 = two GETs per height (for RPC proxies that refuse
  // batches or POST).
  int fetch_batch = 4;
  // Publishes awaiting their JetStream ack at once (1 = publish and wait, height by height).
  int max_inflight = 16;
  // Not owned; nullptr = none. Heights the node no longer serves (pruned: NotFound) are fetched
  // from this archive node instead of stalling.
  chain::CometClient* archive = nullptr;
  // The fenced cursor is written after this many published heights or this much time, whichever
  // comes first, and whenever the loop has caught up with the chain.
  int cursor_every = 100;
  absl::Duration cursor_interval = absl::Milliseconds(200);
};

class Emitter {
 public:
  // None of the pointers is owned; all must outlive the Emitter.
  // `cursor_store` keeps the cursor, fenced by `elector`'s tokens (both on one backend: see
  // election::Coordination).
  Emitter(EmitterOptions options, chain::CometClient* comet, nats::JetStream* js,
          election::FencedStore* cursor_store, election::LeaderElector* elector);
  ~Emitter();

  // Creates the stream if needed (InvalidArgument naming a conflicting setting) and starts the
  // loop. InvalidArgument for a missing chain_id or fetchers / fetch_window / fetch_batch /
  // max_inflight / cursor_every < 1.
  absl::Status Start();
  void Stop();
  // A new block was announced (WebSocket): look now instead of at the next poll.
  void Wake();

  // The last height this replica published (or found published when it resumed), 0 if none.
  int64_t last_emitted() const { return last_emitted_.load(); }
  // The chain's latest height as last seen.
  int64_t chain_height() const { return chain_height_.load(); }
  // OK while emission is not stuck; otherwise why (e.g. the next height is pruned).
  absl::Status health() const;
  uint64_t published() const { return published_.load(); }

  std::string MsgId(int64_t height) const;

 private:
  void Loop();
  // One leader pass: resume, then publish every available height. Returns when caught up,
  // stopping, no longer leader, or on an error worth a pause.
  void LeaderPass(election::FencingToken token);
  class Prefetcher;
  struct Acks;
  struct Resume {
    // The last height emitted: max(cursor, stream), or the stream's last height when the stream
    // holds records but fewer than the cursor says (it lost acknowledged ones).
    int64_t height = 0;
    int64_t in_stream = 0;  // the last height in the stream (0: empty)
    int64_t cursor = 0;     // the fenced cursor as read
  };
  absl::StatusOr<Resume> ResumePoint();
  // Takes the acks so far into last_emitted_, metrics and the cursor. False when the cursor
  // write was fenced out (a newer leader exists).
  bool Account(int64_t acked, int64_t head, election::FencingToken token);
  void SetHealth(absl::Status status);
  bool Sleep(absl::Duration d);  // false when stopping

  const EmitterOptions options_;
  const std::string cursor_key_;
  chain::CometClient* const comet_;
  nats::JetStream* const js_;
  election::FencedStore* const cursor_store_;
  election::LeaderElector* const elector_;

  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool woken_ ABSL_GUARDED_BY(mu_) = false;
  mutable absl::Mutex health_mu_;
  absl::Status health_ ABSL_GUARDED_BY(health_mu_);
  bool healthy_reported_ ABSL_GUARDED_BY(health_mu_) = false;  // the stalled gauge shows 0

  // Hot-path metrics, resolved once.
  prometheus::Gauge* last_emitted_gauge_;
  prometheus::Gauge* lag_gauge_;
  prometheus::Gauge* chain_height_gauge_;
  prometheus::Gauge* cursor_gauge_;
  prometheus::Counter* published_counter_;

  std::unique_ptr<Prefetcher> prefetch_;  // created by Start()
  std::atomic<int64_t> last_emitted_{0};
  std::atomic<int64_t> chain_height_{0};
  std::atomic<uint64_t> published_{0};
  election::FencingToken resumed_token_ = 0;  // loop thread only
  int64_t next_ = 0;                          // loop thread only
  int64_t stream_last_ = 0;                   // loop thread only: as found at resume
  int unwritten_ = 0;                         // loop thread only: heights since the cursor write
  absl::Duration retry_delay_;                // loop thread only: the next wait after a failure
  // Waits after a failed fetch or publish, doubling the next wait (bounded).
  void Backoff();
  absl::Time cursor_written_;                        // loop thread only
  std::unique_ptr<nats::AsyncPublisher> publisher_;  // created by Start()
  std::thread thread_;
};

}  // namespace eventhub
}  // namespace gonka

#endif  // GONKA_EVENTHUB_EMITTER_H_
