#include "gonka/eventhub/emitter.h"

#include <algorithm>
#include <utility>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "gonka/base/log.h"
#include "gonka/base/metrics.h"

namespace gonka {
namespace eventhub {
namespace {

prometheus::Family<prometheus::Gauge>& Gauges() {
  static auto& family = prometheus::BuildGauge()
                            .Name("gonka_eventhub")
                            .Help(
                                "Event hub: last_emitted height, chain_height, lag, stalled (1 "
                                "when the next height cannot be fetched)")
                            .Register(metrics::Registry());
  return family;
}

prometheus::Family<prometheus::Counter>& Counters() {
  static auto& family = prometheus::BuildCounter()
                            .Name("gonka_eventhub_events_total")
                            .Help(
                                "Event hub: published blocks, duplicate acks, fencing refusals, "
                                "fetch errors, publish errors")
                            .Register(metrics::Registry());
  return family;
}

void Count(const std::string& chain, const char* kind) {
  Counters().Add({{"chain", chain}, {"kind", kind}}).Increment();
}

}  // namespace

Emitter::Emitter(EmitterOptions options, chain::CometClient* comet, nats::JetStream* js,
                 redis::RedisClient* redis, election::RedisFence* fence,
                 election::LeaderElector* elector)
    : options_(std::move(options)),
      cursor_key_(options_.cursor_key.empty()
                      ? absl::StrCat("eventhub:{", options_.chain_id, "}:cursor")
                      : options_.cursor_key),
      comet_(comet),
      js_(js),
      redis_(redis),
      fence_(fence),
      elector_(elector) {}

Emitter::~Emitter() { Stop(); }

std::string Emitter::MsgId(int64_t height) const {
  return absl::StrCat(options_.chain_id, "/", height);
}

absl::Status Emitter::Start() {
  if (options_.chain_id.empty()) return absl::InvalidArgumentError("chain_id: required");
  nats::StreamConfig stream;
  stream.name = options_.stream;
  stream.subjects = {options_.subject};
  stream.replicas = options_.stream_replicas;
  absl::StatusOr<nats::StreamInfo> info = js_->EnsureStream(stream);
  if (!info.ok()) return info.status();
  thread_ = std::thread([this] { Loop(); });
  return absl::OkStatus();
}

void Emitter::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void Emitter::Wake() {
  absl::MutexLock lock(&mu_);
  woken_ = true;
}

bool Emitter::Sleep(absl::Duration d) {
  absl::MutexLock lock(&mu_);
  auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_ || woken_; };
  mu_.AwaitWithTimeout(absl::Condition(&ready), d);
  woken_ = false;
  return !stop_;
}

absl::Status Emitter::health() const {
  absl::MutexLock lock(&health_mu_);
  return health_;
}

void Emitter::SetHealth(absl::Status status) {
  Gauges().Add({{"chain", options_.chain_id}, {"kind", "stalled"}}).Set(status.ok() ? 0 : 1);
  absl::MutexLock lock(&health_mu_);
  if (!status.ok() && health_.ok()) {
    GLOG_ERROR("event hub stalled: not skipping the height", {"error", status.ToString()});
  } else if (status.ok() && !health_.ok()) {
    GLOG_INFO("event hub emitting again");
  }
  health_ = std::move(status);
}

absl::StatusOr<int64_t> Emitter::ResumePoint() {
  int64_t cursor = 0;
  absl::StatusOr<redis::RedisReply> reply = redis_->Command({"GET", cursor_key_});
  if (!reply.ok()) return reply.status();
  if (!reply->is_nil()) {
    absl::StatusOr<int64_t> value = reply->AsInt();
    if (!value.ok()) return value.status();
    cursor = *value;
  }
  int64_t in_stream = 0;
  absl::StatusOr<nats::StreamInfo> info = js_->GetStreamInfo(options_.stream, options_.subject);
  if (!info.ok()) return info.status();
  if (!info->subject_last_msg_id.empty()) {
    absl::string_view id = info->subject_last_msg_id;
    if (!absl::ConsumePrefix(&id, options_.chain_id + "/") || !absl::SimpleAtoi(id, &in_stream)) {
      return absl::DataLossError(absl::StrCat("stream ", options_.stream, ": last message id \"",
                                              info->subject_last_msg_id, "\" is not from chain ",
                                              options_.chain_id));
    }
  }
  return std::max(cursor, in_stream);
}

void Emitter::Loop() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (stop_) return;
    }
    election::FencingToken token = elector_->Token();
    if (elector_->IsLeader() && token > 0) {
      LeaderPass(token);
    } else {
      resumed_token_ = 0;
      // Followers stay warm: the resume point is cheap to read and tells /metrics the lag.
      if (absl::StatusOr<int64_t> at = ResumePoint(); at.ok()) last_emitted_ = *at;
    }
    if (!Sleep(options_.poll_interval)) return;
  }
}

void Emitter::LeaderPass(election::FencingToken token) {
  if (resumed_token_ != token) {
    absl::StatusOr<int64_t> at = ResumePoint();
    if (!at.ok()) {
      GLOG_WARN("event hub cannot read its resume point", {"error", at.status().ToString()});
      return;
    }
    next_ = *at + 1;
    if (*at == 0) {
      if (options_.start_height > 0) {
        next_ = options_.start_height;
      } else {
        absl::StatusOr<chain::CometStatus> status = comet_->Status();
        if (!status.ok()) return;
        next_ = status->latest_height;
      }
    }
    resumed_token_ = token;
    last_emitted_ = next_ - 1;
    GLOG_INFO("event hub leader resumes", {"token", static_cast<int64_t>(token)},
              {"next_height", next_});
  }
  absl::StatusOr<chain::CometStatus> status = comet_->Status();
  if (!status.ok()) {
    SetHealth(absl::UnavailableError(absl::StrCat("chain status: ", status.status().message())));
    return;
  }
  chain_height_ = status->latest_height;
  Gauges().Add({{"chain", options_.chain_id}, {"kind", "chain_height"}}).Set(status->latest_height);
  chain::NormalizeOptions normalize{options_.chain_id, options_.epochs};
  while (next_ <= status->latest_height) {
    {
      absl::MutexLock lock(&mu_);
      if (stop_) return;
    }
    if (!elector_->IsLeader() || elector_->Token() != token) return;
    absl::StatusOr<chain::v1::BlockEvents> block = comet_->FetchBlockEvents(next_, normalize);
    if (!block.ok()) {
      Count(options_.chain_id, "fetch_error");
      SetHealth(
          absl::UnavailableError(absl::StrCat("height ", next_, ": ", block.status().message())));
      Sleep(options_.retry_interval);
      return;
    }
    nats::PublishOptions publish;
    publish.msg_id = MsgId(next_);
    // The stream refuses this record unless the previous height is its last one. (For the very
    // first record of an empty stream there is nothing to expect.)
    if (last_emitted_.load() > 0 && last_emitted_.load() == next_ - 1) {
      publish.expected_last_msg_id = MsgId(next_ - 1);
    }
    absl::StatusOr<nats::PubAck> ack =
        js_->Publish(options_.subject, block->SerializeAsString(), publish);
    if (!ack.ok()) {
      if (ack.status().code() == absl::StatusCode::kFailedPrecondition) {
        // Someone else wrote, or our own earlier publish landed unseen: re-read and continue.
        Count(options_.chain_id, "fenced_publish");
        GLOG_WARN("event hub publish refused by the stream; resyncing", {"height", next_},
                  {"error", ack.status().ToString()});
        resumed_token_ = 0;
      } else {
        Count(options_.chain_id, "publish_error");
        SetHealth(absl::UnavailableError(
            absl::StrCat("publish height ", next_, ": ", ack.status().message())));
        Sleep(options_.retry_interval);
      }
      return;
    }
    if (ack->duplicate) Count(options_.chain_id, "duplicate");
    absl::StatusOr<election::FenceResult> fenced =
        fence_->Set(token, cursor_key_, absl::StrCat(next_));
    if (!fenced.ok()) {
      // The record is in the stream; the cursor catches up on the next write (resume takes the
      // max of both), so this is not a gap.
      GLOG_WARN("event hub cursor write failed", {"height", next_},
                {"error", fenced.status().ToString()});
    } else if (!fenced->applied) {
      Count(options_.chain_id, "fenced_cursor");
      GLOG_WARN("event hub cursor fenced out: a newer leader exists",
                {"token", static_cast<int64_t>(token)},
                {"newest", static_cast<int64_t>(fenced->newest_token)});
      resumed_token_ = 0;
      return;
    }
    SetHealth(absl::OkStatus());
    last_emitted_ = next_;
    published_++;
    Count(options_.chain_id, "published");
    Gauges().Add({{"chain", options_.chain_id}, {"kind", "last_emitted"}}).Set(next_);
    Gauges()
        .Add({{"chain", options_.chain_id}, {"kind", "lag"}})
        .Set(status->latest_height - next_);
    ++next_;
  }
}

}  // namespace eventhub
}  // namespace gonka
