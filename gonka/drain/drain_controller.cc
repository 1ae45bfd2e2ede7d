#include "gonka/drain/drain_controller.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gonka/base/log.h"

namespace gonka {

// One readiness probe with its cached result. Single-flight: while a run is under way, other
// callers wait for its result instead of starting another. A run that exceeds the timeout is
// reported as failed; its thread finishes in the background and refreshes the cache.
struct DrainController::Probe {
  struct Shared {
    absl::Mutex mu;
    bool running ABSL_GUARDED_BY(mu) = false;
    bool have_result ABSL_GUARDED_BY(mu) = false;
    absl::Status result ABSL_GUARDED_BY(mu);
    absl::Time checked_at ABSL_GUARDED_BY(mu) = absl::InfinitePast();
    uint64_t generation ABSL_GUARDED_BY(mu) = 0;
  };
  std::string name;
  std::function<absl::Status()> fn;
  std::shared_ptr<Shared> shared = std::make_shared<Shared>();

  absl::Status Check(Clock* clock, absl::Duration cache, absl::Duration timeout) {
    std::shared_ptr<Shared> s = shared;
    absl::MutexLock lock(&s->mu);
    absl::Time now = clock->Now();
    if (s->have_result && now - s->checked_at < cache) return s->result;
    uint64_t want = s->generation + 1;
    if (!s->running) {
      s->running = true;
      std::function<absl::Status()> probe = fn;
      std::thread([s, probe, clock] {
        absl::Status result = probe();
        absl::MutexLock l(&s->mu);
        s->result = result;
        s->have_result = true;
        s->checked_at = clock->Now();
        s->running = false;
        ++s->generation;
      }).detach();
    }
    auto done = [s, want]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->mu) { return s->generation >= want; };
    if (!s->mu.AwaitWithTimeout(absl::Condition(&done), timeout)) {
      return absl::DeadlineExceededError(
          absl::StrCat("probe did not answer within ", absl::FormatDuration(timeout)));
    }
    return s->result;
  }
};

const char* DrainController::StateName(State s) {
  switch (s) {
    case State::kServing:
      return "serving";
    case State::kAnnouncing:
      return "announcing";
    case State::kDraining:
      return "draining";
    case State::kStopping:
      return "stopping";
    case State::kStopped:
      return "stopped";
  }
  return "unknown";
}

DrainController::DrainController(DrainOptions options)
    : options_(options), clock_(options.clock), gate_(options.clock) {}

DrainController::~DrainController() {
  if (runner_.joinable()) {
    Force();
    runner_.join();
  }
}

absl::Status DrainController::Validate(const DrainOptions& o) {
  if (o.announce < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("drain announce must be >= 0, got ", absl::FormatDuration(o.announce)));
  }
  if (o.shutdown_grace <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("shutdown grace must be > 0, got ", absl::FormatDuration(o.shutdown_grace)));
  }
  if (o.probe_cache < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("probe cache must be >= 0");
  }
  if (o.probe_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("probe timeout must be > 0");
  }
  return absl::OkStatus();
}

void DrainController::AddReadinessProbe(std::string name, std::function<absl::Status()> probe) {
  auto p = std::make_unique<Probe>();
  p->name = std::move(name);
  p->fn = std::move(probe);
  absl::MutexLock lock(&mu_);
  probes_.push_back(std::move(p));
}

void DrainController::SetStarted(bool started) {
  absl::MutexLock lock(&mu_);
  started_ = started;
}

absl::Status DrainController::Ready() {
  std::vector<Probe*> probes;
  {
    absl::MutexLock lock(&mu_);
    if (state_ != State::kServing) return absl::UnavailableError("draining");
    if (!started_) return absl::UnavailableError("starting");
    for (auto& p : probes_) probes.push_back(p.get());
  }
  for (Probe* p : probes) {
    absl::Status s = p->Check(clock_, options_.probe_cache, options_.probe_timeout);
    if (!s.ok()) {
      return absl::UnavailableError(absl::StrCat(p->name, ": ", s.message()));
    }
  }
  return absl::OkStatus();
}

std::function<std::shared_ptr<void>()> DrainController::AdmissionHook() {
  return [this]() -> std::shared_ptr<void> {
    std::optional<Gate::Guard> guard = gate_.TryEnter();
    if (!guard) return nullptr;
    return std::make_shared<Gate::Guard>(std::move(*guard));
  };
}

void DrainController::OnStopAccepting(std::function<void()> hook) {
  absl::MutexLock lock(&mu_);
  stop_accepting_.push_back(std::move(hook));
}

void DrainController::AddShutdownHook(std::string name, std::function<void()> hook) {
  absl::MutexLock lock(&mu_);
  shutdown_hooks_.emplace_back(std::move(name), std::move(hook));
}

void DrainController::OnStateChange(std::function<void(State)> listener) {
  absl::MutexLock lock(&mu_);
  listeners_.push_back(std::move(listener));
}

void DrainController::SetState(State s) {
  std::vector<std::function<void(State)>> listeners;
  {
    absl::MutexLock lock(&mu_);
    state_ = s;
    listeners = listeners_;
  }
  GONKA_LOG_INFO("drain state", {"state", StateName(s)});
  for (auto& l : listeners) l(s);
}

void DrainController::BeginDrain() {
  {
    absl::MutexLock lock(&mu_);
    if (drain_started_) {
      // A second signal: force.
      forced_ = true;
      GONKA_LOG_WARN("second shutdown request: forcing");
      return;
    }
    drain_started_ = true;
  }
  StartDrain();
}

void DrainController::Force() {
  bool start = false;
  {
    absl::MutexLock lock(&mu_);
    forced_ = true;
    start = !drain_started_;
    drain_started_ = true;
  }
  if (start) StartDrain();
}

void DrainController::StartDrain() {
  // The kAnnouncing listeners (e.g. servers switching to `Connection: close`) run before the
  // state becomes visible, so nothing observes "not ready" without their effect in place.
  std::vector<std::function<void(State)>> listeners;
  {
    absl::MutexLock lock(&mu_);
    listeners = listeners_;
  }
  for (auto& l : listeners) l(State::kAnnouncing);
  {
    absl::MutexLock lock(&mu_);
    state_ = State::kAnnouncing;
  }
  GONKA_LOG_INFO("drain state", {"state", StateName(State::kAnnouncing)});
  runner_ = std::thread([this] { Run(); });
}

void DrainController::Run() {
  GONKA_LOG_INFO("drain: announcing (not ready, still serving)", {"announce", options_.announce},
                 {"shutdown_grace", options_.shutdown_grace});
  {
    absl::MutexLock lock(&mu_);
    absl::Time until = clock_->Now() + options_.announce;
    if (!forced_ && options_.announce > absl::ZeroDuration()) {
      clock_->WaitUntil(&mu_, &forced_, until);
    }
  }

  std::vector<std::function<void()>> stop_accepting;
  {
    absl::MutexLock lock(&mu_);
    stop_accepting = stop_accepting_;
    grace_deadline_ = clock_->Now() + options_.shutdown_grace;
  }
  SetState(State::kDraining);
  for (auto& hook : stop_accepting) hook();

  // Wait for in-flight work. Requests that still arrive on open keep-alive connections are
  // admitted (every response now carries `Connection: close`), so the count falls to zero
  // without refusing anyone; the gate closes once idle or at the grace deadline.
  bool idle = false;
  while (true) {
    absl::Time deadline;
    {
      absl::MutexLock lock(&mu_);
      if (forced_) break;
      deadline = grace_deadline_;
    }
    absl::Time now = clock_->Now();
    if (gate_.in_flight() == 0) {
      idle = true;
      break;
    }
    if (now >= deadline) break;
    gate_.WaitIdle(std::min(deadline, now + absl::Milliseconds(100)));
  }
  gate_.Close();
  if (!idle) idle = gate_.in_flight() == 0;
  if (!idle) {
    GONKA_LOG_WARN("drain: grace ended with work in flight", {"in_flight", gate_.in_flight()},
                   {"oldest", gate_.OldestInFlightAge()});
  }

  std::vector<std::pair<std::string, std::function<void()>>> hooks;
  {
    absl::MutexLock lock(&mu_);
    finished_in_grace_ = idle;
    hooks = shutdown_hooks_;
  }
  SetState(State::kStopping);
  for (auto& [name, hook] : hooks) {
    GONKA_LOG_INFO("drain: shutdown hook", {"hook", name});
    hook();
  }
  SetState(State::kStopped);
}

bool DrainController::Wait() {
  absl::MutexLock lock(&mu_);
  auto stopped = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return state_ == State::kStopped; };
  mu_.Await(absl::Condition(&stopped));
  return finished_in_grace_;
}

bool DrainController::WaitFor(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto stopped = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return state_ == State::kStopped; };
  return mu_.AwaitWithTimeout(absl::Condition(&stopped), timeout);
}

DrainController::State DrainController::state() const {
  absl::MutexLock lock(&mu_);
  return state_;
}

std::string DrainController::StatusJson() const {
  State s;
  absl::Duration grace_left;
  absl::Time now = clock_->Now();
  {
    absl::MutexLock lock(&mu_);
    s = state_;
    grace_left = grace_deadline_ == absl::InfiniteFuture()
                     ? options_.shutdown_grace
                     : std::max(absl::ZeroDuration(), grace_deadline_ - now);
  }
  return absl::StrFormat(
      "{\"state\":\"%s\",\"ready\":%s,\"in_flight\":%d,\"oldest_in_flight_ms\":%d,"
      "\"grace_left_ms\":%d,\"announce_ms\":%d,\"shutdown_grace_ms\":%d}",
      StateName(s), s == State::kServing ? "true" : "false", gate_.in_flight(),
      absl::ToInt64Milliseconds(gate_.OldestInFlightAge()), absl::ToInt64Milliseconds(grace_left),
      absl::ToInt64Milliseconds(options_.announce),
      absl::ToInt64Milliseconds(options_.shutdown_grace));
}

}  // namespace gonka
