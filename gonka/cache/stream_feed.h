// StreamFeed: drives a ChainCache from the event hub's block stream, so a replica moves to a new
// height — and past a PoC phase or epoch boundary — at the block the stream carries, the same
// block every other consumer of the stream (dashboards, node-manager) sees (docs/cache.md,
// "Invalidation").
//
// Contract:
//   - Apply() takes blocks in height order (older or repeated heights are ignored). For a block
//     whose EpochPosition names another effective epoch than the previous block's, it calls
//     ChainCache::OnEpochChange(height); for another phase, OnPhaseChange(height); then
//     OnBlock(height). So no snapshot at a boundary height ever sees the previous phase's or
//     epoch's entries. The first block sets no boundary: it only tells the cache where the feed
//     starts (its own epoch schedule or its implicit baseline covers the heights before).
//   - Start() follows the stream through a temporary JetStream consumer of its own (the server
//     removes it after `inactive_threshold` without this replica), from the next block. When the
//     stream does not exist yet (a fresh node before its first leader), it retries every
//     `retry_interval` in the background until Stop(); meanwhile the cache polls its
//     height_source as before.
//   - The cache must be built with ChainCacheOptions::event_feed = true (boundaries come from
//     here) and should keep its height_source (used until the first block arrives).
//
// Thread-safety: Apply() from one thread at a time (Start() runs it on the subscriber's thread).
// last_height() and Stop() are thread-safe.
//
// Example (edge-api):
//   cache_options.event_feed = true;
//   ChainCache cache(cache_options);
//   StreamFeed feed(&cache, js.get(), {.consumer = "cache-" + identity});
//   RETURN_IF_ERROR(feed.Start());
//   ...
//   feed.Stop();
#ifndef GONKA_CACHE_STREAM_FEED_H_
#define GONKA_CACHE_STREAM_FEED_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gonka/cache/chain_cache.h"
#include "gonka/chain/block_events.pb.h"

namespace prometheus {
class Gauge;
class Registry;
}  // namespace prometheus

namespace gonka {
namespace nats {
class JetStream;
}  // namespace nats
namespace eventhub {
class Subscriber;
}  // namespace eventhub

namespace cache {

struct StreamFeedOptions {
  std::string stream = "BLOCKS";
  std::string subject = "blocks";
  // The consumer's name, unique per replica: [A-Za-z0-9_-]+ (other characters become '_').
  std::string consumer;
  // The `cache` label of the gauge gonka_cache_stream_height (the height last applied).
  std::string cache_name = "chain";
  // Metrics registry (nullptr = the process-wide one).
  prometheus::Registry* registry = nullptr;
  // The server forgets the consumer this long after its replica stopped fetching.
  absl::Duration inactive_threshold = absl::Minutes(5);
  // While the stream does not exist yet, how often Start()'s background attempt retries.
  absl::Duration retry_interval = absl::Seconds(2);
};

class StreamFeed {
 public:
  // Neither pointer is owned; both must outlive this object. `js` may be null when only Apply()
  // is used.
  StreamFeed(ChainCache* cache, nats::JetStream* js, StreamFeedOptions options = {});
  ~StreamFeed();
  StreamFeed(const StreamFeed&) = delete;
  StreamFeed& operator=(const StreamFeed&) = delete;

  // One block of the stream (see the contract).
  void Apply(const chain::v1::BlockEvents& block);

  // Starts following the stream (InvalidArgument for an empty consumer name; a missing stream
  // is retried in the background, not an error).
  absl::Status Start();
  void Stop();

  // The last height applied (0 before the first).
  int64_t last_height() const { return last_height_.load(); }
  // True once the consumer exists (blocks published from then on are applied).
  bool following() const;

 private:
  void Follow();

  ChainCache* const cache_;
  nats::JetStream* const js_;
  StreamFeedOptions options_;

  prometheus::Gauge* height_gauge_;
  std::atomic<int64_t> last_height_{0};
  bool have_position_ = false;  // Apply() thread only
  int64_t epoch_index_ = 0;
  std::string phase_;

  absl::Notification stop_;
  std::thread follower_;
  mutable absl::Mutex mu_;
  std::unique_ptr<eventhub::Subscriber> subscriber_ ABSL_GUARDED_BY(mu_);
};

}  // namespace cache
}  // namespace gonka

#endif  // GONKA_CACHE_STREAM_FEED_H_
