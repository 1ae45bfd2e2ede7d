// Subscriber against real JetStream: start at a height, strict order, a failing callback is
// retried without skipping, typed event callbacks, resume from the durable after a restart, and
// "from now".
#include "gonka/eventhub/subscriber.h"

#include <mutex>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gonka/testing/block_stream.h"
#include "gonka/testing/process.h"
#include "gonka/testing/servers.h"
#include "gtest/gtest.h"

namespace gonka {
namespace eventhub {
namespace {

class SubscriberTest : public testing::BlockStreamTest {
 protected:
  void Publish(int64_t from, int64_t to) {
    ASSERT_TRUE(testing::PublishBlocks(js_.get(), "sub", from, to, [](chain::v1::BlockEvents& b) {
                  chain::v1::Event* e = b.add_txs()->add_events();
                  e->set_type(b.height() % 2 == 0 ? "even" : "odd");
                }).ok());
  }
};

TEST_F(SubscriberTest, OrderRetryEventsResumeAndFromNow) {
  Publish(1, 20);
  std::mutex mu;
  std::vector<int64_t> seen;
  int even_events = 0;
  bool failed_once = false;
  SubscriberOptions options;
  options.durable = "dashboard";
  options.start_height = 5;
  options.retry_initial = absl::Milliseconds(20);
  {
    Subscriber sub(options, js_.get());
    sub.OnBlock([&](const chain::v1::BlockEvents& b) -> absl::Status {
      std::lock_guard<std::mutex> lock(mu);
      if (b.height() == 8 && !failed_once) {
        failed_once = true;
        return absl::UnavailableError("downstream busy");
      }
      seen.push_back(b.height());
      return absl::OkStatus();
    });
    sub.OnEvent("even", [&](const chain::v1::BlockEvents&, const chain::v1::Event&) {
      std::lock_guard<std::mutex> lock(mu);
      ++even_events;
      return absl::OkStatus();
    });
    ASSERT_TRUE(sub.Start().ok());
    ASSERT_TRUE(testing::WaitFor([&] { return sub.last_height() == 20; }, absl::Seconds(10)).ok());
    sub.Stop();
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    ASSERT_EQ(seen.size(), 16u);
    for (size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], static_cast<int64_t>(5 + i));
    EXPECT_TRUE(failed_once);
    EXPECT_EQ(even_events, 8);  // 6, 8, ..., 20
  }
  // A restart resumes after the last acked height.
  Publish(21, 25);
  std::vector<int64_t> resumed;
  Subscriber again(options, js_.get());
  again.OnBlock([&](const chain::v1::BlockEvents& b) {
    std::lock_guard<std::mutex> lock(mu);
    resumed.push_back(b.height());
    return absl::OkStatus();
  });
  ASSERT_TRUE(again.Start().ok());
  ASSERT_TRUE(testing::WaitFor([&] { return again.last_height() == 25; }, absl::Seconds(10)).ok());
  again.Stop();
  {
    std::lock_guard<std::mutex> lock(mu);
    ASSERT_EQ(resumed.size(), 5u);
    EXPECT_EQ(resumed.front(), 21);
  }
  // "From now": only blocks published after the start.
  SubscriberOptions now = options;
  now.durable = "from-now";
  now.start_height = 0;
  std::vector<int64_t> fresh;
  Subscriber live(now, js_.get());
  live.OnBlock([&](const chain::v1::BlockEvents& b) {
    std::lock_guard<std::mutex> lock(mu);
    fresh.push_back(b.height());
    return absl::OkStatus();
  });
  ASSERT_TRUE(live.Start().ok());
  Publish(26, 27);
  ASSERT_TRUE(testing::WaitFor([&] { return live.last_height() == 27; }, absl::Seconds(10)).ok());
  live.Stop();
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(fresh, (std::vector<int64_t>{26, 27}));
}

}  // namespace
}  // namespace eventhub
}  // namespace gonka
