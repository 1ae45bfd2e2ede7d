#include "gonka/base/clock.h"

namespace gonka {
namespace {

class RealClock : public Clock {
 public:
  absl::Time Now() override { return absl::Now(); }
  void SleepUntil(absl::Time deadline) override {
    absl::Duration left = deadline - absl::Now();
    if (left > absl::ZeroDuration()) absl::SleepFor(left);
  }
  bool WaitUntil(absl::Mutex* mu, const bool* cancelled, absl::Time deadline) override
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    mu->AwaitWithDeadline(absl::Condition(cancelled), deadline);
    return *cancelled;
  }
};

}  // namespace

Clock* Clock::Real() {
  static RealClock* clock = new RealClock;
  return clock;
}

FakeClock::FakeClock(absl::Time start) : now_(start) {}

absl::Time FakeClock::Now() {
  absl::MutexLock lock(&mu_);
  return now_;
}

void FakeClock::SleepUntil(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  ++sleepers_;
  auto reached = [this, deadline]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return now_ >= deadline; };
  mu_.Await(absl::Condition(&reached));
  --sleepers_;
}

bool FakeClock::WaitUntil(absl::Mutex* mu, const bool* cancelled, absl::Time deadline) {
  // The caller holds `mu`; poll both conditions in short real-time slices. The fake clock's own
  // mutex is never held while waiting on `mu`, so there is no lock-order cycle.
  {
    absl::MutexLock lock(&mu_);
    ++sleepers_;
  }
  while (true) {
    if (*cancelled) break;
    if (Now() >= deadline) break;
    mu->AwaitWithTimeout(absl::Condition(cancelled), absl::Milliseconds(1));
  }
  absl::MutexLock lock(&mu_);
  --sleepers_;
  return *cancelled;
}

void FakeClock::Advance(absl::Duration d) {
  absl::MutexLock lock(&mu_);
  if (d > absl::ZeroDuration()) now_ += d;
  ++generation_;
}

void FakeClock::SetTime(absl::Time t) {
  absl::MutexLock lock(&mu_);
  now_ = t;
  ++generation_;
}

int FakeClock::Sleepers() {
  absl::MutexLock lock(&mu_);
  return sleepers_;
}

bool FakeClock::AwaitSleepers(int n, absl::Duration real_timeout) {
  absl::MutexLock lock(&mu_);
  auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return sleepers_ >= n; };
  return mu_.AwaitWithTimeout(absl::Condition(&enough), real_timeout);
}

}  // namespace gonka
