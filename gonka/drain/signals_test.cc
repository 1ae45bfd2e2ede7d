#include "gonka/drain/signals.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>

#include "absl/time/clock.h"

namespace gonka {
namespace {

TEST(SignalWatcherTest, DeliversTermAndIntToCallback) {
  SignalWatcher watcher;
  std::atomic<int> term{0};
  std::atomic<int> intr{0};
  watcher.Start([&](int sig) {
    if (sig == SIGTERM) term++;
    if (sig == SIGINT) intr++;
  });
  kill(getpid(), SIGTERM);
  absl::Time end = absl::Now() + absl::Seconds(10);
  while (term == 0 && absl::Now() < end) absl::SleepFor(absl::Milliseconds(1));
  EXPECT_EQ(term, 1);
  kill(getpid(), SIGHUP);  // ignored, must not kill the process
  kill(getpid(), SIGINT);
  while (intr == 0 && absl::Now() < end) absl::SleepFor(absl::Milliseconds(1));
  EXPECT_EQ(intr, 1);
}

}  // namespace
}  // namespace gonka
