#include "gonka/edgesrv/stage_gate.h"

#include <unistd.h>

#include <utility>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gonka/chain/comet_client.h"
#include "gonka/eventhub/subscriber.h"

namespace gonka {
namespace edgesrv {

StageWindow WindowAt(const chain::EpochParams& p, int64_t height) {
  StageWindow w;
  w.height = height;
  chain::EpochSchedule s = chain::ScheduleAt(p, height);
  w.epoch_index = static_cast<int64_t>(s.epoch_index);
  w.poc_start = s.poc_start_height;
  w.phase = s.phase;
  if (w.poc_start > 0) {
    const int64_t deadline = w.poc_start + p.poc_stage_duration + p.poc_exchange_duration;
    w.generating = height >= w.poc_start && height <= deadline;
    w.validating = s.phase == "PoCValidate" || s.phase == "PoCValidateWindDown";
  }
  return w;
}

StageFn ChainStageFn(chain::CometClient* comet, chain::EpochParams params,
                     absl::Duration interval) {
  struct State {
    absl::Mutex mu;
    absl::Time polled ABSL_GUARDED_BY(mu) = absl::InfinitePast();
    int64_t height ABSL_GUARDED_BY(mu) = 0;
  };
  auto state = std::make_shared<State>();
  return [comet, params, interval, state]() -> absl::StatusOr<StageWindow> {
    absl::MutexLock lock(&state->mu);
    if (absl::Now() - state->polled >= interval) {
      absl::StatusOr<chain::CometStatus> status = comet->Status();
      if (!status.ok()) {
        return absl::UnavailableError(
            absl::StrCat("the chain's height cannot be read: ", status.status().message()));
      }
      state->height = status->latest_height;
      state->polled = absl::Now();
    }
    return WindowAt(params, state->height);
  };
}

StreamStageGate::StreamStageGate(nats::JetStream* js, StreamStageGateOptions options)
    : options_(std::move(options)),
      js_(js),
      clock_(options_.clock != nullptr ? options_.clock : Clock::Real()) {}

StreamStageGate::~StreamStageGate() { Stop(); }

absl::Status StreamStageGate::Start() {
  if (js_ == nullptr) return absl::InvalidArgumentError("stage gate: no JetStream");
  if (options_.stale_after <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("stale_after: must be > 0");
  }
  absl::Status first = Subscribe();
  if (!absl::IsNotFound(first)) return first;
  // The event hub has not created its stream yet: keep trying (the phase is unknown meanwhile),
  // so replicas may start in any order.
  retry_ = std::thread([this] {
    absl::MutexLock lock(&retry_mu_);
    while (!retry_stop_) {
      retry_mu_.AwaitWithTimeout(absl::Condition(&retry_stop_), absl::Milliseconds(500));
      if (retry_stop_) break;
      absl::Status s = Subscribe();
      if (s.ok()) break;
      if (!absl::IsNotFound(s)) ++retry_errors_;
    }
  });
  return absl::OkStatus();
}

absl::Status StreamStageGate::Subscribe() {
  absl::BitGen gen;
  eventhub::SubscriberOptions so;
  so.stream = options_.stream;
  so.subject = options_.subject;
  so.durable = absl::StrFormat("%s-%d-%016x", options_.durable_prefix, getpid(),
                               absl::Uniform<uint64_t>(gen));
  so.start_height = 0;  // from the next block
  so.inactive_threshold = absl::Minutes(1);
  so.retry_initial = absl::Milliseconds(50);
  so.retry_max = absl::Seconds(1);
  auto subscriber = std::make_unique<eventhub::Subscriber>(so, js_);
  subscriber->OnBlock([this](const chain::v1::BlockEvents& b) { return Observe(b); });
  if (absl::Status s = subscriber->Start(); !s.ok()) return s;
  absl::MutexLock lock(&subscriber_mu_);
  subscriber_ = std::move(subscriber);
  return absl::OkStatus();
}

void StreamStageGate::Stop() {
  {
    absl::MutexLock lock(&retry_mu_);
    retry_stop_ = true;
  }
  if (retry_.joinable()) retry_.join();
  std::unique_ptr<eventhub::Subscriber> subscriber;
  {
    absl::MutexLock lock(&subscriber_mu_);
    subscriber = std::move(subscriber_);
  }
  if (subscriber) subscriber->Stop();
}

absl::Status StreamStageGate::Observe(const chain::v1::BlockEvents& block) {
  absl::MutexLock lock(&mu_);
  if (block.height() <= window_.height) return absl::OkStatus();  // redelivered
  observed_at_ = clock_->Now();
  if (!block.has_epoch()) {
    known_ = false;
    window_ = StageWindow{.height = block.height()};
    return absl::OkStatus();
  }
  const chain::v1::EpochPosition& e = block.epoch();
  StageWindow w;
  w.height = block.height();
  w.epoch_index = static_cast<int64_t>(e.epoch_index());
  w.poc_start = e.poc_start_height();
  w.phase = e.phase();
  const bool deadline_block = e.stage() == "PoCExchangeDeadline";
  if (w.poc_start > 0) {
    w.generating =
        deadline_block || ((e.phase() == "PoCGenerate" || e.phase() == "PoCGenerateWindDown") &&
                           exchange_closed_for_ != w.poc_start);
    w.validating = e.phase() == "PoCValidate" || e.phase() == "PoCValidateWindDown";
  }
  if (deadline_block) exchange_closed_for_ = w.poc_start;
  if (w.poc_start > 0 && block.height() == w.poc_start) {
    start_height_ = w.poc_start;
    start_hash_ = block.hash();
  }
  if (w.poc_start > 0 && start_height_ == w.poc_start) w.poc_start_hash = start_hash_;
  window_ = std::move(w);
  known_ = true;
  return absl::OkStatus();
}

absl::StatusOr<StageWindow> StreamStageGate::Current() const {
  absl::MutexLock lock(&mu_);
  if (window_.height == 0) {
    return absl::UnavailableError("the phase is not known yet: no block from the event stream");
  }
  if (clock_->Now() - observed_at_ > options_.stale_after) {
    return absl::UnavailableError(absl::StrCat("the phase is not known: no block from the event ",
                                               "stream since height ", window_.height, " for ",
                                               absl::FormatDuration(options_.stale_after)));
  }
  if (!known_) {
    return absl::UnavailableError(
        absl::StrCat("the phase is not known: block ", window_.height, " has no epoch position"));
  }
  return window_;
}

StageFn StreamStageGate::AsStageFn() {
  return [this] { return Current(); };
}

int64_t StreamStageGate::height() const {
  absl::MutexLock lock(&mu_);
  return window_.height;
}

}  // namespace edgesrv
}  // namespace gonka
