// Clock: the injectable source of time for everything that schedules (leases, drain, backoff).
//
// Production code takes a `Clock*` (default `Clock::Real()`); tests pass a `FakeClock` and move
// time with `Advance()`, which wakes every thread blocked in `SleepUntil()` whose deadline has
// passed, so lease and drain logic is tested without real sleeping.
//
//   FakeClock clock(absl::FromUnixSeconds(1000));
//   std::thread t([&] { clock.SleepFor(absl::Seconds(10)); done = true; });
//   clock.Advance(absl::Seconds(10));   // t wakes at once
//
// Thread-safety: all methods of both implementations are thread-safe.
#ifndef GONKA_BASE_CLOCK_H_
#define GONKA_BASE_CLOCK_H_

#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace gonka {

class Clock {
 public:
  virtual ~Clock() = default;

  // The current wall time.
  virtual absl::Time Now() = 0;

  // Blocks until Now() >= deadline.
  virtual void SleepUntil(absl::Time deadline) = 0;

  // Blocks until Now() >= deadline or `*cancelled` becomes true (checked under `mu`, which the
  // caller holds). Returns true if cancelled. Wake-ups happen when `mu` is released by whoever
  // sets the flag (absl::Mutex conditions), so no condition variable is needed.
  virtual bool WaitUntil(absl::Mutex* mu, const bool* cancelled, absl::Time deadline)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) = 0;

  void SleepFor(absl::Duration d) { SleepUntil(Now() + d); }

  // The process-wide real clock (never deleted).
  static Clock* Real();
};

// A manual clock for tests. Time moves only through Advance()/SetTime().
class FakeClock : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1'700'000'000));

  absl::Time Now() override;
  void SleepUntil(absl::Time deadline) override;
  bool WaitUntil(absl::Mutex* mu, const bool* cancelled, absl::Time deadline) override
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

  // Moves time forward by `d` (must be >= 0) and wakes sleepers whose deadline passed.
  void Advance(absl::Duration d);
  void SetTime(absl::Time t);

  // Number of threads currently blocked in SleepUntil/WaitUntil; lets a test wait until the code
  // under test has gone to sleep before advancing.
  int Sleepers();
  // Blocks (in real time, up to `real_timeout`) until at least `n` threads sleep. Returns false on
  // timeout.
  bool AwaitSleepers(int n, absl::Duration real_timeout = absl::Seconds(10));

 private:
  absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
  int sleepers_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace gonka

#endif  // GONKA_BASE_CLOCK_H_
