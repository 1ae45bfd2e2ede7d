// Unit tests of the election timing with a FakeClock and an in-memory lease server.
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/synchronization/mutex.h"
#include "gonka/base/clock.h"
#include "gonka/base/metrics.h"
#include "gonka/election/internal/elector_core.h"
#include "gonka/election/internal/lease_backend.h"
#include "gonka/testing/process.h"

namespace gonka {
namespace election {
namespace {

using internal::AcquireResult;
using internal::ElectorCore;
using ::testing::HasSubstr;

// One lease with server-side expiry on the fake clock.
struct FakeLeaseServer {
  explicit FakeLeaseServer(Clock* c) : clock(c) {}
  Clock* clock;
  absl::Mutex mu;
  std::string holder ABSL_GUARDED_BY(mu);
  FencingToken holder_token ABSL_GUARDED_BY(mu) = 0;
  absl::Time expiry ABSL_GUARDED_BY(mu) = absl::InfinitePast();
  FencingToken epoch ABSL_GUARDED_BY(mu) = 0;
  bool unreachable ABSL_GUARDED_BY(mu) = false;
  std::vector<std::function<void()>> listeners ABSL_GUARDED_BY(mu);

  bool HeldLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return !holder.empty() && clock->Now() < expiry;
  }
  void SetUnreachable(bool v) {
    absl::MutexLock l(&mu);
    unreachable = v;
  }
  absl::Time Expiry() {
    absl::MutexLock l(&mu);
    return expiry;
  }
};

class FakeBackend : public internal::LeaseBackend {
 public:
  explicit FakeBackend(FakeLeaseServer* s) : s_(s) {}
  absl::Status Connect() override {
    absl::MutexLock l(&s_->mu);
    return s_->unreachable ? absl::UnavailableError("fake server: unreachable") : absl::OkStatus();
  }
  absl::StatusOr<AcquireResult> TryAcquire(const std::string& owner, absl::Duration ttl,
                                           FencingToken min_token, absl::Duration) override {
    absl::MutexLock l(&s_->mu);
    if (s_->unreachable) return absl::UnavailableError("fake server: unreachable");
    AcquireResult r;
    if (s_->HeldLocked()) {
      r.holder = s_->holder;
      r.holder_token = s_->holder_token;
      r.remaining = s_->expiry - s_->clock->Now();
      return r;
    }
    s_->epoch = std::max(s_->epoch, min_token) + 1;
    s_->holder = owner;
    s_->holder_token = s_->epoch;
    s_->expiry = s_->clock->Now() + ttl;
    r.acquired = true;
    r.token = s_->epoch;
    return r;
  }
  absl::StatusOr<bool> Renew(const std::string& owner, FencingToken token, absl::Duration ttl,
                             absl::Duration) override {
    absl::MutexLock l(&s_->mu);
    if (s_->unreachable) return absl::UnavailableError("fake server: unreachable");
    if (!s_->HeldLocked() || s_->holder != owner || s_->holder_token != token) return false;
    s_->expiry = s_->clock->Now() + ttl;
    return true;
  }
  absl::Status Release(const std::string& owner, FencingToken token, absl::Duration) override {
    std::vector<std::function<void()>> listeners;
    {
      absl::MutexLock l(&s_->mu);
      if (s_->unreachable) return absl::UnavailableError("fake server: unreachable");
      if (s_->holder != owner || s_->holder_token != token) return absl::OkStatus();
      s_->holder.clear();
      listeners = s_->listeners;
    }
    for (auto& f : listeners) f();
    return absl::OkStatus();
  }
  void SetReleaseListener(std::function<void()> fn) override {
    absl::MutexLock l(&s_->mu);
    s_->listeners.push_back(std::move(fn));
  }
  void Close() override {}
  std::string Describe() const override { return "fake"; }

 private:
  FakeLeaseServer* s_;
};

struct Recorder {
  absl::Mutex mu;
  std::vector<FencingToken> elected ABSL_GUARDED_BY(mu);
  std::vector<std::string> revoked ABSL_GUARDED_BY(mu);
  std::vector<absl::Time> revoked_at ABSL_GUARDED_BY(mu);
  size_t NumElected() {
    absl::MutexLock l(&mu);
    return elected.size();
  }
  size_t NumRevoked() {
    absl::MutexLock l(&mu);
    return revoked.size();
  }
};

class ElectorCoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<ElectorCore> Make(const std::string& id, Recorder* rec) {
    LeaderElectorOptions o;
    o.identity = id;
    o.clock = &clock_;
    o.on_elected = [rec](FencingToken t) {
      absl::MutexLock l(&rec->mu);
      rec->elected.push_back(t);
    };
    o.on_revoked = [rec, this](absl::string_view why) {
      absl::MutexLock l(&rec->mu);
      rec->revoked.emplace_back(why);
      rec->revoked_at.push_back(clock_.Now());
    };
    EXPECT_TRUE(ValidateLeaderElectorOptions(o).ok());
    return std::make_unique<ElectorCore>("test", std::make_unique<FakeBackend>(&server_), o);
  }

  // Moves fake time forward in small steps, letting the elector threads run between steps.
  // `threads`: 2 per started elector (its loop and its watchdog).
  // FakeClock::WaitUntil polls in 1 ms real-time slices, so after each step the woken threads
  // get a few real milliseconds to act before we wait for them to be asleep again.
  void Run(absl::Duration total, int threads, absl::Duration step = absl::Milliseconds(25)) {
    for (absl::Duration t; t < total; t += step) {
      ASSERT_TRUE(clock_.AwaitSleepers(threads));
      clock_.Advance(step);
      absl::SleepFor(absl::Milliseconds(3));
    }
    ASSERT_TRUE(clock_.AwaitSleepers(threads));
  }

  // Advances fake time in steps until `cond` holds (at most `max_fake` of fake time, then up to
  // 2 s of real time for the threads to catch up). Robust to slow scheduling: it waits for the
  // outcome instead of assuming how fast the threads react.
  bool RunUntil(const std::function<bool()>& cond, absl::Duration max_fake, int threads,
                absl::Duration step = absl::Milliseconds(25)) {
    for (absl::Duration t; t < max_fake; t += step) {
      if (cond()) return true;
      clock_.AwaitSleepers(threads);
      clock_.Advance(step);
      absl::SleepFor(absl::Milliseconds(3));
    }
    return gonka::testing::WaitFor(cond, absl::Seconds(2), absl::Milliseconds(1),
                                   "the condition after the fake time ran out")
        .ok();
  }

  FakeClock clock_;
  FakeLeaseServer server_{&clock_};
};

TEST(LeaderElectorOptionsTest, BadConfigNamesTheField) {
  LeaderElectorOptions o;
  o.identity = "a";
  ASSERT_TRUE(ValidateLeaderElectorOptions(o).ok());
  LeaderElectorOptions bad = o;
  bad.lease_ttl = bad.renew_deadline;
  absl::Status s = ValidateLeaderElectorOptions(bad);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("renew_deadline"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("lease_ttl"));
  bad = o;
  bad.renew_deadline = bad.lease_ttl - bad.drift_margin;  // must be strictly less
  EXPECT_THAT(std::string(ValidateLeaderElectorOptions(bad).message()), HasSubstr("drift_margin"));
  bad = o;
  bad.retry_interval = absl::ZeroDuration();
  EXPECT_THAT(std::string(ValidateLeaderElectorOptions(bad).message()),
              HasSubstr("retry_interval"));
  bad = o;
  bad.renew_interval = bad.renew_deadline;
  EXPECT_THAT(std::string(ValidateLeaderElectorOptions(bad).message()),
              HasSubstr("renew_interval"));
  bad = o;
  bad.identity.clear();
  EXPECT_THAT(std::string(ValidateLeaderElectorOptions(bad).message()), HasSubstr("identity"));
}

TEST_F(ElectorCoreTest, UnreachableAtStartIsAnError) {
  server_.SetUnreachable(true);
  Recorder rec;
  auto e = Make("a", &rec);
  absl::Status s = e->Start();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(s.message()), HasSubstr("fake server"));
}

TEST_F(ElectorCoreTest, ElectsAndKeepsLeadershipByRenewing) {
  Recorder rec;
  auto e = Make("a", &rec);
  ASSERT_TRUE(e->Start().ok());
  ASSERT_TRUE(RunUntil([&] { return rec.NumElected() == 1; }, absl::Milliseconds(100), 2));
  EXPECT_TRUE(e->IsLeader());
  EXPECT_EQ(e->Token(), 1);
  Run(absl::Seconds(10), 2);  // 5 TTLs: only renewals keep it
  EXPECT_TRUE(e->IsLeader());
  EXPECT_EQ(rec.NumRevoked(), 0u);
  e->Stop();
  EXPECT_FALSE(e->IsLeader());
  absl::MutexLock l(&rec.mu);
  ASSERT_EQ(rec.revoked.size(), 1u);
  EXPECT_EQ(rec.revoked[0], "stopped");
}

TEST_F(ElectorCoreTest, ExportsLeadershipMetrics) {
  Recorder rec;
  auto e = Make("metrics-a", &rec);
  ASSERT_TRUE(e->Start().ok());
  ASSERT_TRUE(RunUntil([&] { return e->IsLeader(); }, absl::Milliseconds(100), 2));
  Run(absl::Seconds(1), 2);
  ASSERT_TRUE(e->IsLeader());
  std::string text = metrics::ExposeText();
  EXPECT_THAT(text,
              HasSubstr("gonka_election_is_leader{election=\"test\",identity=\"metrics-a\"} 1"));
  EXPECT_THAT(text, HasSubstr("gonka_election_token{election=\"test\",identity=\"metrics-a\"} 1"));
  EXPECT_THAT(
      text,
      HasSubstr(
          "gonka_election_renew_latency_seconds_count{election=\"test\",identity=\"metrics-a\"}"));
  EXPECT_THAT(text, HasSubstr("gonka_election_transitions_total{election=\"test\",identity="
                              "\"metrics-a\",to=\"leader\"} 1"));
  server_.SetUnreachable(true);
  ASSERT_TRUE(RunUntil([&] { return rec.NumRevoked() == 1; }, absl::Seconds(2), 2));
  ASSERT_FALSE(e->IsLeader());
  text = metrics::ExposeText();
  EXPECT_THAT(text,
              HasSubstr("gonka_election_is_leader{election=\"test\",identity=\"metrics-a\"} 0"));
  EXPECT_THAT(text, HasSubstr("gonka_election_step_downs_total{election=\"test\",identity="
                              "\"metrics-a\",reason=\"renew_deadline\"} 1"));
  EXPECT_THAT(text, ::testing::ContainsRegex("gonka_election_renew_failures_total\\{election="
                                             "\"test\",identity=\"metrics-a\"\\} [1-9]"));
  e->Stop();
}

TEST_F(ElectorCoreTest, StepsDownBeforeTheServerSideLeaseExpires) {
  Recorder rec;
  auto e = Make("a", &rec);
  ASSERT_TRUE(e->Start().ok());
  ASSERT_TRUE(RunUntil([&] { return e->IsLeader(); }, absl::Milliseconds(100), 2));
  Run(absl::Milliseconds(1000), 2);
  server_.SetUnreachable(true);  // renewals now fail
  absl::Time server_expiry = server_.Expiry();
  ASSERT_TRUE(RunUntil([&] { return rec.NumRevoked() == 1; }, absl::Seconds(3), 2));
  EXPECT_FALSE(e->IsLeader());
  absl::MutexLock l(&rec.mu);
  ASSERT_EQ(rec.revoked.size(), 1u);
  EXPECT_THAT(rec.revoked[0], HasSubstr("renew_deadline"));
  // Local step-down came at least drift_margin before the lease could expire on the server.
  EXPECT_LE(rec.revoked_at[0], server_expiry - LeaderElectorOptions().drift_margin);
}

TEST_F(ElectorCoreTest, IsLeaderTurnsFalseAtTheDeadlineEvenBeforeTheThreadRuns) {
  Recorder rec;
  auto e = Make("a", &rec);
  ASSERT_TRUE(e->Start().ok());
  ASSERT_TRUE(RunUntil([&] { return e->IsLeader(); }, absl::Milliseconds(100), 2));
  // A "pause": time jumps past the deadline in one step; check before the thread catches up.
  clock_.Advance(LeaderElectorOptions().renew_deadline);
  EXPECT_FALSE(e->IsLeader());
  EXPECT_EQ(e->Token(), 0);
  EXPECT_TRUE(RunUntil([&] { return rec.NumRevoked() == 1; }, absl::Milliseconds(100), 2));
}

TEST_F(ElectorCoreTest, TokensStrictlyIncreaseAcrossHandoffs) {
  Recorder ra, rb;
  auto a = Make("a", &ra);
  auto b = Make("b", &rb);
  ASSERT_TRUE(a->Start().ok());
  ASSERT_TRUE(RunUntil([&] { return a->IsLeader(); }, absl::Milliseconds(100), 2));
  ASSERT_TRUE(b->Start().ok());
  FencingToken last = a->Token();
  for (int i = 0; i < 6; ++i) {
    Run(absl::Milliseconds(500), 4);
    ElectorCore* leader = a->IsLeader() ? a.get() : b.get();
    ElectorCore* other = leader == a.get() ? b.get() : a.get();
    ASSERT_TRUE(leader->IsLeader());
    ASSERT_FALSE(other->IsLeader());
    EXPECT_GE(leader->Token(), last);
    last = leader->Token();
    leader->Stop();  // releases: the other takes over at once (release notification)
    // The release notification wakes the other at once: no fake time needs to pass.
    ASSERT_TRUE(RunUntil([&] { return other->IsLeader(); }, absl::ZeroDuration(), 2))
        << "handoff " << i;
    EXPECT_GT(other->Token(), last);
    last = other->Token();
    ASSERT_TRUE(leader->Start().ok());
  }
  a->Stop();
  b->Stop();
}

TEST_F(ElectorCoreTest, LostLeaseIsNotRetakenSilently) {
  Recorder rec;
  auto e = Make("a", &rec);
  ASSERT_TRUE(e->Start().ok());
  ASSERT_TRUE(RunUntil([&] { return e->IsLeader(); }, absl::Milliseconds(100), 2));
  FencingToken first = e->Token();
  server_.SetUnreachable(true);
  ASSERT_TRUE(RunUntil([&] { return rec.NumRevoked() == 1; }, absl::Seconds(3), 2));
  ASSERT_FALSE(e->IsLeader());
  server_.SetUnreachable(false);
  ASSERT_TRUE(RunUntil([&] { return e->IsLeader(); }, absl::Seconds(5), 2));
  EXPECT_GT(e->Token(), first);  // a new term with a new token
  absl::MutexLock l(&rec.mu);
  EXPECT_EQ(rec.elected.size(), 2u);  // and a second OnElected
  EXPECT_EQ(rec.revoked.size(), 1u);
}

}  // namespace
}  // namespace election
}  // namespace gonka
