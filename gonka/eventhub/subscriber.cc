#include "gonka/eventhub/subscriber.h"

#include <algorithm>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gonka/base/log.h"

namespace gonka {
namespace eventhub {

Subscriber::Subscriber(SubscriberOptions options, nats::JetStream* js)
    : options_(std::move(options)), js_(js) {}

Subscriber::~Subscriber() { Stop(); }

void Subscriber::OnBlock(BlockCallback callback) {
  block_callbacks_.push_back(std::move(callback));
}

void Subscriber::OnEvent(std::string type, EventCallback callback) {
  event_callbacks_[std::move(type)].push_back(std::move(callback));
}

absl::Status Subscriber::Start() {
  if (options_.durable.empty()) return absl::InvalidArgumentError("durable: required");
  if (options_.batch < 1) return absl::InvalidArgumentError("batch: must be >= 1");
  nats::ConsumerConfig config;
  config.stream = options_.stream;
  config.durable = options_.durable;
  config.filter_subject = options_.subject;
  config.ack_wait = options_.ack_wait;
  config.max_ack_pending = options_.batch * 4;
  config.inactive_threshold = options_.inactive_threshold;
  // Map the start height to a stream sequence: the block subject carries one record per height,
  // in order, so sequences and heights advance together.
  absl::StatusOr<nats::StreamInfo> info = js_->GetStreamInfo(options_.stream, options_.subject);
  if (!info.ok()) return info.status();
  int64_t last_height = 0;
  if (!info->subject_last_msg_id.empty()) {
    absl::string_view id = info->subject_last_msg_id;
    size_t slash = id.rfind('/');
    // "<chain>/<height>"; anything else is treated as an empty stream (0).
    if (slash == absl::string_view::npos || !absl::SimpleAtoi(id.substr(slash + 1), &last_height)) {
      last_height = 0;
    }
  }
  if (options_.start_height <= 0) {
    config.start = nats::ConsumerConfig::Start::kNew;
  } else if (last_height == 0) {
    config.start = nats::ConsumerConfig::Start::kAll;
  } else {
    int64_t seq =
        static_cast<int64_t>(info->subject_last_sequence) - (last_height - options_.start_height);
    seq = std::max<int64_t>(seq, static_cast<int64_t>(info->first_sequence));
    config.start = nats::ConsumerConfig::Start::kSequence;
    config.start_sequence = static_cast<uint64_t>(std::max<int64_t>(seq, 1));
  }
  absl::StatusOr<std::unique_ptr<nats::PullConsumer>> consumer = js_->Consumer(config);
  if (!consumer.ok()) return consumer.status();
  consumer_ = std::move(*consumer);
  stop_ = false;
  thread_ = std::thread([this] { Loop(); });
  return absl::OkStatus();
}

void Subscriber::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

absl::Status Subscriber::Deliver(const chain::v1::BlockEvents& block) {
  for (auto& callback : block_callbacks_) {
    if (absl::Status s = callback(block); !s.ok()) return s;
  }
  if (event_callbacks_.empty()) return absl::OkStatus();
  auto run = [&](const chain::v1::Event& event) -> absl::Status {
    auto it = event_callbacks_.find(event.type());
    if (it == event_callbacks_.end()) return absl::OkStatus();
    for (auto& callback : it->second) {
      if (absl::Status s = callback(block, event); !s.ok()) return s;
    }
    return absl::OkStatus();
  };
  for (const auto& tx : block.txs()) {
    for (const auto& event : tx.events()) {
      if (absl::Status s = run(event); !s.ok()) return s;
    }
  }
  for (const auto& event : block.finalize_block_events()) {
    if (absl::Status s = run(event); !s.ok()) return s;
  }
  return absl::OkStatus();
}

void Subscriber::Loop() {
  while (!stop_.load()) {
    absl::StatusOr<std::vector<nats::JsMessage>> batch =
        consumer_->Fetch(options_.batch, options_.fetch_timeout);
    if (!batch.ok()) {
      GONKA_LOG_WARN("subscriber fetch failed", {"durable", options_.durable},
                     {"error", batch.status().ToString()});
      absl::SleepFor(options_.retry_initial);
      continue;
    }
    for (nats::JsMessage& message : *batch) {
      chain::v1::BlockEvents block;
      if (!block.ParseFromString(message.data())) {
        // A record the hub wrote but this binary cannot read: stop here rather than skip it.
        GONKA_LOG_ERROR("subscriber cannot decode a block record; not acking it",
                        {"durable", options_.durable},
                        {"sequence", static_cast<int64_t>(message.stream_sequence())});
        absl::SleepFor(options_.retry_max);
        break;
      }
      if (block.height() <= last_height_.load()) {  // a redelivery after a server crash
        message.Ack().IgnoreError();
        continue;
      }
      absl::Duration delay = options_.retry_initial;
      while (!stop_.load()) {
        absl::Status s = Deliver(block);
        if (s.ok()) break;
        GONKA_LOG_WARN("subscriber callback failed; retrying", {"durable", options_.durable},
                       {"height", block.height()}, {"error", s.ToString()});
        message.InProgress().IgnoreError();
        absl::SleepFor(delay);
        delay = std::min(delay * 2, options_.retry_max);
      }
      if (stop_.load()) return;  // unacked: redelivered to the next run
      if (absl::Status s = message.AckSync(); !s.ok()) {
        GONKA_LOG_WARN("subscriber ack failed (the block may be redelivered)",
                       {"height", block.height()}, {"error", s.ToString()});
      }
      last_height_ = block.height();
    }
  }
}

}  // namespace eventhub
}  // namespace gonka
