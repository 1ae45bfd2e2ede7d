// StreamFeed against a real JetStream block stream: heights and phase/epoch boundaries reach the
// cache at the block that carries them, and a stream created after Start() is picked up.
#include "gonka/cache/stream_feed.h"

#include <prometheus/registry.h>

#include <atomic>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "gonka/cache/chain_cache.h"
#include "gonka/testing/block_stream.h"
#include "gonka/testing/process.h"
#include "gonka/testing/servers.h"
#include "gtest/gtest.h"

namespace gonka {
namespace cache {
namespace {

// Heights 1-4: epoch 0 Inference; 5-7: epoch 0 PoCGenerate; 8-9: epoch 1 PoCValidate; 10+: epoch
// 1 Inference.
void Position(chain::v1::BlockEvents& b) {
  int64_t h = b.height();
  chain::v1::EpochPosition* at = b.mutable_epoch();
  at->set_epoch_index(h >= 8 ? 1 : 0);
  at->set_phase(h < 5 ? "Inference" : h < 8 ? "PoCGenerate" : h < 10 ? "PoCValidate" : "Inference");
}

struct Counting {
  std::atomic<int> phase_fetches{0};
  std::atomic<int> epoch_fetches{0};
  ChainCache cache;

  Counting() : cache(Options()) {
    EXPECT_TRUE(
        cache
            .AddRoute({.name = "phase_info",
                       .freshness = Freshness::kPhase,
                       .fetch = [this](const Query&, int64_t h) -> absl::StatusOr<std::string> {
                         ++phase_fetches;
                         return absl::StrCat("{\"height\":", h, "}");
                       }})
            .ok());
    EXPECT_TRUE(
        cache
            .AddRoute({.name = "epoch_group",
                       .freshness = Freshness::kEpoch,
                       .fetch = [this](const Query&, int64_t h) -> absl::StatusOr<std::string> {
                         ++epoch_fetches;
                         return absl::StrCat("{\"height\":", h, "}");
                       }})
            .ok());
  }
  static ChainCacheOptions Options() {
    ChainCacheOptions options;
    options.name = "feed_test";
    options.event_feed = true;
    static auto* registry = new prometheus::Registry();  // outlives every cache's counters
    options.registry = registry;
    return options;
  }
  // The heights the phase and epoch entries answering a snapshot at the current height were
  // fetched at.
  std::pair<int64_t, int64_t> Read() {
    absl::StatusOr<Snapshot> snap = cache.Begin();
    EXPECT_TRUE(snap.ok()) << snap.status();
    absl::StatusOr<CachedResponse> phase = snap->Get({"phase_info", ""});
    absl::StatusOr<CachedResponse> epoch = snap->Get({"epoch_group", ""});
    EXPECT_TRUE(phase.ok() && epoch.ok());
    return {phase->height(), epoch->height()};
  }
};

TEST(StreamFeedTest, BoundariesApplyAtTheBlockThatCarriesThem) {
  Counting c;
  StreamFeed feed(&c.cache, nullptr);
  chain::v1::BlockEvents b;
  for (int64_t h = 1; h <= 11; ++h) {
    b.set_height(h);
    Position(b);
    feed.Apply(b);
    auto [phase_at, epoch_at] = c.Read();
    // Each entry was fetched at the first height of its phase / epoch as the feed saw them.
    int64_t phase_start = h < 5 ? 1 : h < 8 ? 5 : h < 10 ? 8 : 10;
    int64_t epoch_start = h < 8 ? 1 : 8;
    EXPECT_EQ(phase_at, phase_start) << "height " << h;
    EXPECT_EQ(epoch_at, epoch_start) << "height " << h;
  }
  EXPECT_EQ(c.phase_fetches.load(), 4);  // at 1, 5, 8, 10
  EXPECT_EQ(c.epoch_fetches.load(), 2);  // at 1, 8
  b.set_height(3);                       // an old height is ignored
  feed.Apply(b);
  EXPECT_EQ(feed.last_height(), 11);
  EXPECT_EQ(c.cache.Stats().height, 11);
}

class StreamFeedStreamTest : public testing::BlockStreamTest {};

TEST_F(StreamFeedStreamTest, FollowsTheStreamAndWaitsForOneThatDoesNotExistYet) {
  Counting c;
  StreamFeed feed(&c.cache, js_.get(),
                  {.stream = "LATER",
                   .subject = "blocks.later",
                   .consumer = "cache edge-api:1",
                   .retry_interval = absl::Milliseconds(100)});
  ASSERT_TRUE(feed.Start().ok());
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_FALSE(feed.following());  // no stream yet: retrying
  ASSERT_TRUE(js_->EnsureStream({.name = "LATER", .subjects = {"blocks.later"}}).ok());
  ASSERT_TRUE(testing::WaitFor([&] { return feed.following(); }, absl::Seconds(10)).ok());
  // Publish on the new stream's subject, as the emitter would.
  for (int64_t h = 1; h <= 11; ++h) {
    chain::v1::BlockEvents b;
    b.set_chain_id("feed");
    b.set_height(h);
    Position(b);
    ASSERT_TRUE(
        js_->Publish("blocks.later", b.SerializeAsString(), {.msg_id = absl::StrCat("feed/", h)})
            .ok());
  }
  ASSERT_TRUE(testing::WaitFor([&] { return feed.last_height() == 11; }, absl::Seconds(10)).ok());
  CacheStats stats = c.cache.Stats();
  EXPECT_EQ(stats.height, 11);
  EXPECT_EQ(stats.phase_start, 10);
  EXPECT_EQ(stats.epoch_start, 8);
  feed.Stop();
}

TEST(StreamFeedTest, StartNeedsAConsumerName) {
  Counting c;
  StreamFeed feed(&c.cache, nullptr, {.consumer = ""});
  EXPECT_EQ(feed.Start().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace cache
}  // namespace gonka
