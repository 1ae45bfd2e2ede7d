#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "gonka/drain/drain_controller.h"
#include "gonka/drain/gate.h"
#include "gonka/testing/process.h"

namespace gonka {
namespace {

using ::testing::HasSubstr;
using State = DrainController::State;

// Polls `pred` in real time (the code under test runs on its own thread) for up to 10 s: OK, or
// DeadlineExceeded naming `what`.
absl::Status Eventually(const std::function<bool()>& pred, absl::string_view what) {
  return testing::WaitFor(pred, absl::Seconds(10), absl::Milliseconds(1), what);
}

TEST(GateTest, EnterLeaveCloseAndOldestAge) {
  FakeClock clock;
  Gate gate(&clock);
  auto a = gate.TryEnter();
  ASSERT_TRUE(a.has_value());
  clock.Advance(absl::Seconds(3));
  auto b = gate.TryEnter();
  EXPECT_EQ(gate.in_flight(), 2);
  EXPECT_EQ(gate.OldestInFlightAge(), absl::Seconds(3));
  a->Release();
  EXPECT_EQ(gate.OldestInFlightAge(), absl::ZeroDuration());
  clock.Advance(absl::Seconds(1));
  EXPECT_EQ(gate.OldestInFlightAge(), absl::Seconds(1));
  gate.Close();
  EXPECT_FALSE(gate.TryEnter().has_value()) << "entry after Close() must be refused";
  EXPECT_FALSE(gate.WaitIdle(clock.Now()));
  { Gate::Guard moved = std::move(*b); }
  EXPECT_EQ(gate.in_flight(), 0);
  EXPECT_TRUE(gate.WaitIdle(clock.Now()));
  EXPECT_EQ(gate.total_entered(), 2u);
}

TEST(GateTest, WaitIdleWakesWhenLastGuardLeaves) {
  Gate gate;
  auto g = gate.TryEnter();
  std::thread t([&] {
    absl::SleepFor(absl::Milliseconds(20));
    g.reset();
  });
  EXPECT_TRUE(gate.WaitIdle(absl::Now() + absl::Seconds(10)));
  t.join();
}

DrainOptions FakeOptions(FakeClock* clock) {
  DrainOptions o;
  o.announce = absl::Seconds(5);
  o.shutdown_grace = absl::Seconds(30);
  o.probe_cache = absl::Seconds(3);
  o.clock = clock;
  return o;
}

TEST(DrainControllerTest, SequenceAnnounceStopAcceptingWaitHooks) {
  FakeClock clock;
  DrainController drain(FakeOptions(&clock));
  std::atomic<int> stop_accepting{0};
  std::vector<std::string> events;
  absl::Mutex mu;
  drain.OnStopAccepting([&] { stop_accepting++; });
  drain.AddShutdownHook("release lease", [&] {
    absl::MutexLock l(&mu);
    events.push_back("release");
  });
  EXPECT_TRUE(drain.Ready().ok());
  auto guard = drain.AdmissionHook()();  // a request in flight
  ASSERT_NE(guard, nullptr);

  drain.BeginDrain();
  EXPECT_EQ(drain.Ready().code(), absl::StatusCode::kUnavailable) << "ready must fail at once";
  ASSERT_TRUE(clock.AwaitSleepers(1));
  EXPECT_EQ(drain.state(), State::kAnnouncing);
  EXPECT_EQ(stop_accepting, 0) << "still serving during the announce window";
  EXPECT_NE(drain.AdmissionHook()(), nullptr) << "new work still admitted while announcing";

  clock.Advance(absl::Seconds(5));
  absl::Status draining =
      Eventually([&] { return drain.state() == State::kDraining; }, "state draining");
  ASSERT_TRUE(draining.ok()) << draining;
  // The state turns kDraining just before the stop-accepting hooks run on the drain's thread.
  absl::Status stopped =
      Eventually([&] { return stop_accepting.load() == 1; }, "stop-accepting hook ran");
  ASSERT_TRUE(stopped.ok()) << stopped;
  EXPECT_THAT(drain.StatusJson(), HasSubstr("\"state\":\"draining\""));
  EXPECT_THAT(drain.StatusJson(), HasSubstr("\"in_flight\":1"));
  absl::SleepFor(absl::Milliseconds(20));
  EXPECT_EQ(drain.state(), State::kDraining) << "must wait for in-flight work";

  guard.reset();
  EXPECT_TRUE(drain.WaitFor(absl::Seconds(10)));
  EXPECT_TRUE(drain.Wait()) << "finished inside the grace";
  absl::MutexLock l(&mu);
  EXPECT_THAT(events, ::testing::ElementsAre("release"));
  EXPECT_EQ(drain.AdmissionHook()(), nullptr) << "gate closed after drain";
}

TEST(DrainControllerTest, GraceExpiresWithWorkInFlight) {
  FakeClock clock;
  DrainController drain(FakeOptions(&clock));
  auto guard = drain.AdmissionHook()();
  drain.BeginDrain();
  ASSERT_TRUE(clock.AwaitSleepers(1));
  clock.Advance(absl::Seconds(5));
  absl::Status draining =
      Eventually([&] { return drain.state() == State::kDraining; }, "state draining");
  ASSERT_TRUE(draining.ok()) << draining;
  clock.Advance(absl::Seconds(29));
  absl::SleepFor(absl::Milliseconds(20));
  EXPECT_EQ(drain.state(), State::kDraining);
  clock.Advance(absl::Seconds(2));
  EXPECT_TRUE(drain.WaitFor(absl::Seconds(10)));
  EXPECT_FALSE(drain.Wait()) << "work was still in flight at the deadline";
  guard.reset();
}

TEST(DrainControllerTest, SecondSignalForces) {
  FakeClock clock;
  DrainController drain(FakeOptions(&clock));
  auto guard = drain.AdmissionHook()();
  drain.BeginDrain();
  ASSERT_TRUE(clock.AwaitSleepers(1));
  drain.BeginDrain();  // second SIGTERM
  EXPECT_TRUE(drain.WaitFor(absl::Seconds(10))) << "forced drain must not wait for the clock";
  EXPECT_FALSE(drain.Wait());
  guard.reset();
}

TEST(DrainControllerTest, ProbesAreCachedAndSingleFlight) {
  FakeClock clock;
  DrainController drain(FakeOptions(&clock));
  std::atomic<int> calls{0};
  std::atomic<bool> healthy{true};
  drain.AddReadinessProbe("chain", [&]() -> absl::Status {
    calls++;
    absl::SleepFor(absl::Milliseconds(50));  // a slow dependency
    return healthy ? absl::OkStatus() : absl::UnavailableError("connection refused");
  });
  std::vector<std::thread> threads;
  for (int i = 0; i < 10; ++i) {
    threads.emplace_back([&] { EXPECT_TRUE(drain.Ready().ok()); });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(calls, 1) << "10 concurrent /ready calls must share one probe run";
  healthy = false;
  EXPECT_TRUE(drain.Ready().ok()) << "cached for the budget";
  EXPECT_EQ(calls, 1);
  clock.Advance(absl::Seconds(3));
  absl::Status s = drain.Ready();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(s.message(), HasSubstr("chain: connection refused"));
  EXPECT_EQ(calls, 2);
}

TEST(DrainControllerTest, HungProbeTimesOut) {
  DrainOptions o;
  o.probe_timeout = absl::Milliseconds(50);
  DrainController drain(o);
  auto release = std::make_shared<std::atomic<bool>>(false);
  drain.AddReadinessProbe("db", [release]() -> absl::Status {
    while (!*release) absl::SleepFor(absl::Milliseconds(5));
    return absl::OkStatus();
  });
  absl::Status s = drain.Ready();
  EXPECT_THAT(s.message(), HasSubstr("db: probe did not answer"));
  *release = true;
  absl::Status ready = Eventually([&] { return drain.Ready().ok(); }, "Ready() OK again");
  EXPECT_TRUE(ready.ok()) << ready;
}

TEST(DrainControllerTest, StartedGatesReadiness) {
  DrainController drain;
  drain.SetStarted(false);
  EXPECT_THAT(drain.Ready().message(), HasSubstr("starting"));
  drain.SetStarted(true);
  EXPECT_TRUE(drain.Ready().ok());
}

TEST(DrainControllerTest, ValidateNamesTheField) {
  DrainOptions o;
  o.shutdown_grace = absl::ZeroDuration();
  EXPECT_THAT(DrainController::Validate(o).message(), HasSubstr("shutdown grace"));
  o = {};
  o.announce = -absl::Seconds(1);
  EXPECT_THAT(DrainController::Validate(o).message(), HasSubstr("announce"));
  EXPECT_TRUE(DrainController::Validate({}).ok());
}

}  // namespace
}  // namespace gonka
