#include "gonka/supervisor/version_host.h"

#include <algorithm>
#include <array>
#include <fstream>
#include <map>
#include <sstream>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gonka/base/log.h"
#include "gonka/base/metrics.h"
#include "gonka/net/http_client.h"
#include "gonka/net/http_server.h"

namespace gonka {
namespace supervisor {

absl::string_view HostStateName(HostState state) {
  switch (state) {
    case HostState::kServing:
      return "serving";
    case HostState::kAnnouncing:
      return "announcing";
    case HostState::kDraining:
      return "draining";
    case HostState::kStopping:
      return "stopping";
    case HostState::kStopped:
      return "stopped";
  }
  return "unknown";
}

struct VersionHost::Metrics {
  prometheus::Family<prometheus::Gauge>& children;
  prometheus::Gauge& leases;
  prometheus::Counter& swaps;
  prometheus::Family<prometheus::Counter>& deploys;
  prometheus::Family<prometheus::Counter>& install_failures;
  prometheus::Family<prometheus::Counter>& polls;
  prometheus::Family<prometheus::Counter>& proxied;
  prometheus::Counter& retries;
  prometheus::Family<prometheus::Gauge>& host_state;
  uint64_t retries_seen = 0;  // guarded by VersionHost::mu_

  explicit Metrics(prometheus::Registry& r)
      : children(prometheus::BuildGauge()
                     .Name("versiond_children")
                     .Help("Child generations not yet reaped, by state")
                     .Register(r)),
        leases(prometheus::BuildGauge()
                   .Name("versiond_leases_in_flight")
                   .Help("Route leases held by requests and streams in flight")
                   .Register(r)
                   .Add({})),
        swaps(prometheus::BuildCounter()
                  .Name("versiond_swaps_total")
                  .Help("Route swaps of a version to a new binary")
                  .Register(r)
                  .Add({})),
        deploys(prometheus::BuildCounter()
                    .Name("versiond_deploys_total")
                    .Help("Child deploys, by result")
                    .Register(r)),
        install_failures(prometheus::BuildCounter()
                             .Name("versiond_install_failures_total")
                             .Help("Binaries not installed, by reason")
                             .Register(r)),
        polls(prometheus::BuildCounter()
                  .Name("versiond_oracle_polls_total")
                  .Help("Version oracle polls, by result")
                  .Register(r)),
        proxied(prometheus::BuildCounter()
                    .Name("versiond_proxied_requests_total")
                    .Help("Requests proxied to children, by status class (stream: SSE)")
                    .Register(r)),
        retries(prometheus::BuildCounter()
                    .Name("versiond_forward_retries_total")
                    .Help("Requests retried on a version's new child after racing a retirement")
                    .Register(r)
                    .Add({})),
        host_state(prometheus::BuildGauge()
                       .Name("versiond_host_state")
                       .Help("1 for the host's evacuation state")
                       .Register(r)) {}
};

VersionHost::VersionHost(VersionHostOptions options)
    : options_(std::move(options)), metrics_(std::make_unique<Metrics>(metrics::Registry())) {
  SupervisorOptions sup = options_.supervisor;
  sup.pid_dir = absl::StrCat(options_.data_dir, "/.versiond-children");
  sup.die_with_supervisor = true;
  sup.ha_deployment = options_.pins.ha;
  sup.non_ha_versions = options_.pins.non_ha_versions;
  supervisor_ = std::make_unique<Supervisor>(std::move(sup));
  proxy_ = std::make_unique<VersionProxy>(supervisor_.get());
  installer_ = std::make_unique<BinaryInstaller>(options_.installer);
  http_ = std::make_unique<net::HttpClient>(
      net::HttpClientOptions{.name = "versiond_oracle", .user_agent = "versiond"});
  for (HostState s : {HostState::kServing, HostState::kAnnouncing, HostState::kDraining,
                      HostState::kStopping, HostState::kStopped}) {
    metrics_->host_state.Add({{"state", std::string(HostStateName(s))}})
        .Set(s == HostState::kServing ? 1 : 0);
  }
  // One counter per status class, looked up once (Family::Add per request would build and hash
  // a label map on the hot path).
  std::array<prometheus::Counter*, 5> proxied{};
  const char* const kCodes[] = {"stream", "2xx", "3xx", "4xx", "5xx"};
  for (size_t i = 0; i < proxied.size(); ++i) {
    proxied[i] = &metrics_->proxied.Add({{"code", kCodes[i]}});
  }
  proxy_->OnProxied([proxied](int status) {
    const size_t i = status == 0 ? 0 : status < 300 ? 1 : status < 400 ? 2 : status < 500 ? 3 : 4;
    proxied[i]->Increment();
  });
}

VersionHost::~VersionHost() {
  {
    absl::MutexLock lock(&mu_);
    stop_loop_ = true;
  }
  supervisor_->Shutdown(absl::Now());
  if (loop_.joinable()) loop_.join();
}

absl::Status VersionHost::Init(net::HttpServer* server) {
  if (options_.oracle_url.empty()) {
    return absl::InvalidArgumentError("VERSIOND_ORACLE_URL is required");
  }
  absl::StatusOr<int> swept =
      KillRecordedChildren(absl::StrCat(options_.data_dir, "/.versiond-children"));
  if (!swept.ok()) return swept.status();
  if (*swept > 0) {
    GONKA_LOG_WARN("killed children left by a previous versiond", {"count", *swept});
  }
  server_ = server;
  server->Handle(
      "GET", "/metrics",
      [this](const net::HttpRequest&) {
        RefreshGauges();
        net::HttpResponse res = net::HttpResponse::Text(200, metrics::ExposeText());
        res.headers.Set("Content-Type", metrics::kContentType);
        return res;
      },
      net::HttpServer::RouteOptions{.admission = false});
  proxy_->ForwardOnServerLoop(options_.forward_on_server_loop);
  proxy_->AddRoutes(server);
  return absl::OkStatus();
}

void VersionHost::RefreshGauges() {
  std::map<std::string, int> by_state;
  for (GenerationState s :
       {GenerationState::kPreparing, GenerationState::kStarting, GenerationState::kRunning,
        GenerationState::kRetiring, GenerationState::kDraining, GenerationState::kStopping,
        GenerationState::kStopped, GenerationState::kFailed}) {
    by_state[std::string(GenerationStateName(s))] = 0;
  }
  int leases = 0;
  for (const GenerationInfo& g : supervisor_->Generations()) {
    if (g.done) continue;
    ++by_state[std::string(GenerationStateName(g.state))];
    leases += g.leases;
  }
  for (const auto& [state, n] : by_state) {
    metrics_->children.Add({{"state", state}}).Set(n);
  }
  metrics_->leases.Set(leases);
  const uint64_t retries = supervisor_->stats().forward_retries;
  absl::MutexLock lock(&mu_);
  if (retries > metrics_->retries_seen) {
    metrics_->retries.Increment(static_cast<double>(retries - metrics_->retries_seen));
    metrics_->retries_seen = retries;
  }
}

absl::Status VersionHost::ReconcileOnce() {
  absl::MutexLock reconcile_lock(&reconcile_mu_);
  auto call = net::HttpCallOptions::Timeout(options_.oracle_timeout);
  absl::StatusOr<net::HttpResponse> res;
  if (absl::StartsWith(options_.oracle_url, "file://")) {
    // A local oracle document (a libgonka extension for hosts without an oracle service).
    std::ifstream in(options_.oracle_url.substr(7));
    std::stringstream body;
    body << in.rdbuf();
    if (in) {
      res = net::HttpResponse::Json(200, body.str());
    } else {
      res = absl::UnavailableError("cannot read the file");
    }
  } else {
    res = http_->Get(options_.oracle_url, call);
  }
  absl::StatusOr<std::vector<OracleVersion>> want;
  if (!res.ok()) {
    want = absl::UnavailableError(
        absl::StrCat("oracle ", RedactUrl(options_.oracle_url), ": ", res.status().message()));
  } else if (res->status != 200) {
    want = absl::UnavailableError(
        absl::StrCat("oracle ", RedactUrl(options_.oracle_url), ": HTTP ", res->status));
  } else {
    want = ParseOracle(res->body);
  }
  if (!want.ok()) {
    metrics_->polls.Add({{"result", "error"}}).Increment();
    GONKA_LOG_WARN("oracle poll failed; children unchanged", {"error", want.status()});
    return want.status();
  }
  metrics_->polls.Add({{"result", "ok"}}).Increment();

  // Desired: the oracle's versions and the forced ones.
  std::vector<OracleVersion> desired = *want;
  for (const std::string& name : options_.pins.force) {
    if (std::none_of(desired.begin(), desired.end(),
                     [&](const OracleVersion& v) { return v.name == name; })) {
      desired.push_back({.name = name});
    }
  }
  absl::Status first_error;
  for (const OracleVersion& listed : desired) {
    // An override replaces the oracle's binary with the operator's file (Gonka: identity
    // "override:<sha256 of the file>").
    OracleVersion v = listed;
    std::string identity = listed.sha256;
    if (auto it = options_.pins.overrides.find(listed.name); it != options_.pins.overrides.end()) {
      absl::StatusOr<std::string> hash = HashFile(it->second);
      if (!hash.ok()) {
        metrics_->install_failures.Add({{"reason", "local"}}).Increment();
        GONKA_LOG_ERROR("override unreadable; current child keeps serving",
                        {"version", listed.name}, {"path", it->second}, {"error", hash.status()});
        if (first_error.ok()) first_error = hash.status();
        continue;
      }
      v.binary = it->second;
      v.sha256 = *hash;
      identity = absl::StrCat("override:", *hash);
    }
    {
      absl::MutexLock lock(&mu_);
      if (stop_loop_) return absl::CancelledError("evacuating");
    }
    bool up_to_date = false, had_child = false;
    for (const GenerationInfo& g : supervisor_->Generations()) {
      if (!g.current || g.version != v.name) continue;
      had_child = true;
      // A current child that is not running but not done either is being restarted by the
      // supervisor (it exited on its own) and is left to that restart loop, as Gonka's reconcile
      // leaves a listed child alone: a second generation started beside it would race it for the
      // route.
      up_to_date = g.sha256 == identity && (g.state == GenerationState::kRunning || !g.done);
    }
    if (!up_to_date) {
      absl::StatusOr<std::string> path = installer_->Install(v);
      if (!path.ok()) {
        const char* reason = absl::IsFailedPrecondition(path.status()) ? "sha256_mismatch"
                             : absl::IsUnavailable(path.status())      ? "download"
                                                                       : "local";
        metrics_->install_failures.Add({{"reason", reason}}).Increment();
        GONKA_LOG_ERROR("install refused; current child keeps serving", {"version", v.name},
                        {"error", path.status()});
        if (first_error.ok()) first_error = path.status();
        continue;
      }
      GONKA_LOG_INFO("deploying", {"version", v.name}, {"sha256", identity}, {"swap", had_child});
      absl::Status deployed =
          supervisor_->Deploy({.version = v.name,
                               .binary = *path,
                               .data_dir = absl::StrCat(options_.data_dir, "/", v.name),
                               .sha256 = identity});
      if (!deployed.ok()) {
        metrics_->deploys.Add({{"result", "failed"}}).Increment();
        GONKA_LOG_ERROR("deploy failed; current child keeps serving", {"version", v.name},
                        {"error", deployed});
        if (first_error.ok()) first_error = deployed;
        continue;
      }
      metrics_->deploys.Add({{"result", "ok"}}).Increment();
      if (had_child) metrics_->swaps.Increment();
    }
    if (std::find(reconciled_once_.begin(), reconciled_once_.end(), v.name) ==
        reconciled_once_.end()) {
      reconciled_once_.push_back(v.name);
    }
  }
  for (const std::string& name : supervisor_->Versions()) {
    bool wanted = std::any_of(desired.begin(), desired.end(),
                              [&](const OracleVersion& v) { return v.name == name; });
    if (!wanted) {
      GONKA_LOG_INFO("version no longer listed; removing", {"version", name});
      supervisor_->Remove(name).IgnoreError();
    }
  }
  bool all = true;
  for (const OracleVersion& v : desired) {
    if (std::find(reconciled_once_.begin(), reconciled_once_.end(), v.name) ==
        reconciled_once_.end()) {
      all = false;
    }
  }
  if (all && !proxy_->reconciled()) {
    GONKA_LOG_INFO("every listed version reconciled; ready", {"versions", want->size()});
    proxy_->SetReconciled(true);  // latched
  }
  return first_error;
}

void VersionHost::Start() {
  // Forwards run on the server's event loop; warm-up connections join that loop's pool.
  if (server_ != nullptr && options_.forward_on_server_loop) {
    supervisor_->SetForwardLoop(server_->io_executor());
  }
  loop_ = std::thread([this] { Loop(); });
}

void VersionHost::Loop() {
  while (true) {
    ReconcileOnce().IgnoreError();  // logged and counted inside
    absl::MutexLock lock(&mu_);
    if (mu_.AwaitWithTimeout(absl::Condition(&stop_loop_), options_.poll_interval)) break;
  }
  absl::MutexLock lock(&mu_);
  loop_done_ = true;
}

void VersionHost::SetState(HostState state) {
  {
    absl::MutexLock lock(&mu_);
    if (state_ == state) return;
    state_ = state;
  }
  for (HostState s : {HostState::kServing, HostState::kAnnouncing, HostState::kDraining,
                      HostState::kStopping, HostState::kStopped}) {
    metrics_->host_state.Add({{"state", std::string(HostStateName(s))}}).Set(s == state ? 1 : 0);
  }
  GONKA_LOG_INFO("host state", {"state", HostStateName(state)});
}

HostState VersionHost::state() const {
  absl::MutexLock lock(&mu_);
  return state_;
}

bool VersionHost::Evacuate() {
  const absl::Time start = absl::Now();
  const absl::Time deadline = start + options_.host_budget;
  // Gonka: the reconcile loop gets at most 10 % of the budget, capped at 5 s, to unwind.
  const absl::Duration unwind = std::min(options_.host_budget / 10, absl::Seconds(5));
  {
    absl::MutexLock lock(&mu_);
    if (evacuating_) return false;
    evacuating_ = true;
  }
  SetState(HostState::kAnnouncing);
  proxy_->BeginAnnounce();
  if (server_ != nullptr) server_->SetDraining(true);
  {
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(&forced_), options_.announce);
  }
  SetState(HostState::kDraining);
  {
    absl::MutexLock lock(&mu_);
    stop_loop_ = true;
    if (loop_.joinable()) {
      mu_.AwaitWithTimeout(absl::Condition(&loop_done_), unwind);
    }
  }
  if (server_ != nullptr) server_->StopAccepting();
  // Children retire in parallel; whatever still runs `unwind` before the deadline is killed,
  // which leaves time to reap it and close the server inside the budget.
  supervisor_->Shutdown(deadline - unwind);
  SetState(HostState::kStopping);
  bool forced;
  {
    absl::MutexLock lock(&mu_);
    forced = forced_;
  }
  bool clean = true;
  if (server_ != nullptr) clean = server_->Stop(forced ? absl::Now() : deadline);
  if (loop_.joinable()) loop_.join();
  SetState(HostState::kStopped);
  GONKA_LOG_INFO("evacuated", {"seconds", absl::ToDoubleSeconds(absl::Now() - start)},
                 {"clean", clean && !forced});
  return clean && !forced;
}

void VersionHost::Force() {
  {
    absl::MutexLock lock(&mu_);
    if (forced_) return;
    forced_ = true;
    stop_loop_ = true;
  }
  GONKA_LOG_WARN("forcing: children are killed now");
  supervisor_->Shutdown(absl::Now());
}

}  // namespace supervisor
}  // namespace gonka
