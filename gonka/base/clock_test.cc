#include "gonka/base/clock.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace gonka {
namespace {

TEST(FakeClockTest, AdvanceWakesSleeperWithoutRealSleeping) {
  FakeClock clock;
  absl::Time start = clock.Now();
  std::atomic<bool> woke{false};
  absl::Time real_start = absl::Now();
  std::thread t([&] {
    clock.SleepFor(absl::Hours(1));
    woke = true;
  });
  ASSERT_TRUE(clock.AwaitSleepers(1));
  EXPECT_FALSE(woke);
  clock.Advance(absl::Minutes(30));
  absl::SleepFor(absl::Milliseconds(5));
  EXPECT_FALSE(woke) << "woke before its deadline";
  clock.Advance(absl::Minutes(30));
  t.join();
  EXPECT_TRUE(woke);
  EXPECT_EQ(clock.Now() - start, absl::Hours(1));
  EXPECT_LT(absl::Now() - real_start, absl::Seconds(5));
}

TEST(FakeClockTest, WaitUntilReturnsOnCancelOrDeadline) {
  FakeClock clock;
  absl::Mutex mu;
  bool cancelled = false;
  std::thread t([&] {
    absl::MutexLock lock(&mu);
    EXPECT_TRUE(clock.WaitUntil(&mu, &cancelled, clock.Now() + absl::Hours(1)));
  });
  ASSERT_TRUE(clock.AwaitSleepers(1));
  {
    absl::MutexLock lock(&mu);
    cancelled = true;
  }
  t.join();

  bool never = false;
  std::thread t2([&] {
    absl::MutexLock lock(&mu);
    EXPECT_FALSE(clock.WaitUntil(&mu, &never, clock.Now() + absl::Seconds(5)));
  });
  ASSERT_TRUE(clock.AwaitSleepers(1));
  clock.Advance(absl::Seconds(5));
  t2.join();
}

TEST(RealClockTest, NowMovesForward) {
  absl::Time a = Clock::Real()->Now();
  Clock::Real()->SleepFor(absl::Milliseconds(2));
  EXPECT_GT(Clock::Real()->Now(), a);
}

}  // namespace
}  // namespace gonka
