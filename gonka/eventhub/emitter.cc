#include "gonka/eventhub/emitter.h"

#include <algorithm>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <thread>
#include <utility>
#include <vector>

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

// The catch-up pipeline: fetcher threads fill a reorder window keyed by height; the publish loop
// takes heights strictly in order with Take(). Take(h) also re-aims the pipeline: it fetches from
// h on if h is not where the window starts, and re-fetches h if its earlier result was consumed
// (a failed fetch, a failed publish). Results from before a Reset() or Pause() are dropped.
class Emitter::Prefetcher {
 public:
  struct Fetched {
    absl::Status status;  // OK: `record` is the serialized BlockEvents
    std::string record;
  };

  Prefetcher(chain::CometClient* comet, chain::NormalizeOptions normalize, int threads, int window)
      : comet_(comet), normalize_(std::move(normalize)), window_(window) {
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Run(); });
  }

  ~Prefetcher() {
    {
      absl::MutexLock lock(&mu_);
      stop_ = true;
    }
    for (std::thread& t : threads_) t.join();
  }

  // The chain's latest height: nothing above it is fetched.
  void SetHead(int64_t head) {
    absl::MutexLock lock(&mu_);
    head_ = head;
  }

  // Stops fetching and frees the window (this replica is not the leader).
  void Pause() {
    absl::MutexLock lock(&mu_);
    ResetLocked(0);
  }

  // Waits up to `timeout` for `height`'s result and hands it over; nullopt on timeout or stop.
  std::optional<Fetched> Take(int64_t height, absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    if (height != base_) ResetLocked(height);
    if (ready_.count(height) == 0 && inflight_.count(height) == 0 &&
        std::find(retry_.begin(), retry_.end(), height) == retry_.end() && height < claim_) {
      retry_.push_front(height);  // consumed before (failed): fetch it again
    }
    auto ready = [this, height]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return stop_ || ready_.count(height) > 0;
    };
    mu_.AwaitWithTimeout(absl::Condition(&ready), timeout);
    auto it = ready_.find(height);
    if (it == ready_.end()) return std::nullopt;
    Fetched f = std::move(it->second);
    ready_.erase(it);
    if (f.status.ok()) base_ = height + 1;
    return f;
  }

 private:
  void ResetLocked(int64_t height) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    ++generation_;
    base_ = height;
    claim_ = height;
    if (height == 0) head_ = 0;
    ready_.clear();
    retry_.clear();
    inflight_.clear();
  }

  void Run() {
    while (true) {
      int64_t height = 0;
      uint64_t generation = 0;
      {
        absl::MutexLock lock(&mu_);
        auto work = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          return stop_ || !retry_.empty() ||
                 (claim_ > 0 && claim_ <= head_ && claim_ < base_ + window_);
        };
        mu_.Await(absl::Condition(&work));
        if (stop_) return;
        if (!retry_.empty()) {
          height = retry_.front();
          retry_.pop_front();
        } else {
          height = claim_++;
        }
        generation = generation_;
        inflight_.insert(height);
      }
      Fetched f = Fetch(height);
      absl::MutexLock lock(&mu_);
      if (generation != generation_) continue;  // reset meanwhile: dropped
      inflight_.erase(height);
      ready_[height] = std::move(f);
    }
  }

  Fetched Fetch(int64_t height) {
    // One message per fetcher thread, reused: its strings and repeated fields keep their storage.
    thread_local chain::v1::BlockEvents events;
    Fetched f;
    absl::StatusOr<std::string> block = comet_->BlockJson(height);
    if (!block.ok()) {
      f.status = block.status();
      return f;
    }
    absl::StatusOr<std::string> results = comet_->BlockResultsJson(height);
    if (!results.ok()) {
      f.status = results.status();
      return f;
    }
    f.status = chain::NormalizeBlockInto(*block, *results, normalize_, &events);
    if (f.status.ok() && events.height() != height) {
      f.status = absl::DataLossError(absl::StrCat("asked for height ", height,
                                                  ", the node answered height ", events.height()));
    }
    if (f.status.ok() && !events.SerializeToString(&f.record)) {
      f.status = absl::InternalError(absl::StrCat("height ", height, ": serializing BlockEvents"));
    }
    return f;
  }

  chain::CometClient* const comet_;
  const chain::NormalizeOptions normalize_;
  const int64_t window_;
  std::vector<std::thread> threads_;

  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t base_ ABSL_GUARDED_BY(mu_) = 0;   // the height the loop waits for
  int64_t claim_ ABSL_GUARDED_BY(mu_) = 0;  // the next height to fetch (0 = none)
  int64_t head_ ABSL_GUARDED_BY(mu_) = 0;   // fetch nothing above this
  std::map<int64_t, Fetched> ready_ ABSL_GUARDED_BY(mu_);
  std::set<int64_t> inflight_ ABSL_GUARDED_BY(mu_);
  std::deque<int64_t> retry_ ABSL_GUARDED_BY(mu_);
};

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
      elector_(elector),
      last_emitted_gauge_(&Gauges().Add({{"chain", options_.chain_id}, {"kind", "last_emitted"}})),
      lag_gauge_(&Gauges().Add({{"chain", options_.chain_id}, {"kind", "lag"}})),
      published_counter_(&Counters().Add({{"chain", options_.chain_id}, {"kind", "published"}})) {}

Emitter::~Emitter() { Stop(); }

std::string Emitter::MsgId(int64_t height) const {
  return absl::StrCat(options_.chain_id, "/", height);
}

absl::Status Emitter::Start() {
  if (options_.chain_id.empty()) return absl::InvalidArgumentError("chain_id: required");
  if (options_.fetchers < 1) return absl::InvalidArgumentError("fetchers: must be >= 1");
  if (options_.fetch_window < 1) return absl::InvalidArgumentError("fetch_window: must be >= 1");
  if (options_.cursor_every < 1) return absl::InvalidArgumentError("cursor_every: must be >= 1");
  if (thread_.joinable()) return absl::FailedPreconditionError("emitter already started");
  nats::StreamConfig stream;
  stream.name = options_.stream;
  stream.subjects = {options_.subject};
  stream.replicas = options_.stream_replicas;
  absl::StatusOr<nats::StreamInfo> info = js_->EnsureStream(stream);
  if (!info.ok()) return info.status();
  prefetch_ = std::make_unique<Prefetcher>(
      comet_, chain::NormalizeOptions{options_.chain_id, options_.epochs}, options_.fetchers,
      options_.fetch_window);
  thread_ = std::thread([this] { Loop(); });
  return absl::OkStatus();
}

void Emitter::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
  prefetch_.reset();
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
  if (status.ok()) {
    absl::MutexLock lock(&health_mu_);
    if (health_.ok() && healthy_reported_) return;  // the per-height fast path
    healthy_reported_ = true;
  }
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
      prefetch_->Pause();
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
  prefetch_->SetHead(status->latest_height);
  // Heights published since the cursor was last written (the fenced write is a Redis round
  // trip; resume takes max(cursor, stream), so a lagging cursor never becomes a gap).
  int unwritten = 0;
  absl::Time cursor_written = absl::Now();
  while (next_ <= status->latest_height) {
    {
      absl::MutexLock lock(&mu_);
      if (stop_) return;
    }
    if (!elector_->IsLeader() || elector_->Token() != token) return;
    std::optional<Prefetcher::Fetched> block = prefetch_->Take(next_, absl::Milliseconds(100));
    if (!block.has_value()) continue;  // still fetching: re-check stop and leadership
    if (!block->status.ok()) {
      Count(options_.chain_id, "fetch_error");
      SetHealth(
          absl::UnavailableError(absl::StrCat("height ", next_, ": ", block->status.message())));
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
    absl::StatusOr<nats::PubAck> ack = js_->Publish(options_.subject, block->record, publish);
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
    SetHealth(absl::OkStatus());
    last_emitted_ = next_;
    published_++;
    published_counter_->Increment();
    last_emitted_gauge_->Set(next_);
    lag_gauge_->Set(status->latest_height - next_);
    ++unwritten;
    if (unwritten >= options_.cursor_every || next_ == status->latest_height ||
        absl::Now() - cursor_written >= options_.cursor_interval) {
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
        ++next_;
        return;
      } else {
        unwritten = 0;
        cursor_written = absl::Now();
      }
    }
    ++next_;
  }
}

}  // namespace eventhub
}  // namespace gonka
