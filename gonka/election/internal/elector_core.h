// ElectorCore: the backend-independent LeaderElector (all timing, callbacks, metrics, logs).
// Backends supply a LeaseBackend. Not part of the public API; see leader_elector.h.
#ifndef GONKA_ELECTION_INTERNAL_ELECTOR_CORE_H_
#define GONKA_ELECTION_INTERNAL_ELECTOR_CORE_H_

#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "gonka/base/backoff.h"
#include "gonka/election/internal/lease_backend.h"
#include "gonka/election/leader_elector.h"

namespace prometheus {
class Counter;
class Gauge;
class Histogram;
}  // namespace prometheus

namespace gonka {
namespace election {
namespace internal {

class ElectorCore : public LeaderElector {
 public:
  // `election` names the lease (metric label and logs). Options must already be valid.
  ElectorCore(std::string election, std::unique_ptr<LeaseBackend> backend,
              LeaderElectorOptions options);
  ~ElectorCore() override;

  absl::Status Start() override;
  void Stop() override;
  bool IsLeader() const override;
  FencingToken Token() const override;
  FencingToken HighestTokenSeen() const override;
  const std::string& identity() const override { return options_.identity; }

  // The owner string stored in the lease (identity + a per-instance nonce).
  const std::string& owner() const { return owner_; }

 private:
  void Run();
  // Steps down at the renew deadline even while the elector thread is blocked in a server call.
  void Watchdog();
  void RunCandidate(Backoff& error_backoff);
  void RunLeader();
  // Waits until `deadline` or a wake-up; true if stopping.
  bool Wait(absl::Time deadline);
  void Wake();
  // Local step-down of the term with `token` (no-op if that term already ended): IsLeader()
  // false, metric, log, OnRevoked, then a best-effort release.
  void StepDown(FencingToken token, absl::string_view reason_class, absl::string_view reason,
                bool release);
  // Metrics, log line and OnRevoked of a step-down (cb_mu_ held).
  void ReportStepDown(absl::string_view reason_class, absl::string_view reason, FencingToken token)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(cb_mu_);

  const std::string election_;
  const std::unique_ptr<LeaseBackend> backend_;
  const LeaderElectorOptions options_;
  Clock* const clock_;
  const std::string owner_;

  prometheus::Gauge* is_leader_gauge_;
  prometheus::Gauge* token_gauge_;
  prometheus::Histogram* renew_latency_;
  prometheus::Counter* renew_failures_;
  prometheus::Counter* to_leader_;
  prometheus::Counter* to_follower_;

  // Serialises callbacks and the leader/follower transitions they report, so OnElected(t) always
  // runs before the matching OnRevoked. Acquired before mu_.
  absl::Mutex cb_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  mutable absl::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool interrupt_ ABSL_GUARDED_BY(mu_) = false;  // stopping_ or a release notification
  bool leader_ ABSL_GUARDED_BY(mu_) = false;
  FencingToken token_ ABSL_GUARDED_BY(mu_) = 0;
  FencingToken highest_seen_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time valid_until_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Time next_renew_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  bool watchdog_interrupt_ ABSL_GUARDED_BY(mu_) = false;  // new term, or stopping
  std::thread thread_;
  std::thread watchdog_;
};

}  // namespace internal
}  // namespace election
}  // namespace gonka

#endif  // GONKA_ELECTION_INTERNAL_ELECTOR_CORE_H_
