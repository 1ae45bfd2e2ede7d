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
                                "Event hub: last_emitted height, cursor (the fenced "
                                "cursor as last written), chain_height, lag, stalled (1 when the "
                                "next height cannot be fetched)")
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
// Fresh heights are claimed `batch` at a time (one JSON-RPC batch request); re-fetches go alone.
class Emitter::Prefetcher {
 public:
  struct Fetched {
    absl::Status status;  // OK: `record` is the serialized BlockEvents
    std::string record;
  };

  Prefetcher(chain::CometClient* comet, chain::CometClient* archive,
             chain::NormalizeOptions normalize, int threads, int window, int batch)
      : comet_(comet),
        archive_(archive),
        normalize_(std::move(normalize)),
        window_(window),
        batch_(batch) {
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
      int64_t from = 0;
      int count = 0;
      bool again = false;  // a re-fetch: alone, with plain GETs
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
          from = retry_.front();
          count = 1;
          again = true;
          retry_.pop_front();
        } else {
          from = claim_;
          int64_t end = std::min({claim_ + batch_, head_ + 1, base_ + window_});
          count = static_cast<int>(end - from);
          claim_ = end;
        }
        generation = generation_;
        for (int k = 0; k < count; ++k) inflight_.insert(from + k);
      }
      std::vector<Fetched> results;
      if (again) {
        results.push_back(FetchOne(from));
      } else {
        results = Fetch(from, count);
      }
      absl::MutexLock lock(&mu_);
      if (generation != generation_) continue;  // reset meanwhile: dropped
      for (int k = 0; k < count; ++k) {
        inflight_.erase(from + k);
        ready_[from + k] = std::move(results[k]);
      }
    }
  }

  std::vector<Fetched> Fetch(int64_t from, int count) {
    if (batch_ <= 1) {
      std::vector<Fetched> out;
      for (int k = 0; k < count; ++k) out.push_back(FetchOne(from + k));
      return out;
    }
    std::vector<Fetched> out(count);
    absl::Status batch = comet_->FetchBlockEventsBatch(
        from, count, normalize_,
        [&](int64_t height, const absl::Status& status, chain::v1::BlockEvents* events) {
          Fetched& f = out[height - from];
          if (status.code() == absl::StatusCode::kNotFound && archive_ != nullptr) {
            f = FetchOne(height);
            return;
          }
          f.status = status;
          if (f.status.ok() && !events->SerializeToString(&f.record)) {
            f.status =
                absl::InternalError(absl::StrCat("height ", height, ": serializing BlockEvents"));
          }
        });
    if (!batch.ok()) {
      // The batch as a whole failed: the first height reports it, the others are fetched alone.
      {
        absl::MutexLock lock(&mu_);
        if (!batch_failed_) {
          GONKA_LOG_WARN("event hub: block batch request failed; fetching heights one by one",
                         {"from", from}, {"count", count}, {"error", batch.ToString()});
        }
        batch_failed_ = true;
      }
      for (int k = 0; k < count; ++k) out[k] = k == 0 ? Fetched{batch, ""} : FetchOne(from + k);
    } else {
      absl::MutexLock lock(&mu_);
      batch_failed_ = false;
    }
    return out;
  }

  // One height with two GETs; from the archive node when the node no longer has it.
  Fetched FetchOne(int64_t height) {
    Fetched f = FetchFrom(comet_, height);
    if (f.status.code() == absl::StatusCode::kNotFound && archive_ != nullptr) {
      Fetched a = FetchFrom(archive_, height);
      if (a.status.ok()) {
        Count(normalize_.chain_id, "archive_fetch");
        return a;
      }
      a.status = absl::Status(a.status.code(),
                              absl::StrCat(f.status.message(), "; archive: ", a.status.message()));
      return a;
    }
    return f;
  }

  Fetched FetchFrom(chain::CometClient* comet, int64_t height) {
    // One message per fetcher thread, reused: its strings and repeated fields keep their storage.
    thread_local chain::v1::BlockEvents events;
    Fetched f;
    absl::StatusOr<std::string> block = comet->BlockJson(height);
    if (!block.ok()) {
      f.status = block.status();
      return f;
    }
    absl::StatusOr<std::string> results = comet->BlockResultsJson(height);
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
  chain::CometClient* const archive_;
  const chain::NormalizeOptions normalize_;
  const int64_t window_;
  const int64_t batch_;
  std::vector<std::thread> threads_;

  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t base_ ABSL_GUARDED_BY(mu_) = 0;           // the height the loop waits for
  int64_t claim_ ABSL_GUARDED_BY(mu_) = 0;          // the next height to fetch (0 = none)
  int64_t head_ ABSL_GUARDED_BY(mu_) = 0;           // fetch nothing above this
  bool batch_failed_ ABSL_GUARDED_BY(mu_) = false;  // the last batch request failed as a whole
  std::map<int64_t, Fetched> ready_ ABSL_GUARDED_BY(mu_);
  std::set<int64_t> inflight_ ABSL_GUARDED_BY(mu_);
  std::deque<int64_t> retry_ ABSL_GUARDED_BY(mu_);
};

// The acks of one leader pass's publishes, filled on nats.c's thread.
struct Emitter::Acks {
  absl::Mutex mu;
  int64_t acked ABSL_GUARDED_BY(mu) = 0;        // every height up to this one is acked
  std::set<int64_t> ahead ABSL_GUARDED_BY(mu);  // acked above a gap (acks arrive in order)
  int inflight ABSL_GUARDED_BY(mu) = 0;
  uint64_t duplicates ABSL_GUARDED_BY(mu) = 0;
  absl::Status error ABSL_GUARDED_BY(mu);  // the first refused or failed publish
  int64_t error_height ABSL_GUARDED_BY(mu) = 0;

  void Done(int64_t height, const absl::StatusOr<nats::PubAck>& ack) {
    absl::MutexLock lock(&mu);
    --inflight;
    if (!ack.ok()) {
      if (error.ok()) {
        error = ack.status();
        error_height = height;
      }
      return;
    }
    if (ack->duplicate) ++duplicates;
    if (height != acked + 1) {
      ahead.insert(height);
      return;
    }
    acked = height;
    while (!ahead.empty() && *ahead.begin() == acked + 1) {
      acked = *ahead.begin();
      ahead.erase(ahead.begin());
    }
  }
};

Emitter::Emitter(EmitterOptions options, chain::CometClient* comet, nats::JetStream* js,
                 election::FencedStore* cursor_store, election::LeaderElector* elector)
    : options_(std::move(options)),
      cursor_key_(options_.cursor_key.empty()
                      ? absl::StrCat("eventhub:{", options_.chain_id, "}:cursor")
                      : options_.cursor_key),
      comet_(comet),
      js_(js),
      cursor_store_(cursor_store),
      elector_(elector),
      last_emitted_gauge_(&Gauges().Add({{"chain", options_.chain_id}, {"kind", "last_emitted"}})),
      lag_gauge_(&Gauges().Add({{"chain", options_.chain_id}, {"kind", "lag"}})),
      chain_height_gauge_(&Gauges().Add({{"chain", options_.chain_id}, {"kind", "chain_height"}})),
      cursor_gauge_(&Gauges().Add({{"chain", options_.chain_id}, {"kind", "cursor"}})),
      published_counter_(&Counters().Add({{"chain", options_.chain_id}, {"kind", "published"}})) {}

Emitter::~Emitter() { Stop(); }

std::string Emitter::MsgId(int64_t height) const {
  return absl::StrCat(options_.chain_id, "/", height);
}

absl::Status Emitter::Start() {
  if (options_.chain_id.empty()) return absl::InvalidArgumentError("chain_id: required");
  if (options_.fetchers < 1) return absl::InvalidArgumentError("fetchers: must be >= 1");
  if (options_.fetch_window < 1) return absl::InvalidArgumentError("fetch_window: must be >= 1");
  if (options_.fetch_batch < 1) return absl::InvalidArgumentError("fetch_batch: must be >= 1");
  if (options_.max_inflight < 1) return absl::InvalidArgumentError("max_inflight: must be >= 1");
  if (options_.cursor_every < 1) return absl::InvalidArgumentError("cursor_every: must be >= 1");
  if (thread_.joinable()) return absl::FailedPreconditionError("emitter already started");
  nats::StreamConfig stream;
  stream.name = options_.stream;
  stream.subjects = {options_.subject};
  stream.replicas = options_.stream_replicas;
  absl::StatusOr<nats::StreamInfo> info = js_->EnsureStream(stream);
  if (!info.ok()) return info.status();
  absl::StatusOr<std::unique_ptr<nats::AsyncPublisher>> publisher =
      js_->NewAsyncPublisher(options_.max_inflight);
  if (!publisher.ok()) return publisher.status();
  publisher_ = std::move(*publisher);
  prefetch_ = std::make_unique<Prefetcher>(
      comet_, options_.archive, chain::NormalizeOptions{options_.chain_id, options_.epochs},
      options_.fetchers, options_.fetch_window, options_.fetch_batch);
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
  publisher_.reset();
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
    GONKA_LOG_ERROR("event hub stalled: not skipping the height", {"error", status.ToString()});
  } else if (status.ok() && !health_.ok()) {
    GONKA_LOG_INFO("event hub emitting again");
  }
  health_ = std::move(status);
}

absl::StatusOr<Emitter::Resume> Emitter::ResumePoint() {
  int64_t cursor = 0;
  absl::StatusOr<std::optional<std::string>> stored = cursor_store_->Get(cursor_key_);
  if (!stored.ok()) return stored.status();
  if (stored->has_value() && !absl::SimpleAtoi(**stored, &cursor)) {
    return absl::DataLossError(
        absl::StrCat("event hub cursor ", cursor_key_, ": \"", **stored, "\" is not a height"));
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
  if (in_stream > 0 && cursor > in_stream) {
    // The cursor only moves after the stream acknowledged a record, so the stream lost records
    // it had acknowledged: e.g. every NATS replica killed at once before writing them out
    // (nats-server 2.9 has no per-message sync). The stream is what consumers read, so emit
    // again from its last record; expecting the cursor's height there would be refused forever.
    return Resume{in_stream, in_stream, cursor};
  }
  return Resume{std::max(cursor, in_stream), in_stream, cursor};
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
      // Followers stay warm: they follow the chain's height and the stream's (the resume point
      // is cheap to read), so /v1/status and /metrics show a follower's view and lag too.
      if (absl::StatusOr<Resume> at = ResumePoint(); at.ok()) {
        last_emitted_ = at->height;
        last_emitted_gauge_->Set(static_cast<double>(at->height));
      }
      if (absl::StatusOr<chain::CometStatus> status = comet_->Status(); status.ok()) {
        chain_height_ = status->latest_height;
        chain_height_gauge_->Set(static_cast<double>(status->latest_height));
        lag_gauge_->Set(static_cast<double>(status->latest_height - last_emitted_.load()));
      }
    }
    if (!Sleep(options_.poll_interval)) return;
  }
}

void Emitter::LeaderPass(election::FencingToken token) {
  if (resumed_token_ != token) {
    absl::StatusOr<Resume> at = ResumePoint();
    if (!at.ok()) {
      GONKA_LOG_WARN("event hub cannot read its resume point", {"error", at.status().ToString()});
      return;
    }
    if (at->cursor > at->height) {
      Count(options_.chain_id, "stream_rewound");
      GONKA_LOG_WARN(
          "event hub: the stream is behind the cursor (records lost); emitting them again",
          {"stream_last", at->in_stream}, {"cursor", at->cursor});
    }
    next_ = at->height + 1;
    stream_last_ = at->in_stream;
    if (at->height == 0) {
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
    unwritten_ = 0;
    cursor_written_ = absl::Now();
    GONKA_LOG_INFO("event hub leader resumes", {"token", static_cast<int64_t>(token)},
                   {"next_height", next_});
  }
  absl::StatusOr<chain::CometStatus> status = comet_->Status();
  if (!status.ok()) {
    SetHealth(absl::UnavailableError(absl::StrCat("chain status: ", status.status().message())));
    return;
  }
  const int64_t head = status->latest_height;
  chain_height_ = head;
  chain_height_gauge_->Set(static_cast<double>(head));
  prefetch_->SetHead(head);
  if (next_ > head) return;

  auto acks = std::make_shared<Acks>();
  {
    absl::MutexLock lock(&acks->mu);
    acks->acked = next_ - 1;
  }
  int64_t send = next_;
  absl::Status fetch_error;
  bool fenced_out = false;
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (stop_) break;
    }
    if (!elector_->IsLeader() || elector_->Token() != token) break;
    int64_t acked = 0;
    int inflight = 0;
    bool failed = false;
    {
      absl::MutexLock lock(&acks->mu);
      acked = acks->acked;
      inflight = acks->inflight;
      failed = !acks->error.ok();
    }
    if (!Account(acked, head, token)) {
      fenced_out = true;
      break;
    }
    if (failed || acked >= head) break;
    if (send <= head && send - acked <= options_.max_inflight) {
      // While publishes are in flight, look back at their acks often.
      std::optional<Prefetcher::Fetched> block =
          prefetch_->Take(send, inflight > 0 ? absl::Milliseconds(5) : absl::Milliseconds(100));
      if (!block.has_value()) continue;  // still fetching: re-check stop, leadership, acks
      if (!block->status.ok()) {
        Count(options_.chain_id, "fetch_error");
        fetch_error =
            absl::UnavailableError(absl::StrCat("height ", send, ": ", block->status.message()));
        break;
      }
      nats::PublishOptions publish;
      publish.msg_id = MsgId(send);
      // The stream refuses this record unless the previous height is its last one. Within a pass
      // every record expects the one published before it; the pass's first record expects what
      // the stream held at resume (nothing, for the very first record of an empty stream).
      if (send > next_ || stream_last_ > 0) publish.expected_last_msg_id = MsgId(send - 1);
      {
        absl::MutexLock lock(&acks->mu);
        ++acks->inflight;
      }
      const int64_t height = send;
      absl::Status sent = publisher_->Publish(
          options_.subject, block->record, publish,
          [acks, height](const absl::StatusOr<nats::PubAck>& ack) { acks->Done(height, ack); });
      if (!sent.ok()) {
        absl::MutexLock lock(&acks->mu);
        --acks->inflight;
        if (acks->error.ok()) {
          acks->error = sent;
          acks->error_height = height;
        }
        break;
      }
      ++send;
      continue;
    }
    // The window is full (or everything up to the head is sent): wait for an ack.
    absl::MutexLock lock(&acks->mu);
    auto changed = [&acks, acked]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(acks->mu) {
      return acks->acked != acked || !acks->error.ok() || acks->inflight == 0;
    };
    acks->mu.AwaitWithTimeout(absl::Condition(&changed), absl::Milliseconds(100));
  }

  // Drain: every publish made in this pass gets its ack (or its timeout) before the next pass
  // decides where to go on from.
  absl::Status drained = publisher_->Flush(absl::Seconds(30));
  if (!drained.ok()) GONKA_LOG_WARN("event hub: publishes unacked", {"error", drained.ToString()});
  int64_t acked = 0;
  absl::Status error;
  int64_t error_height = 0;
  uint64_t duplicates = 0;
  {
    absl::MutexLock lock(&acks->mu);
    acked = acks->acked;
    error = acks->error;
    error_height = acks->error_height;
    duplicates = acks->duplicates;
  }
  if (duplicates > 0) {
    Counters().Add({{"chain", options_.chain_id}, {"kind", "duplicate"}}).Increment(duplicates);
  }
  if (!fenced_out && !Account(acked, head, token)) fenced_out = true;
  if (acked >= next_) stream_last_ = acked;  // what the stream holds last, as far as we know
  next_ = acked + 1;
  if (fenced_out) {
    resumed_token_ = 0;
    return;
  }
  if (!error.ok()) {
    if (error.code() == absl::StatusCode::kFailedPrecondition) {
      // Someone else wrote, or our own earlier publish landed unseen: re-read and continue.
      Count(options_.chain_id, "fenced_publish");
      GONKA_LOG_WARN("event hub publish refused by the stream; resyncing", {"height", error_height},
                     {"error", error.ToString()});
      resumed_token_ = 0;
    } else {
      Count(options_.chain_id, "publish_error");
      SetHealth(absl::UnavailableError(
          absl::StrCat("publish height ", error_height, ": ", error.message())));
      // Unacked is not refused: the record may be stored. Resync from the stream.
      resumed_token_ = 0;
      Backoff();
    }
    return;
  }
  if (!fetch_error.ok()) {
    SetHealth(std::move(fetch_error));
    Backoff();
  }
}

void Emitter::Backoff() {
  if (retry_delay_ < options_.retry_interval) retry_delay_ = options_.retry_interval;
  Sleep(retry_delay_);
  retry_delay_ =
      std::min(retry_delay_ * 2, std::max(options_.max_retry_interval, options_.retry_interval));
}

bool Emitter::Account(int64_t acked, int64_t head, election::FencingToken token) {
  const int64_t before = last_emitted_.load();
  if (acked <= before) return true;
  SetHealth(absl::OkStatus());
  retry_delay_ = options_.retry_interval;
  last_emitted_ = acked;
  published_ += static_cast<uint64_t>(acked - before);
  published_counter_->Increment(static_cast<double>(acked - before));
  last_emitted_gauge_->Set(static_cast<double>(acked));
  lag_gauge_->Set(static_cast<double>(head - acked));
  unwritten_ += static_cast<int>(acked - before);
  if (unwritten_ < options_.cursor_every && acked != head &&
      absl::Now() - cursor_written_ < options_.cursor_interval) {
    return true;
  }
  absl::StatusOr<election::FenceResult> fenced =
      cursor_store_->Set(token, cursor_key_, absl::StrCat(acked));
  if (!fenced.ok()) {
    // The records are in the stream; the cursor catches up on the next write (resume takes the
    // max of both), so this is not a gap.
    GONKA_LOG_WARN("event hub cursor write failed", {"height", acked},
                   {"error", fenced.status().ToString()});
    return true;
  }
  if (!fenced->applied) {
    Count(options_.chain_id, "fenced_cursor");
    GONKA_LOG_WARN("event hub cursor fenced out: a newer leader exists",
                   {"token", static_cast<int64_t>(token)},
                   {"newest", static_cast<int64_t>(fenced->newest_token)});
    return false;
  }
  unwritten_ = 0;
  cursor_written_ = absl::Now();
  cursor_gauge_->Set(static_cast<double>(acked));
  return true;
}

}  // namespace eventhub
}  // namespace gonka
