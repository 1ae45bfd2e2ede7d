#include "gonka/cache/stream_feed.h"

#include <utility>

#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include "absl/strings/ascii.h"
#include "gonka/base/log.h"
#include "gonka/base/metrics.h"
#include "gonka/eventhub/subscriber.h"
#include "gonka/nats/jetstream.h"

namespace gonka {
namespace cache {

StreamFeed::StreamFeed(ChainCache* cache, nats::JetStream* js, StreamFeedOptions options)
    : cache_(cache),
      js_(js),
      options_(std::move(options)),
      height_gauge_(
          &prometheus::BuildGauge()
               .Name("gonka_cache_stream_height")
               .Help("The last block height the chain cache took from the block stream")
               .Register(options_.registry != nullptr ? *options_.registry : metrics::Registry())
               .Add({{"cache", options_.cache_name}})) {
  for (char& c : options_.consumer) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') c = '_';
  }
}

StreamFeed::~StreamFeed() { Stop(); }

void StreamFeed::Apply(const chain::v1::BlockEvents& block) {
  const int64_t height = block.height();
  if (height <= last_height_.load()) return;
  if (block.has_epoch() && !block.epoch().phase().empty()) {
    const chain::v1::EpochPosition& at = block.epoch();
    if (have_position_) {
      if (at.epoch_index() != epoch_index_) cache_->OnEpochChange(height, at.epoch_index());
      if (at.epoch_index() != epoch_index_ || at.phase() != phase_) {
        cache_->OnPhaseChange(height, at.phase());
      }
    }
    have_position_ = true;
    epoch_index_ = at.epoch_index();
    phase_ = at.phase();
  }
  cache_->OnBlock(height, absl::FromUnixNanos(block.time_unix_nanos()));
  last_height_.store(height);
  height_gauge_->Set(static_cast<double>(height));
}

absl::Status StreamFeed::Start() {
  if (options_.consumer.empty()) return absl::InvalidArgumentError("consumer: required");
  if (js_ == nullptr) return absl::InvalidArgumentError("StreamFeed: no JetStream connection");
  follower_ = std::thread([this] { Follow(); });
  return absl::OkStatus();
}

void StreamFeed::Follow() {
  bool logged = false;
  while (!stop_.HasBeenNotified()) {
    eventhub::SubscriberOptions options;
    options.stream = options_.stream;
    options.subject = options_.subject;
    options.durable = options_.consumer;
    options.inactive_threshold = options_.inactive_threshold;
    options.start_height = 0;  // from the next block: the cache needs no history
    auto subscriber = std::make_unique<eventhub::Subscriber>(options, js_);
    subscriber->OnBlock([this](const chain::v1::BlockEvents& block) {
      Apply(block);
      return absl::OkStatus();
    });
    absl::Status started = subscriber->Start();
    if (started.ok()) {
      GONKA_LOG_INFO("chain cache follows the block stream", {"stream", options_.stream},
                     {"consumer", options_.consumer});
      absl::MutexLock lock(&mu_);
      subscriber_ = std::move(subscriber);
      return;
    }
    if (!logged) {
      GONKA_LOG_WARN("chain cache: block stream not available yet, polling heights meanwhile",
                     {"stream", options_.stream}, {"error", started.ToString()});
      logged = true;
    }
    stop_.WaitForNotificationWithTimeout(options_.retry_interval);
  }
}

bool StreamFeed::following() const {
  absl::MutexLock lock(&mu_);
  return subscriber_ != nullptr;
}

void StreamFeed::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (follower_.joinable()) follower_.join();
  std::unique_ptr<eventhub::Subscriber> subscriber;
  {
    absl::MutexLock lock(&mu_);
    subscriber = std::move(subscriber_);
  }
  if (subscriber) subscriber->Stop();
}

}  // namespace cache
}  // namespace gonka
