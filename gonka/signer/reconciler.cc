#include "gonka/signer/reconciler.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "gonka/base/log.h"
#include "gonka/base/metrics.h"

namespace gonka {
namespace signer {
namespace {

prometheus::Family<prometheus::Counter>& Reenqueued() {
  static auto& family = prometheus::BuildCounter()
                            .Name("gonka_signer_reenqueued_total")
                            .Help(
                                "Unsettled requests the ledger put back into the queue after "
                                "no progress for stale_after, by ledger state")
                            .Register(metrics::Registry());
  return family;
}

prometheus::Counter& ReenqueueErrors() {
  static auto& counter = prometheus::BuildCounter()
                             .Name("gonka_signer_reenqueue_errors_total")
                             .Help("Re-enqueues of stale requests that failed (retried later)")
                             .Register(metrics::Registry())
                             .Add({});
  return counter;
}

}  // namespace

absl::StatusOr<txqueue::EnqueueResult> EnqueueRecorded(Ledger* ledger, txqueue::TxQueue* queue,
                                                       txqueue::ChainTx tx) {
  absl::StatusOr<std::string> request = queue->Prepare(&tx);
  if (!request.ok()) return request.status();
  absl::StatusOr<LedgerEntry> e = ledger->Record(tx.idempotency_key(), *request);
  if (!e.ok()) return e.status();
  if (e->state == TxState::kIncluded || e->state == TxState::kFailed) {
    return txqueue::EnqueueResult{0, /*duplicate=*/true};
  }
  return queue->EnqueuePrepared(tx, *request);
}

Reconciler::Reconciler(Ledger* ledger, txqueue::TxQueue* queue, ReconcilerOptions options)
    : ledger_(ledger),
      queue_(queue),
      options_(std::move(options)),
      clock_(options_.clock != nullptr ? options_.clock : Clock::Real()) {
  for (TxState s : {TxState::kQueued, TxState::kSigned, TxState::kBroadcast}) {
    Reenqueued().Add({{"state", std::string(TxStateName(s))}});
  }
  ReenqueueErrors();
}

Reconciler::~Reconciler() { Stop(); }

absl::StatusOr<int> Reconciler::RunOnce() {
  // A request a producer recorded that no signer has claimed yet is lost only if the queue has
  // delivered everything it holds: while there is a backlog it is probably still waiting in it.
  absl::StatusOr<uint64_t> backlog = queue_->Backlog();
  const bool include_undelivered = backlog.ok() && *backlog == 0;
  // With the real clock staleness is the database's own now(), as every other ledger stamp: one
  // clock for the whole table. An injected clock (tests) supplies the time instead.
  const absl::Time judged_at = clock_ == Clock::Real() ? absl::InfinitePast() : clock_->Now();
  absl::StatusOr<std::vector<StaleRequest>> stale = ledger_->TakeStale(
      options_.stale_after, options_.max_per_pass, include_undelivered, judged_at);
  if (!stale.ok()) return stale.status();
  int put_back = 0;
  for (const StaleRequest& s : *stale) {
    absl::StatusOr<txqueue::EnqueueResult> r = queue_->Reenqueue(s.request, s.reenqueues);
    if (!r.ok()) {
      ReenqueueErrors().Increment();
      GONKA_LOG_WARN("signer: re-enqueue of a stale request failed, retried later", {"key", s.key},
                     {"error", r.status()});
      continue;
    }
    ++put_back;
    Reenqueued().Add({{"state", std::string(TxStateName(s.state))}}).Increment();
    GONKA_LOG_WARN("signer: request made no progress, enqueued again from the ledger",
                   {"key", s.key}, {"state", TxStateName(s.state)}, {"delivered", s.delivered},
                   {"unchanged_for", clock_->Now() - s.last_change}, {"copy", s.reenqueues});
  }
  return put_back;
}

void Reconciler::Start() {
  if (thread_.joinable()) return;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = false;
  }
  const absl::Duration interval = options_.interval > absl::ZeroDuration()
                                      ? options_.interval
                                      : std::max(absl::Seconds(1), options_.stale_after / 4);
  thread_ = std::thread([this, interval] {
    absl::Time next = clock_->Now();
    while (true) {
      {
        absl::MutexLock lock(&mu_);
        if (clock_->WaitUntil(&mu_, &stopping_, next)) return;
      }
      absl::StatusOr<int> n = RunOnce();
      if (!n.ok()) {
        GONKA_LOG_WARN("signer: stale-request pass failed", {"error", n.status()});
      }
      // A full pass: more may be waiting.
      next =
          clock_->Now() + (n.ok() && *n >= options_.max_per_pass ? absl::ZeroDuration() : interval);
    }
  });
}

void Reconciler::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

}  // namespace signer
}  // namespace gonka
