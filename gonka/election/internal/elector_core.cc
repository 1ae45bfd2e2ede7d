#include "gonka/election/internal/elector_core.h"

#include <algorithm>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gonka/base/log.h"
#include "gonka/base/metrics.h"

namespace gonka {
namespace election {

absl::Status ValidateLeaderElectorOptions(const LeaderElectorOptions& o) {
  auto positive = [](absl::string_view field, absl::Duration d) -> absl::Status {
    if (d <= absl::ZeroDuration()) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": must be positive, got ", absl::FormatDuration(d)));
    }
    return absl::OkStatus();
  };
  if (o.identity.empty()) return absl::InvalidArgumentError("identity: required");
  for (auto [field, d] : {std::pair<const char*, absl::Duration>{"lease_ttl", o.lease_ttl},
                          {"renew_interval", o.renew_interval},
                          {"renew_deadline", o.renew_deadline},
                          {"retry_interval", o.retry_interval},
                          {"max_error_backoff", o.max_error_backoff}}) {
    absl::Status s = positive(field, d);
    if (!s.ok()) return s;
  }
  if (o.drift_margin < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("drift_margin: must not be negative");
  }
  if (o.renew_deadline >= o.lease_ttl - o.drift_margin) {
    return absl::InvalidArgumentError(
        absl::StrCat("renew_deadline (", absl::FormatDuration(o.renew_deadline),
                     ") must be < lease_ttl (", absl::FormatDuration(o.lease_ttl),
                     ") - drift_margin (", absl::FormatDuration(o.drift_margin), ")"));
  }
  if (o.renew_interval >= o.renew_deadline) {
    return absl::InvalidArgumentError(
        absl::StrCat("renew_interval (", absl::FormatDuration(o.renew_interval),
                     ") must be < renew_deadline (", absl::FormatDuration(o.renew_deadline), ")"));
  }
  if (o.clock == nullptr) return absl::InvalidArgumentError("clock: required");
  return absl::OkStatus();
}

namespace internal {
namespace {

struct Families {
  prometheus::Family<prometheus::Gauge>& is_leader;
  prometheus::Family<prometheus::Gauge>& token;
  prometheus::Family<prometheus::Histogram>& renew_latency;
  prometheus::Family<prometheus::Counter>& renew_failures;
  prometheus::Family<prometheus::Counter>& transitions;
  prometheus::Family<prometheus::Counter>& step_downs;
};

Families& GetFamilies() {
  static Families* f = [] {
    auto& r = metrics::Registry();
    return new Families{
        prometheus::BuildGauge()
            .Name("gonka_election_is_leader")
            .Help("1 while this candidate holds the lease")
            .Register(r),
        prometheus::BuildGauge()
            .Name("gonka_election_token")
            .Help("Fencing token of the current (or last) term held")
            .Register(r),
        prometheus::BuildHistogram()
            .Name("gonka_election_renew_latency_seconds")
            .Help("Latency of successful lease renewals")
            .Register(r),
        prometheus::BuildCounter()
            .Name("gonka_election_renew_failures_total")
            .Help("Lease renewals that failed (error or lease lost)")
            .Register(r),
        prometheus::BuildCounter()
            .Name("gonka_election_transitions_total")
            .Help("Leadership transitions, by direction")
            .Register(r),
        prometheus::BuildCounter()
            .Name("gonka_election_step_downs_total")
            .Help("Local step-downs of a leader, by reason")
            .Register(r),
    };
  }();
  return *f;
}

std::string MakeOwner(const std::string& identity) {
  std::random_device rd;
  uint64_t nonce = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  return absl::StrFormat("%s#%016x", identity, nonce);
}

}  // namespace

ElectorCore::ElectorCore(std::string election, std::unique_ptr<LeaseBackend> backend,
                         LeaderElectorOptions options)
    : election_(std::move(election)),
      backend_(std::move(backend)),
      options_(std::move(options)),
      clock_(options_.clock),
      owner_(MakeOwner(options_.identity)) {
  Families& f = GetFamilies();
  std::map<std::string, std::string> labels = {{"election", election_},
                                               {"identity", options_.identity}};
  is_leader_gauge_ = &f.is_leader.Add(labels);
  token_gauge_ = &f.token.Add(labels);
  renew_latency_ = &f.renew_latency.Add(labels, metrics::LatencyBuckets());
  renew_failures_ = &f.renew_failures.Add(labels);
  auto with = [&](const char* k, const char* v) {
    auto l = labels;
    l[k] = v;
    return l;
  };
  to_leader_ = &f.transitions.Add(with("to", "leader"));
  to_follower_ = &f.transitions.Add(with("to", "follower"));
  backend_->SetReleaseListener([this] { Wake(); });
}

ElectorCore::~ElectorCore() {
  Stop();
  backend_->Close();
}

absl::Status ElectorCore::Start() {
  {
    absl::MutexLock lock(&mu_);
    if (started_) return absl::FailedPreconditionError("election " + election_ + ": started");
  }
  absl::Status s = backend_->Connect();
  if (!s.ok()) {
    return absl::Status(s.code(), absl::StrCat("election ", election_, ": ", s.message()));
  }
  absl::MutexLock lock(&mu_);
  started_ = true;
  stopping_ = false;
  interrupt_ = false;
  watchdog_interrupt_ = false;
  thread_ = std::thread([this] { Run(); });
  watchdog_ = std::thread([this] { Watchdog(); });
  GONKA_LOG_INFO("election candidate started", {"election", election_}, {"identity", owner_},
                 {"server", backend_->Describe()});
  return absl::OkStatus();
}

void ElectorCore::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (!started_) return;
    stopping_ = true;
    interrupt_ = true;
    watchdog_interrupt_ = true;
  }
  if (thread_.joinable()) thread_.join();
  if (watchdog_.joinable()) watchdog_.join();
  absl::MutexLock lock(&mu_);
  started_ = false;
}

bool ElectorCore::IsLeader() const {
  absl::MutexLock lock(&mu_);
  return leader_ && clock_->Now() < valid_until_;
}

FencingToken ElectorCore::Token() const {
  absl::MutexLock lock(&mu_);
  return leader_ && clock_->Now() < valid_until_ ? token_ : 0;
}

FencingToken ElectorCore::HighestTokenSeen() const {
  absl::MutexLock lock(&mu_);
  return highest_seen_;
}

void ElectorCore::Wake() {
  absl::MutexLock lock(&mu_);
  interrupt_ = true;
}

bool ElectorCore::Wait(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  if (!interrupt_) clock_->WaitUntil(&mu_, &interrupt_, deadline);
  interrupt_ = stopping_;
  return stopping_;
}

void ElectorCore::Watchdog() {
  absl::MutexLock lock(&mu_);
  while (!stopping_) {
    absl::Time deadline = leader_ ? valid_until_ : absl::InfiniteFuture();
    if (!watchdog_interrupt_) clock_->WaitUntil(&mu_, &watchdog_interrupt_, deadline);
    if (stopping_) break;
    watchdog_interrupt_ = false;
    absl::Time now = clock_->Now();
    if (leader_ && now >= valid_until_) {
      FencingToken term = token_;
      std::string reason = absl::StrCat(
          "no successful renew within renew_deadline ",
          absl::FormatDuration(options_.renew_deadline), " (",
          absl::FormatDuration(now - (valid_until_ - options_.renew_deadline)),
          " since the last one began; paused, or ", backend_->Describe(), " is not answering)");
      mu_.Unlock();
      // No release here: the elector thread may be inside a backend call. It gives the lease
      // back when it next sees its own lease as a candidate.
      StepDown(term, "renew_deadline", reason, /*release=*/false);
      mu_.Lock();
    }
  }
}

void ElectorCore::Run() {
  Backoff error_backoff({.initial = std::min(options_.retry_interval, absl::Milliseconds(100)),
                         .max = options_.max_error_backoff});
  while (true) {
    bool leader;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) break;
      leader = leader_;
    }
    if (leader) {
      RunLeader();
    } else {
      RunCandidate(error_backoff);
    }
  }
  FencingToken term = 0;
  {
    absl::MutexLock lock(&mu_);
    if (leader_) term = token_;
  }
  if (term != 0) StepDown(term, "stopped", "stopped", /*release=*/true);
}

void ElectorCore::RunCandidate(Backoff& error_backoff) {
  FencingToken floor;
  {
    absl::MutexLock lock(&mu_);
    floor = highest_seen_;
  }
  absl::Time sent = clock_->Now();
  absl::StatusOr<AcquireResult> r =
      backend_->TryAcquire(owner_, options_.lease_ttl, floor, options_.renew_deadline / 2);
  if (!r.ok()) {
    absl::Duration delay = error_backoff.Next();
    GONKA_LOG_WARN("election acquire failed; retrying", {"election", election_},
                   {"identity", options_.identity}, {"error", r.status()}, {"retry_in", delay});
    Wait(clock_->Now() + delay);
    return;
  }
  error_backoff.Reset();
  if (r->acquired) {
    FencingToken token = r->token;
    absl::MutexLock callbacks(&cb_mu_);
    {
      absl::MutexLock lock(&mu_);
      leader_ = true;
      token_ = token;
      highest_seen_ = std::max(highest_seen_, token);
      // The server's lease started no earlier than `sent`: measure the deadline from there.
      valid_until_ = sent + options_.renew_deadline;
      next_renew_ = sent + options_.renew_interval;
      watchdog_interrupt_ = true;
    }
    is_leader_gauge_->Set(1);
    token_gauge_->Set(static_cast<double>(token));
    to_leader_->Increment();
    GONKA_LOG_INFO("elected leader", {"election", election_}, {"identity", options_.identity},
                   {"token", token}, {"server", backend_->Describe()});
    if (options_.on_elected) options_.on_elected(token);
    return;
  }
  {
    absl::MutexLock lock(&mu_);
    highest_seen_ = std::max(highest_seen_, r->holder_token);
  }
  if (r->holder == owner_) {
    // Our own lease from an acquire whose reply we lost: we cannot know when it started, so do
    // not use it; give it back and campaign for a fresh term.
    (void)backend_->Release(owner_, r->holder_token, options_.renew_deadline / 2);
    return;
  }
  absl::Duration wait = options_.retry_interval;
  if (r->remaining > absl::ZeroDuration()) {
    wait = std::min(wait, r->remaining + absl::Milliseconds(1));
  }
  Wait(clock_->Now() + wait);
}

void ElectorCore::RunLeader() {
  absl::Time next_renew, valid_until;
  FencingToken token;
  {
    absl::MutexLock lock(&mu_);
    next_renew = next_renew_;
    valid_until = valid_until_;
    token = token_;
  }
  if (Wait(std::min(next_renew, valid_until))) return;  // stopping: Run() releases
  absl::Time now = clock_->Now();
  if (now >= valid_until) {
    StepDown(token, "renew_deadline",
             absl::StrCat("no successful renew within renew_deadline ",
                          absl::FormatDuration(options_.renew_deadline), " (",
                          absl::FormatDuration(now - (valid_until - options_.renew_deadline)),
                          " since the last one began; paused or cut off from ",
                          backend_->Describe(), ")"),
             /*release=*/true);
    return;
  }
  if (now < next_renew) return;  // woken early (a release notification)
  absl::StatusOr<bool> renewed =
      backend_->Renew(owner_, token, options_.lease_ttl, valid_until - now);
  absl::Time done = clock_->Now();
  if (renewed.ok() && *renewed) {
    renew_latency_->Observe(absl::ToDoubleSeconds(done - now));
    absl::MutexLock lock(&mu_);
    if (!leader_ || token_ != token) return;  // the watchdog ended the term meanwhile
    // A renew that began at `now` keeps the lease until at least now + ttl on the server.
    valid_until_ = std::max(valid_until_, now + options_.renew_deadline);
    next_renew_ = now + options_.renew_interval;
    return;
  }
  renew_failures_->Increment();
  if (renewed.ok()) {
    StepDown(
        token, "lease_lost",
        absl::StrCat("lease is no longer ours on ", backend_->Describe(), " (expired or taken)"),
        /*release=*/false);
    return;
  }
  {
    absl::MutexLock lock(&mu_);
    if (!leader_ || token_ != token) return;
  }
  GONKA_LOG_WARN("lease renew failed", {"election", election_}, {"identity", options_.identity},
                 {"token", token}, {"error", renewed.status()},
                 {"deadline_in", valid_until - clock_->Now()});
  absl::MutexLock lock(&mu_);
  next_renew_ = std::min(clock_->Now() + options_.retry_interval / 2, valid_until_);
}

void ElectorCore::StepDown(FencingToken token, absl::string_view reason_class,
                           absl::string_view reason, bool release) {
  {
    absl::MutexLock callbacks(&cb_mu_);
    {
      absl::MutexLock lock(&mu_);
      if (!leader_ || token_ != token) return;  // that term already ended
      leader_ = false;
      token_ = 0;
      valid_until_ = absl::InfinitePast();
    }
    ReportStepDown(reason_class, reason, token);
  }
  // Only after the user has stopped acting: let the next leader in without waiting for expiry.
  if (release) {
    absl::Status s = backend_->Release(owner_, token, options_.renew_deadline / 2);
    if (!s.ok()) {
      GONKA_LOG_WARN("lease release failed; it will expire", {"election", election_},
                     {"identity", options_.identity}, {"error", s});
    }
  }
}

void ElectorCore::ReportStepDown(absl::string_view reason_class, absl::string_view reason,
                                 FencingToken token) {
  is_leader_gauge_->Set(0);
  to_follower_->Increment();
  GetFamilies()
      .step_downs
      .Add({{"election", election_},
            {"identity", options_.identity},
            {"reason", std::string(reason_class)}})
      .Increment();
  if (reason_class == "stopped") {
    GONKA_LOG_INFO("leader stepping down", {"election", election_}, {"identity", options_.identity},
                   {"token", token}, {"reason", reason});
  } else {
    GONKA_LOG_WARN("leader stepping down", {"election", election_}, {"identity", options_.identity},
                   {"token", token}, {"reason", reason});
  }
  if (options_.on_revoked) options_.on_revoked(reason);
}

}  // namespace internal
}  // namespace election
}  // namespace gonka
