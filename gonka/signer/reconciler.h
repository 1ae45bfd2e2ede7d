// gonka/signer/reconciler: makes the ledger, not the queue, the last word on what is still owed.
//
// A signer touches a request's ledger row at every step (claim, record, broadcast, each retry),
// and the queue redelivers a request until a signer acks it after inclusion. If the queue ever
// loses a request that is not settled yet — seen with nats-server 2.9 when a whole cluster
// restarts while many requests wait out a NAK delay — its row stops changing: queued, signed or
// broadcast, forever. The Reconciler finds such rows (Ledger::TakeStale: no change for
// `stale_after`) and enqueues the stored request again as a new copy (TxQueue::Reenqueue). The
// copy goes through the ordinary pipeline: the ledger decides — a recorded tx found on chain is
// marked included, a recorded tx not yet timed out is re-broadcast as the same bytes, only a
// provably expired one is replaced — so a copy never causes a second chain effect, even when the
// queue still held the original after all (a request waiting behind a delay longer than
// `stale_after` merely gets a second delivery).
//
// A row a producer recorded (EnqueueRecorded) that no signer has claimed yet may simply be
// waiting in a long queue: such rows are taken only when the queue's backlog is empty (every
// stored request was delivered at least once), so a backlog does not make copies.
//
// Every signer process may run one: TakeStale hands each row to one caller per `stale_after`.
// Rows claimed before the ledger kept requests (migration 5) have none and are not re-enqueued.
//
// Producers that can reach the ledger's database close the last gap with EnqueueRecorded: the
// request is recorded in the ledger BEFORE it is published, so even a request the queue loses
// before any signer saw it (nats-server 2.9 can drop the last acknowledged publishes when every
// replica is killed at once) is found by the Reconciler and sent. signerd's POST /v1/txs uses it.
//
// Metrics: gonka_signer_reenqueued_total{state} (requests put back, by their ledger state),
// gonka_signer_reenqueue_errors_total.
//
// Thread-safety: RunOnce is thread-safe; Start/Stop are called by one owner.
//
// Example:
//   signer::Reconciler reconciler(ledger.get(), &queue, {.stale_after = absl::Minutes(2)});
//   reconciler.Start();          // a pass every stale_after / 4
//   ...
//   reconciler.Stop();
#ifndef GONKA_SIGNER_RECONCILER_H_
#define GONKA_SIGNER_RECONCILER_H_

#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gonka/base/clock.h"
#include "gonka/signer/ledger.h"
#include "gonka/txqueue/txqueue.h"

namespace gonka {
namespace signer {

struct ReconcilerOptions {
  // A row unchanged this long has no live delivery. Keep it well above the longest a signer
  // leaves a row untouched while working on it: observe_budget + retry_delay, and the
  // consumer's ack_wait (a crashed signer's request comes back after it).
  absl::Duration stale_after = absl::Minutes(2);
  // Between passes (Start). 0 = stale_after / 4.
  absl::Duration interval = absl::ZeroDuration();
  int max_per_pass = 500;
  // Judges staleness (the `now` of Ledger::TakeStale: a row is stale when its updated_at is more
  // than stale_after before clock->Now()) and paces Start's passes. nullptr = Clock::Real(). A
  // test passes a FakeClock set ahead of real time to make rows stale without sleeping.
  Clock* clock = nullptr;
};

// The outbox form of TxQueue::Enqueue: validates `tx` (InvalidArgument naming the field), stamps
// enqueued_at if unset, records the request in the ledger (Ledger::Claim with the request), then
// publishes it. From the moment the claim succeeded the request WILL be sent, whatever this call
// returns afterwards: a failed publish leaves a queued row that the Reconciler re-enqueues after
// its stale_after (once the queue has no backlog); calling again with the same key is safe. A key
// the ledger already has settled (included or failed) is not published again:
// EnqueueResult{duplicate = true}. Errors: the ledger's (nothing recorded, nothing sent), else
// Enqueue's.
absl::StatusOr<txqueue::EnqueueResult> EnqueueRecorded(Ledger* ledger, txqueue::TxQueue* queue,
                                                       txqueue::ChainTx tx);

class Reconciler {
 public:
  // Neither pointer is owned; both must outlive the Reconciler.
  Reconciler(Ledger* ledger, txqueue::TxQueue* queue, ReconcilerOptions options);
  ~Reconciler();  // Stop()
  Reconciler(const Reconciler&) = delete;
  Reconciler& operator=(const Reconciler&) = delete;

  // One pass: takes up to max_per_pass stale rows and re-enqueues their requests. Returns how
  // many were put back. A request whose publish fails stays stale and is taken again after
  // another stale_after (the error is counted and logged, the pass goes on); errors only when the
  // ledger cannot be read.
  absl::StatusOr<int> RunOnce();

  // Runs RunOnce every `interval` on a thread until Stop. A pass that took max_per_pass rows is
  // followed at once by another.
  void Start();
  void Stop();

 private:
  Ledger* ledger_;
  txqueue::TxQueue* queue_;
  ReconcilerOptions options_;
  Clock* clock_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace signer
}  // namespace gonka

#endif  // GONKA_SIGNER_RECONCILER_H_
