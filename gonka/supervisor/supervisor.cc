#include "gonka/supervisor/supervisor.h"

#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <system_error>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gonka/base/log.h"
#include "gonka/net/async_http_client.h"
#include "gonka/net/http_client.h"
#include "gonka/supervisor/internal/child_process.h"
#include "simdjson.h"

namespace gonka {
namespace supervisor {
namespace internal {

// One child generation. Every field except the immutable ones is guarded by the owning
// Supervisor's mu_ (the struct cannot name that mutex, so the annotations live on the
// Supervisor's accessors).
struct Generation {
  uint64_t id = 0;
  ChildSpec spec;
  std::string storage_mode;
  std::string binary_version;  // preflight (probe_versions)
  bool admin_api = true;       // preflight: false = legacy child, admin on the public port
  std::string ha_env;          // preflight: GONKA_HA for the child ("true"/"false"), "" = none
  GenerationState state = GenerationState::kPreparing;
  bool done = false;
  int port = 0;
  int admin_port = 0;
  pid_t pid = 0;
  bool process_alive = false;
  int exit_status = -1;
  int leases = 0;
  int restarts = 0;
  std::string last_error;
  // Readiness monitor (SupervisorOptions::readiness_*). `spawns` counts StartOnce spawns, so a
  // probe of a process that has since been restarted never writes over the new one's answer.
  uint64_t spawns = 0;
  bool serving = false;
  absl::Time serving_at = absl::InfinitePast();
  int probe_failures = 0;
  // Gonka's growing ready window (runChild / nextReadyWindow): the readiness wait's first bound
  // for the next start of this generation (zero: ready_timeout), and whether the last failed
  // wait ended on a "still starting" answer.
  absl::Duration ready_window = absl::ZeroDuration();
  bool last_wait_starting = false;
  // A restart loop (Restart) owns this generation: a failed start leaves `done` to that loop,
  // which decides whether to try again. Without this a reconcile looking between the failed
  // start and the loop's next attempt saw a failed, done generation and started a second one
  // beside it.
  bool restart_loop = false;
};

}  // namespace internal

namespace {

using internal::Generation;

bool PortIsFree(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

int KernelFreePort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

// RFC 9110 §7.6.1 connection-specific fields, plus the framing ones Beast sets itself.
bool IsHopByHop(absl::string_view name) {
  static constexpr absl::string_view kHop[] = {
      "connection",    "keep-alive", "proxy-connection",   "transfer-encoding",   "te",
      "trailer",       "upgrade",    "proxy-authenticate", "proxy-authorization", "host",
      "content-length"};
  for (absl::string_view h : kHop) {
    if (absl::EqualsIgnoreCase(name, h)) return true;
  }
  return false;
}

net::HttpHeaders ForwardHeaders(const net::HttpHeaders& in) {
  net::HttpHeaders out;
  for (const auto& [name, value] : in) {
    if (!IsHopByHop(name)) out.Add(name, value);
  }
  return out;
}

bool IsIdempotent(absl::string_view method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "PUT" ||
         method == "DELETE";
}

std::string Url(int port, absl::string_view path) {
  return absl::StrCat("http://127.0.0.1:", port, path);
}

// Gonka's versiond (versioned/internal/process/manager.go @f4ca6761, readyBodyInitializing): a
// 503 from admin ready whose JSON body is not draining and says `ready` or `storage_ready` is
// false (a missing field counts as false) is a child still starting. Not JSON: not starting.
bool ReadyBodyInitializing(const std::string& body) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(body).get(doc) != simdjson::SUCCESS || !doc.is_object()) return false;
  bool ready = false, draining = false, storage_ready = false;
  if (doc["ready"].get(ready) != simdjson::SUCCESS) ready = false;
  if (doc["draining"].get(draining) != simdjson::SUCCESS) draining = false;
  if (doc["storage_ready"].get(storage_ready) != simdjson::SUCCESS) storage_ready = false;
  if (draining) return false;
  return !ready || !storage_ready;
}

// The ready path is not served at all (older children): 404, 405, 501.
bool ReadyPathAbsent(int status) { return status == 404 || status == 405 || status == 501; }

// `recovery_complete` of an admin ready body; nullopt when the body is not JSON or has no such
// boolean field (a child that predates the warm cutover).
std::optional<bool> RecoveryComplete(const std::string& body) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(body).get(doc) != simdjson::SUCCESS || !doc.is_object()) return std::nullopt;
  bool complete = false;
  if (doc["recovery_complete"].get(complete) != simdjson::SUCCESS) return std::nullopt;
  return complete;
}

// A `--print-*` probe the binary rejected as an unknown flag (Gonka's versiond treats it as an
// older binary without the flag: binary_version.go @5ff1482e, isUnsupportedVersionFlagError).
bool FlagUnsupported(const absl::Status& status) {
  if (!absl::IsUnavailable(status)) return false;  // exited non-zero (not killed, not a timeout)
  const std::string said = absl::AsciiStrToLower(status.message());
  if (absl::StrContains(said, ": signal ")) return false;
  return absl::StrContains(said, "unknown flag") ||
         absl::StrContains(said, "flag provided but not defined") ||
         absl::StrContains(said, "unknown shorthand flag") ||
         absl::StrContains(said, "unrecognized option");
}

}  // namespace

absl::string_view GenerationStateName(GenerationState state) {
  switch (state) {
    case GenerationState::kPreparing:
      return "preparing";
    case GenerationState::kStarting:
      return "starting";
    case GenerationState::kRunning:
      return "running";
    case GenerationState::kRetiring:
      return "retiring";
    case GenerationState::kDraining:
      return "draining";
    case GenerationState::kStopping:
      return "stopping";
    case GenerationState::kStopped:
      return "stopped";
    case GenerationState::kFailed:
      return "failed";
  }
  return "unknown";
}

// --- RouteLease ---

RouteLease::RouteLease(RouteLease&& other) noexcept
    : owner_(other.owner_),
      gen_(std::move(other.gen_)),
      port_(other.port_),
      generation_(other.generation_) {
  other.owner_ = nullptr;
}

RouteLease& RouteLease::operator=(RouteLease&& other) noexcept {
  if (this != &other) {
    Release();
    owner_ = other.owner_;
    gen_ = std::move(other.gen_);
    port_ = other.port_;
    generation_ = other.generation_;
    other.owner_ = nullptr;
  }
  return *this;
}

std::string RouteLease::base_url() const { return Url(port_, ""); }

void RouteLease::Release() {
  if (owner_ != nullptr && gen_ != nullptr) owner_->ReleaseLease(gen_.get());
  owner_ = nullptr;
  gen_.reset();
}

// --- Supervisor ---

Supervisor::Supervisor(SupervisorOptions options)
    : options_(std::move(options)),
      // Keep-alive connections to the children for every concurrent proxied request: with the
      // client's default of 8 idle per host, a proxy under more concurrency would open and close
      // a connection per request beyond the eighth.
      http_(std::make_unique<net::HttpClient>(
          net::HttpClientOptions{.name = "supervisor", .max_idle_per_host = 256})),
      async_(std::make_unique<net::AsyncHttpClient>(net::AsyncHttpClientOptions{
          .name = "supervisor", .max_idle_per_endpoint = 256, .send_on_caller_thread = true})) {
  monitor_ = std::thread([this] { MonitorLoop(); });
  if (options_.readiness_interval > absl::ZeroDuration()) {
    readiness_ = std::thread([this] { ReadinessLoop(); });
  }
}

Supervisor::~Supervisor() {
  Shutdown(absl::Now());
  monitor_.join();
  if (readiness_.joinable()) readiness_.join();
}

void Supervisor::SetStateLocked(Generation* gen, GenerationState state) {
  if (gen->state == state) return;
  GONKA_LOG_INFO("child state", {"version", gen->spec.version}, {"generation", gen->id},
                 {"from", GenerationStateName(gen->state)}, {"to", GenerationStateName(state)},
                 {"pid", static_cast<int64_t>(gen->pid)});
  gen->state = state;
}

void Supervisor::ReleaseLease(Generation* gen) {
  absl::MutexLock lock(&mu_);
  --gen->leases;
}

bool Supervisor::ReapLocked(Generation* gen) {
  if (!gen->process_alive) return true;
  std::optional<int> status = internal::TryReap(gen->pid);
  if (!status) return false;
  gen->process_alive = false;
  gen->exit_status = *status;
  if (!options_.pid_dir.empty()) {
    std::error_code ec;
    std::filesystem::remove(absl::StrCat(options_.pid_dir, "/", gen->pid), ec);
  }
  return true;
}

void Supervisor::RecordPid(pid_t pid, const std::string& binary) {
  if (options_.pid_dir.empty()) return;
  std::error_code ec;
  std::filesystem::create_directories(options_.pid_dir, ec);
  std::optional<uint64_t> start = internal::ProcessStartTime(pid);
  const std::string path = absl::StrCat(options_.pid_dir, "/", pid);
  std::ofstream out(path, std::ios::trunc);
  out << (start ? *start : 0) << " " << binary << "\n";
  if (!out) GONKA_LOG_WARN("cannot record child pid", {"path", path});
}

absl::StatusOr<int> KillRecordedChildren(const std::string& pid_dir, absl::Duration wait) {
  std::error_code ec;
  if (!std::filesystem::exists(pid_dir, ec)) return 0;
  std::filesystem::directory_iterator it(pid_dir, ec);
  if (ec) {
    return absl::InternalError(absl::StrCat("pid dir ", pid_dir, ": ", ec.message()));
  }
  std::vector<pid_t> killed;
  std::vector<std::string> records;
  for (const auto& entry : it) {
    records.push_back(entry.path().string());
    pid_t pid = 0;
    if (!absl::SimpleAtoi(entry.path().filename().string(), &pid) || pid <= 1) continue;
    std::ifstream in(entry.path());
    uint64_t recorded_start = 0;
    std::string binary;
    in >> recorded_start >> binary;
    std::optional<uint64_t> start = internal::ProcessStartTime(pid);
    if (!start || *start != recorded_start || internal::ProcessGone(pid)) continue;
    GONKA_LOG_WARN("killing a child left by a previous supervisor",
                   {"pid", static_cast<int64_t>(pid)}, {"binary", binary});
    kill(-pid, SIGKILL);  // its process group (the child is its leader): helpers too
    kill(pid, SIGKILL);
    killed.push_back(pid);
  }
  const absl::Time deadline = absl::Now() + wait;
  std::vector<pid_t> left = killed;
  while (!left.empty() && absl::Now() < deadline) {
    left.erase(std::remove_if(left.begin(), left.end(), internal::ProcessGone), left.end());
    if (!left.empty()) absl::SleepFor(absl::Milliseconds(10));
  }
  for (const std::string& r : records) std::filesystem::remove(r, ec);
  if (!left.empty()) {
    std::string pids;
    for (pid_t p : left) absl::StrAppend(&pids, pids.empty() ? "" : ",", p);
    return absl::DeadlineExceededError(
        absl::StrCat("children still running after SIGKILL: ", pids));
  }
  return static_cast<int>(killed.size());
}

bool Supervisor::SleepOrForced(absl::Duration d) {
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout(absl::Condition(&forced_), d);
}

absl::StatusOr<int> Supervisor::PickPortLocked() {
  auto taken = [&](int port) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (std::find(options_.reserved_ports.begin(), options_.reserved_ports.end(), port) !=
        options_.reserved_ports.end()) {
      return true;
    }
    for (const auto& g : generations_) {
      if (!g->done && (g->port == port || g->admin_port == port)) return true;
    }
    return false;
  };
  if (options_.first_port == 0) {
    for (int attempt = 0; attempt < 100; ++attempt) {
      int port = KernelFreePort();
      if (port != 0 && !taken(port)) return port;
    }
    return absl::ResourceExhaustedError("no free port from the kernel");
  }
  for (int port = options_.first_port; port <= options_.last_port; ++port) {
    if (!taken(port) && PortIsFree(port)) return port;
  }
  return absl::ResourceExhaustedError(
      absl::StrCat("no free port in [", options_.first_port, ", ", options_.last_port, "]"));
}

absl::StatusOr<std::string> Supervisor::ProbeStorageMode(const ChildSpec& spec) {
  absl::StatusOr<std::string> mode = internal::RunAndCapture({spec.binary, "--print-storage-mode"},
                                                             spec.env, options_.probe_timeout);
  if (!mode.ok()) {
    return absl::Status(
        mode.status().code(),
        absl::StrCat("version ", spec.version, ": storage-mode probe: ", mode.status().message()));
  }
  return absl::AsciiStrToLower(*mode);
}

void Supervisor::WarmConnections(int port) {
  // Concurrent requests each need a connection of their own, so after these the client's pool
  // holds `warm_connections` keep-alive connections to the new child, and the first requests
  // after the swap do not pay for connecting (and the child's accepting) while in flight.
  // The pool is the asynchronous forwarder's (ForwardAsync), which plain requests use.
  if (options_.warm_connections > 0) {
    async_->Warm(port, options_.healthz_path, options_.warm_connections, absl::Seconds(2),
                 forward_loop_.load());
  }
}

absl::Status Supervisor::WaitReady(const GenPtr& gen) {
  int port, admin_port;
  absl::Duration window;
  {
    absl::MutexLock lock(&mu_);
    port = gen->port;
    admin_port = gen->admin_port;
    window = gen->ready_window > absl::ZeroDuration() ? gen->ready_window : options_.ready_timeout;
    gen->last_wait_starting = false;
  }
  const absl::Time start = absl::Now();
  const absl::Time min_deadline = start + window;
  const absl::Duration max_wait = std::max(options_.ready_max_wait, window);
  const absl::Time max_deadline = start + max_wait;
  bool extended = false;
  std::string last = "no answer yet";
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (ReapLocked(gen.get())) {
        return absl::UnavailableError(absl::StrCat(
            "version ", gen->spec.version, " (", gen->spec.binary,
            "): exited before ready: ", internal::DescribeWaitStatus(gen->exit_status)));
      }
      // Shutdown ends the wait at once: with ready_max_wait it could last half an hour, and an
      // evacuation gives the reconcile loop seconds to unwind.
      if (forced_ || shut_down_) return absl::CancelledError("supervisor shutting down");
    }
    auto call = net::HttpCallOptions::Timeout(
        std::max(absl::Milliseconds(500), std::min(absl::Seconds(2), options_.ready_timeout)));
    absl::StatusOr<net::HttpResponse> ready =
        http_->Get(Url(admin_port, options_.ready_path), call);
    // Whether the child says it is still starting (the wait may then go past ready_timeout).
    bool starting = false;
    if (ready.ok() && ready->status == 200) {
      absl::StatusOr<net::HttpResponse> health = http_->Get(Url(port, options_.healthz_path), call);
      // The answers must come from this child: another process (another supervisor's child)
      // may have bound the port after ours failed to (seen with a crash-at-start binary).
      pid_t pid;
      {
        absl::MutexLock lock(&mu_);
        pid = gen->pid;
      }
      std::optional<bool> owns = internal::ListenerOwnedBy(port, pid);
      std::optional<bool> owns_admin =
          admin_port == port ? owns : internal::ListenerOwnedBy(admin_port, pid);
      const bool stranger =
          (owns.has_value() && !*owns) || (owns_admin.has_value() && !*owns_admin);
      if (health.ok() && health->status >= 200 && health->status < 300 && !stranger) {
        WarmConnections(port);
        return absl::OkStatus();
      }
      starting = !stranger;  // admin says ready, the public side is not serving yet
      last = stranger      ? absl::StrCat("port ", port, " or ", admin_port,
                                          " is listened on by another process, not the child")
             : health.ok() ? absl::StrCat(options_.healthz_path, " answered ", health->status)
                           : std::string(health.status().message());
    } else if (ready.ok()) {
      starting = (ready->status == 503 && ReadyBodyInitializing(ready->body)) ||
                 ReadyPathAbsent(ready->status);
      last = absl::StrCat(options_.ready_path, " answered ", ready->status,
                          starting ? " (still starting)" : "");
    } else {
      last = std::string(ready.status().message());
    }
    const absl::Time now = absl::Now();
    if (now >= max_deadline || (now >= min_deadline && !starting)) {
      {
        absl::MutexLock lock(&mu_);
        gen->last_wait_starting = starting;
      }
      return absl::UnavailableError(absl::StrCat(
          "version ", gen->spec.version, " (", gen->spec.binary, "): not ready within ",
          absl::FormatDuration(now >= max_deadline ? max_wait : window), ": ", last));
    }
    if (now >= min_deadline && !extended) {
      extended = true;
      GONKA_LOG_INFO("child still starting; extending the readiness wait",
                     {"version", gen->spec.version}, {"generation", gen->id},
                     {"elapsed", now - start}, {"max_wait", max_wait}, {"last", last});
    }
    if (SleepOrForced(options_.ready_poll_interval)) {
      return absl::CancelledError("supervisor shutting down");
    }
  }
}

absl::Status Supervisor::WaitRecovery(const GenPtr& gen, const GenPtr& old) {
  if (options_.recovery_timeout <= absl::ZeroDuration()) return absl::OkStatus();
  int port, admin_port;
  {
    absl::MutexLock lock(&mu_);
    port = gen->port;
    admin_port = gen->admin_port;
  }
  // As Gonka: a child without an admin listener of its own (legacy) is cut over cold.
  if (admin_port == port) return absl::OkStatus();
  const absl::Time deadline = absl::Now() + options_.recovery_timeout;
  bool logged = false;
  while (true) {
    absl::StatusOr<net::HttpResponse> ready = http_->Get(
        Url(admin_port, options_.ready_path), net::HttpCallOptions::Timeout(absl::Seconds(2)));
    std::string pending;
    if (ready.ok()) {
      std::optional<bool> complete = RecoveryComplete(ready->body);
      if (!complete.has_value()) {
        GONKA_LOG_INFO("warm cutover: the ready body has no recovery_complete; cutting over cold",
                       {"version", gen->spec.version}, {"generation", gen->id},
                       {"status", ready->status});
        return absl::OkStatus();
      }
      if (ready->status == 200 && *complete) {
        GONKA_LOG_INFO("warm cutover: new child recovery complete", {"version", gen->spec.version},
                       {"generation", gen->id});
        return absl::OkStatus();
      }
    }
    {
      absl::MutexLock lock(&mu_);
      if (forced_ || shut_down_) return absl::CancelledError("supervisor shutting down");
      if (ReapLocked(gen.get())) {
        return absl::UnavailableError(absl::StrCat(
            "version ", gen->spec.version, " (", gen->spec.binary,
            "): exited while recovering: ", internal::DescribeWaitStatus(gen->exit_status)));
      }
      // An unpublished recovering child next to a dead old one is an outage: publish now.
      if (old->done || old->state != GenerationState::kRunning) {
        GONKA_LOG_INFO("warm cutover: the old child stopped during the wait; cutting over",
                       {"version", gen->spec.version}, {"generation", gen->id});
        return absl::OkStatus();
      }
    }
    if (!logged) {
      logged = true;
      GONKA_LOG_INFO("warm cutover: waiting for recovery_complete", {"version", gen->spec.version},
                     {"generation", gen->id}, {"timeout", options_.recovery_timeout});
    }
    const absl::Time now = absl::Now();
    if (now >= deadline) {
      return absl::DeadlineExceededError(absl::StrCat(
          "version ", gen->spec.version, " (", gen->spec.binary,
          "): recovery_complete not true within ", absl::FormatDuration(options_.recovery_timeout),
          "; the old child keeps serving"));
    }
    if (SleepOrForced(std::min(options_.recovery_poll_interval, deadline - now))) {
      return absl::CancelledError("supervisor shutting down");
    }
  }
}

absl::Status Supervisor::Preflight(const GenPtr& gen) {
  if (!options_.probe_versions) return absl::OkStatus();
  const ChildSpec& spec = gen->spec;  // immutable once the generation exists
  std::string binary_version;
  absl::StatusOr<std::string> printed = internal::RunAndCapture(
      {spec.binary, "--print-binary-version"}, spec.env, options_.probe_timeout, true);
  if (printed.ok() && !printed->empty()) {
    binary_version = *printed;
  } else if (printed.ok()) {
    return absl::UnavailableError(absl::StrCat("version ", spec.version, " (", spec.binary,
                                               "): --print-binary-version printed nothing"));
  } else if (FlagUnsupported(printed.status())) {
    binary_version = spec.version;  // Gonka: the slot name stands in for older binaries
  } else {
    return absl::Status(printed.status().code(),
                        absl::StrCat("version ", spec.version,
                                     ": binary version probe: ", printed.status().message()));
  }
  // Gonka refuses a binary built for another protocol than the version it is listed under.
  absl::StatusOr<std::string> protocol = internal::RunAndCapture(
      {spec.binary, "--print-protocol-version"}, spec.env, options_.probe_timeout, true);
  if (protocol.ok() && *protocol != spec.version) {
    return absl::FailedPreconditionError(absl::StrCat(
        "version ", spec.version, " (", spec.binary,
        "): binary protocol mismatch: --print-protocol-version says \"", *protocol, "\""));
  }
  if (!protocol.ok() && !FlagUnsupported(protocol.status())) {
    return absl::Status(protocol.status().code(),
                        absl::StrCat("version ", spec.version,
                                     ": protocol version probe: ", protocol.status().message()));
  }
  bool admin_api = true;
  if (!options_.admin_address_env.empty()) {
    absl::StatusOr<std::string> admin = internal::RunAndCapture(
        {spec.binary, "--print-admin-api-version"}, spec.env, options_.probe_timeout, true);
    if (!admin.ok()) {
      if (!FlagUnsupported(admin.status())) {
        return absl::Status(admin.status().code(),
                            absl::StrCat("version ", spec.version,
                                         ": admin API probe: ", admin.status().message()));
      }
      admin_api = false;
      GONKA_LOG_WARN("child has no admin API; its admin endpoints are on its public port",
                     {"version", spec.version}, {"binary", spec.binary});
    }
  }
  std::string ha_env;
  if (!options_.admin_address_env.empty()) {
    // Gonka (binary_version.go, childHADeployment): HA unless the router pins the version to the
    // legacy host; an HA-routed version must be on shared Postgres.
    const bool ha = options_.ha_deployment &&
                    std::find(options_.non_ha_versions.begin(), options_.non_ha_versions.end(),
                              spec.version) == options_.non_ha_versions.end();
    ha_env = ha ? "true" : "false";
    if (ha) {
      absl::StatusOr<std::string> mode = internal::RunAndCapture(
          {spec.binary, "--print-storage-mode"}, spec.env, options_.probe_timeout, true);
      if (!mode.ok() && !FlagUnsupported(mode.status())) {
        return absl::Status(mode.status().code(),
                            absl::StrCat("version ", spec.version,
                                         ": storage-mode probe: ", mode.status().message()));
      }
      if (!mode.ok() || absl::AsciiStrToLower(*mode) != "postgres") {
        return absl::FailedPreconditionError(absl::StrCat(
            "version ", spec.version, " (", spec.binary,
            "): HA-routed version (GONKA_HA, not in VERSIOND_NON_HA_VERSIONS) requires storage "
            "mode postgres, got ",
            mode.ok() ? absl::StrCat("\"", *mode, "\"") : "no --print-storage-mode"));
      }
    }
  }
  absl::MutexLock lock(&mu_);
  gen->binary_version = binary_version;
  gen->admin_api = admin_api;
  gen->ha_env = ha_env;
  return absl::OkStatus();
}

absl::Status Supervisor::StartGeneration(const GenPtr& gen) {
  // A child that exits before it is ready may have lost its port to another process between our
  // bind test and its own bind; it gets a fresh port. A child that hangs unready does not.
  for (int attempt = 1;; ++attempt) {
    absl::Status s = StartOnce(gen);
    bool exited;
    {
      absl::MutexLock lock(&mu_);
      exited = !s.ok() && gen->pid != 0 && !gen->process_alive && !forced_ && !shut_down_ &&
               absl::StrContains(s.message(), "exited before ready");
      if (!exited || attempt >= options_.start_attempts) return s;
      gen->done = false;
    }
    GONKA_LOG_WARN("child exited before ready; starting it again on a new port",
                   {"version", gen->spec.version}, {"generation", gen->id}, {"attempt", attempt},
                   {"error", s});
  }
}

absl::Status Supervisor::StartOnce(const GenPtr& gen) {
  std::vector<std::string> argv;
  internal::EnvOverrides env;
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) {
      SetStateLocked(gen.get(), GenerationState::kFailed);
      gen->done = !gen->restart_loop;
      return absl::FailedPreconditionError(
          absl::StrCat("version ", gen->spec.version, ": supervisor is shut down"));
    }
    absl::StatusOr<int> port = PickPortLocked();
    if (!port.ok()) {
      gen->last_error = std::string(port.status().message());
      SetStateLocked(gen.get(), GenerationState::kFailed);
      gen->done = !gen->restart_loop;
      return absl::ResourceExhaustedError(
          absl::StrCat("version ", gen->spec.version, ": ", port.status().message()));
    }
    gen->port = *port;
    gen->admin_port = *port;
    if (!options_.admin_address_env.empty() && gen->admin_api) {
      // Mark the public port taken before picking the second one.
      absl::StatusOr<int> admin = PickPortLocked();
      if (!admin.ok()) {
        gen->last_error = std::string(admin.status().message());
        SetStateLocked(gen.get(), GenerationState::kFailed);
        gen->done = !gen->restart_loop;
        return absl::ResourceExhaustedError(
            absl::StrCat("version ", gen->spec.version, ": ", admin.status().message()));
      }
      gen->admin_port = *admin;
      env.emplace_back(options_.admin_address_env, absl::StrCat("127.0.0.1:", *admin));
    }
    argv = {gen->spec.binary, "--port", absl::StrCat(gen->port), "--data-dir", gen->spec.data_dir};
    argv.insert(argv.end(), gen->spec.args.begin(), gen->spec.args.end());
    // Gonka passes the binary's own version string to the child for its logs.
    if (!gen->binary_version.empty()) {
      env.emplace_back("DEVSHARD_BINARY_LOG_VERSION", gen->binary_version);
    }
    if (!gen->ha_env.empty()) env.emplace_back("GONKA_HA", gen->ha_env);
    for (const auto& kv : gen->spec.env) env.push_back(kv);
    SetStateLocked(gen.get(), GenerationState::kStarting);
  }
  if (!gen->spec.data_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(gen->spec.data_dir, ec);
  }
  absl::StatusOr<pid_t> pid = internal::Spawn(argv, env, options_.die_with_supervisor);
  if (!pid.ok()) {
    absl::MutexLock lock(&mu_);
    gen->last_error = std::string(pid.status().message());
    SetStateLocked(gen.get(), GenerationState::kFailed);
    gen->done = !gen->restart_loop;
    return absl::UnavailableError(
        absl::StrCat("version ", gen->spec.version, ": ", pid.status().message()));
  }
  {
    absl::MutexLock lock(&mu_);
    gen->pid = *pid;
    gen->process_alive = true;
    ++gen->spawns;
    gen->serving = false;
    RecordPid(*pid, gen->spec.binary);
    GONKA_LOG_INFO("child spawned", {"version", gen->spec.version}, {"generation", gen->id},
                   {"pid", static_cast<int64_t>(*pid)}, {"port", gen->port},
                   {"admin_port", gen->admin_port});
  }
  // Started at low priority only where it can be raised again (see starting_nice), back to the
  // nice value it inherited from this thread.
  static const bool may_restore = internal::MayRestorePriority();
  errno = 0;
  const int base_nice = getpriority(PRIO_PROCESS, 0);
  const bool niced = may_restore && errno == 0 && options_.starting_nice > base_nice &&
                     internal::SetGroupNice(*pid, options_.starting_nice);
  absl::Status ready = WaitReady(gen);
  if (niced && ready.ok() && !internal::SetGroupNice(*pid, base_nice)) {
    GONKA_LOG_WARN("could not set the new child's priority back", {"version", gen->spec.version},
                   {"generation", gen->id}, {"errno", std::string(strerror(errno))});
  }
  if (!ready.ok()) {
    GONKA_LOG_WARN("child not ready; stopping it", {"version", gen->spec.version},
                   {"generation", gen->id}, {"error", ready});
    StopProcess(gen, options_.kill_grace);
    absl::MutexLock lock(&mu_);
    gen->last_error = std::string(ready.message());
    SetStateLocked(gen.get(), GenerationState::kFailed);
    gen->done = !gen->restart_loop;
    return ready;
  }
  absl::MutexLock lock(&mu_);
  SetStateLocked(gen.get(), GenerationState::kRunning);
  // Serving from the start (as Gonka seeds it): the readiness wait just passed, and a route
  // published with "not serving" would fail the router's next per-version check.
  gen->serving = true;
  gen->serving_at = absl::Now();
  gen->probe_failures = 0;
  return absl::OkStatus();
}

void Supervisor::StopProcess(const GenPtr& gen, absl::Duration grace) {
  pid_t pid;
  {
    absl::MutexLock lock(&mu_);
    if (ReapLocked(gen.get())) return;
    pid = gen->pid;
  }
  kill(pid, SIGTERM);
  const absl::Time kill_at = absl::Now() + grace;
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (ReapLocked(gen.get())) return;
      if (forced_ || absl::Now() >= kill_at) break;
    }
    SleepOrForced(absl::Milliseconds(10));
  }
  GONKA_LOG_WARN("child ignored SIGTERM; SIGKILL", {"version", gen->spec.version},
                 {"generation", gen->id}, {"pid", static_cast<int64_t>(pid)}, {"grace", grace});
  kill(pid, SIGKILL);
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (ReapLocked(gen.get())) return;
    }
    absl::SleepFor(absl::Milliseconds(5));
  }
}

void Supervisor::Retire(const GenPtr& gen) {
  int admin_port;
  {
    absl::MutexLock lock(&mu_);
    if (gen->done) return;
    admin_port = gen->admin_port;
    bool running = gen->process_alive && !ReapLocked(gen.get());
    if (running) {
      SetStateLocked(gen.get(), GenerationState::kRetiring);
      // 1. No new lease can reach this generation (it is off the route); wait for the held ones.
      auto no_leases = [&]()
                           ABSL_SHARED_LOCKS_REQUIRED(mu_) { return gen->leases == 0 || forced_; };
      if (!mu_.AwaitWithTimeout(absl::Condition(&no_leases), options_.drain_timeout)) {
        GONKA_LOG_WARN("retiring child still holds leases after drain timeout",
                       {"version", gen->spec.version}, {"generation", gen->id},
                       {"leases", gen->leases});
      }
      SetStateLocked(gen.get(), GenerationState::kDraining);
      // No request through the route is on it any more: its drain and exit (the work a process
      // does to end) yield the CPU to the new child's requests. Its own group only.
      if (options_.retiring_nice > 0 && gen->process_alive) {
        internal::SetGroupNice(gen->pid, options_.retiring_nice);
      }
    }
  }
  // 2. Ask the child to drain and wait for its own in-flight count (work it accepted that did not
  // come through a lease, e.g. background jobs).
  bool forced;
  {
    absl::MutexLock lock(&mu_);
    forced = forced_ || !gen->process_alive;
  }
  if (!forced) {
    auto call = net::HttpCallOptions::Timeout(absl::Seconds(5));
    absl::StatusOr<net::HttpResponse> drain =
        http_->Post(Url(admin_port, options_.drain_path), "", "application/json", call);
    if (!drain.ok()) {
      GONKA_LOG_WARN("POST drain failed", {"version", gen->spec.version}, {"generation", gen->id},
                     {"error", drain.status()});
    }
    const absl::Time deadline = absl::Now() + options_.drain_timeout;
    simdjson::dom::parser parser;
    while (absl::Now() < deadline) {
      absl::StatusOr<net::HttpResponse> st =
          http_->Get(Url(admin_port, options_.drain_status_path), call);
      if (st.ok() && st->status == 404) break;  // no drain status: the SIGTERM grace covers it
      if (st.ok() && st->status == 200) {
        simdjson::dom::element doc;
        int64_t inflight = -1;
        if (parser.parse(st->body).get(doc) == simdjson::SUCCESS &&
            doc["inflight"].get(inflight) == simdjson::SUCCESS && inflight == 0) {
          break;
        }
      }
      if (!st.ok()) {
        absl::MutexLock lock(&mu_);
        if (ReapLocked(gen.get())) break;
      }
      if (SleepOrForced(options_.drain_poll_interval)) break;
    }
  }
  // 3. SIGTERM → grace → SIGKILL → reap.
  {
    absl::MutexLock lock(&mu_);
    SetStateLocked(gen.get(), GenerationState::kStopping);
  }
  StopProcess(gen, options_.kill_grace);
  absl::MutexLock lock(&mu_);
  SetStateLocked(gen.get(), GenerationState::kStopped);
  gen->done = true;
  async_->DropEndpoint(gen->port);
  GONKA_LOG_INFO("child reaped", {"version", gen->spec.version}, {"generation", gen->id},
                 {"exit", internal::DescribeWaitStatus(gen->exit_status)});
}

void Supervisor::RetireInBackground(GenPtr gen) {
  // Off the route from this moment (the caller holds mu_ across the route change), so the
  // state says so before the worker thread runs.
  if (gen->state == GenerationState::kRunning)
    SetStateLocked(gen.get(), GenerationState::kRetiring);
  workers_.emplace_back([this, gen = std::move(gen)] { Retire(gen); });
}

absl::Status Supervisor::Deploy(const ChildSpec& spec) {
  if (spec.version.empty() || spec.binary.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("deploy: version (\"", spec.version,
                                                   "\") and binary (\"", spec.binary,
                                                   "\") are required"));
  }
  absl::MutexLock deploy_lock(&deploy_mu_);
  auto gen = std::make_shared<Generation>();
  gen->spec = spec;
  GenPtr old;
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) {
      return absl::FailedPreconditionError(
          absl::StrCat("deploy ", spec.version, ": supervisor is shut down"));
    }
    gen->id = next_id_++;
    generations_.push_back(gen);
    for (auto& [version, target] : routes_) {
      if (version == spec.version) old = target;
    }
  }
  GONKA_LOG_INFO("deploy", {"version", spec.version}, {"binary", spec.binary},
                 {"generation", gen->id});

  // Overlap decision (Gonka's rolling update: both binaries must report shared Postgres).
  bool overlap = true;
  if (old != nullptr) {
    std::string old_mode;
    {
      absl::MutexLock lock(&mu_);
      old_mode = old->storage_mode;
    }
    switch (options_.overlap) {
      case OverlapPolicy::kAlways:
        overlap = true;
        break;
      case OverlapPolicy::kNever:
        overlap = false;
        break;
      case OverlapPolicy::kProbe: {
        absl::StatusOr<std::string> mode = ProbeStorageMode(spec);
        if (!mode.ok()) {
          absl::MutexLock lock(&mu_);
          gen->last_error = std::string(mode.status().message());
          SetStateLocked(gen.get(), GenerationState::kFailed);
          gen->done = true;
          return mode.status();
        }
        absl::MutexLock lock(&mu_);
        gen->storage_mode = *mode;
        overlap = old_mode == "postgres" && *mode == "postgres";
        break;
      }
    }
  } else if (options_.overlap == OverlapPolicy::kProbe) {
    absl::StatusOr<std::string> mode = ProbeStorageMode(spec);
    absl::MutexLock lock(&mu_);
    if (!mode.ok()) {
      gen->last_error = std::string(mode.status().message());
      SetStateLocked(gen.get(), GenerationState::kFailed);
      gen->done = true;
      return mode.status();
    }
    gen->storage_mode = *mode;
  }

  if (absl::Status s = Preflight(gen); !s.ok()) {
    absl::MutexLock lock(&mu_);
    gen->last_error = std::string(s.message());
    SetStateLocked(gen.get(), GenerationState::kFailed);
    gen->done = true;
    return s;
  }

  if (old != nullptr && !overlap) {
    // Exclusive: the new generation takes the route now (requests wait for it), the old one is
    // retired and reaped before the new one starts.
    GONKA_LOG_INFO("exclusive swap (storage not shared)", {"version", spec.version},
                   {"old_generation", old->id}, {"new_generation", gen->id});
    {
      absl::MutexLock lock(&mu_);
      for (auto& [version, target] : routes_) {
        if (version == spec.version) target = gen;
      }
    }
    Retire(old);
    return StartGeneration(gen);
  }

  absl::Status started = StartGeneration(gen);
  if (!started.ok()) return started;  // the old generation keeps the route
  if (old != nullptr) {
    // Warm cutover: the new child takes the route once it has caught up (recovery_complete).
    absl::Status warm = WaitRecovery(gen, old);
    if (!warm.ok()) {
      GONKA_LOG_WARN("warm cutover failed; stopping the new child, the old one keeps serving",
                     {"version", spec.version}, {"generation", gen->id}, {"error", warm});
      {
        absl::MutexLock lock(&mu_);
        SetStateLocked(gen.get(), GenerationState::kStopping);
      }
      StopProcess(gen, options_.kill_grace);
      absl::MutexLock lock(&mu_);
      gen->last_error = std::string(warm.message());
      SetStateLocked(gen.get(), GenerationState::kFailed);
      gen->done = true;
      async_->DropEndpoint(gen->port);
      return warm;
    }
  }
  absl::MutexLock lock(&mu_);
  bool found = false;
  for (auto& [version, target] : routes_) {
    if (version == spec.version) {
      target = gen;  // the atomic swap: later Acquire calls see only the new generation
      found = true;
    }
  }
  if (shut_down_) {  // Shutdown ran while this one was starting: it never takes the route
    RetireInBackground(gen);
    return absl::FailedPreconditionError(
        absl::StrCat("deploy ", spec.version, ": supervisor shut down during the start"));
  }
  if (!found) routes_.emplace_back(spec.version, gen);
  if (old != nullptr) RetireInBackground(old);
  return absl::OkStatus();
}

absl::Status Supervisor::Remove(absl::string_view version) {
  absl::MutexLock deploy_lock(&deploy_mu_);
  absl::MutexLock lock(&mu_);
  for (auto it = routes_.begin(); it != routes_.end(); ++it) {
    if (it->first == version) {
      GenPtr gen = it->second;
      routes_.erase(it);
      RetireInBackground(gen);
      return absl::OkStatus();
    }
  }
  return absl::NotFoundError(absl::StrCat("remove: unknown version ", version));
}

absl::StatusOr<RouteLease> Supervisor::Acquire(absl::string_view version, absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  bool known = false;
  GenPtr target;
  auto running = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    known = false;
    target = nullptr;
    for (const auto& [name, gen] : routes_) {
      if (name == version) {
        known = true;
        if (gen->state == GenerationState::kRunning) target = gen;
      }
    }
    return target != nullptr || !known || shut_down_;
  };
  mu_.AwaitWithDeadline(absl::Condition(&running), deadline);
  if (!known) return absl::NotFoundError(absl::StrCat("unknown version ", version));
  if (target == nullptr) {
    return absl::UnavailableError(absl::StrCat("version ", version, ": no running child"));
  }
  ++target->leases;
  ++stats_.leases_granted;
  return RouteLease(this, target, target->port, target->id);
}

net::HttpResponse Supervisor::Forward(absl::string_view version, const net::HttpRequest& request,
                                      absl::string_view target) {
  const bool idempotent = IsIdempotent(request.method);
  net::HttpCallOptions call = net::HttpCallOptions::Timeout(options_.forward_timeout);
  call.headers = ForwardHeaders(request.headers);
  call.idempotent = idempotent;
  for (int attempt = 0;; ++attempt) {
    absl::StatusOr<RouteLease> lease = Acquire(version, absl::Now() + options_.acquire_wait);
    if (!lease.ok()) {
      absl::MutexLock lock(&mu_);
      ++stats_.forward_errors;
      return net::HttpResponse::Text(absl::IsNotFound(lease.status()) ? 404 : 503,
                                     std::string(lease.status().message()));
    }
    absl::StatusOr<net::HttpResponse> res =
        http_->Request(request.method, Url(lease->port(), target), request.body, call);
    const uint64_t used = lease->generation();
    lease->Release();
    bool retired = false;
    {
      absl::MutexLock lock(&mu_);
      for (const auto& [name, gen] : routes_) {
        if (name == version) retired = gen->id != used;
      }
    }
    // A lease keeps its child off drain, so this happens only when the lease wait timed out or
    // the child exited; the new child (if any) gets the request.
    bool retry = retired && attempt < 2 &&
                 ((!res.ok() && idempotent && absl::IsUnavailable(res.status())) ||
                  (res.ok() && res->status == 503));
    if (retry) {
      absl::MutexLock lock(&mu_);
      ++stats_.forward_retries;
      continue;
    }
    if (!res.ok()) {
      absl::MutexLock lock(&mu_);
      ++stats_.forward_errors;
      return net::HttpResponse::Text(
          502, absl::StrCat("version ", version, ": ", res.status().message()));
    }
    net::HttpResponse out;
    out.status = res->status;
    out.headers = ForwardHeaders(res->headers);
    out.body = std::move(res->body);
    return out;
  }
}

struct Supervisor::AsyncForward {
  std::string version;
  net::AsyncRequest request;  // port set per attempt; executor: the caller's, or nullptr
  std::function<void(net::HttpResponse)> done;
  int attempt = 0;
};

bool Supervisor::ForwardAsync(absl::string_view version, const net::HttpRequest& request,
                              absl::string_view target, std::function<void(net::HttpResponse)> done,
                              const net::IoExecutor* executor) {
  absl::StatusOr<RouteLease> lease = Acquire(version, absl::InfinitePast());
  if (!lease.ok() && absl::IsUnavailable(lease.status())) return false;
  auto call = std::make_shared<AsyncForward>();
  call->version = std::string(version);
  call->request.method = request.method;
  call->request.target = std::string(target);
  call->request.headers = ForwardHeaders(request.headers);
  call->request.body = request.body;
  call->request.timeout = options_.forward_timeout;
  call->request.idempotent = IsIdempotent(request.method);
  call->request.executor = executor;
  call->done = std::move(done);
  ForwardAttempt(std::move(call), std::move(lease));
  return true;
}

void Supervisor::ForwardAttempt(std::shared_ptr<AsyncForward> call,
                                absl::StatusOr<RouteLease> lease) {
  if (!lease.ok()) {
    {
      absl::MutexLock lock(&mu_);
      ++stats_.forward_errors;
    }
    call->done(net::HttpResponse::Text(absl::IsNotFound(lease.status()) ? 404 : 503,
                                       std::string(lease.status().message())));
    return;
  }
  net::AsyncRequest r = call->request;
  r.port = lease->port();
  auto held = std::make_shared<RouteLease>(*std::move(lease));
  async_->Request(std::move(r), [this, call, held](absl::StatusOr<net::HttpResponse> res) {
    const uint64_t used = held->generation();
    held->Release();  // the child's response is in
    bool retired = false;
    {
      absl::MutexLock lock(&mu_);
      for (const auto& [name, gen] : routes_) {
        if (name == call->version) retired = gen->id != used;
      }
    }
    // As in Forward(): only a request that raced a retirement goes to the new child.
    const bool retry =
        retired && call->attempt < 2 &&
        ((!res.ok() && call->request.idempotent && absl::IsUnavailable(res.status())) ||
         (res.ok() && res->status == 503));
    if (retry) {
      {
        absl::MutexLock lock(&mu_);
        ++stats_.forward_retries;
      }
      ++call->attempt;
      ForwardAttempt(call, Acquire(call->version, absl::InfinitePast()));
      return;
    }
    if (!res.ok()) {
      {
        absl::MutexLock lock(&mu_);
        ++stats_.forward_errors;
      }
      call->done(net::HttpResponse::Text(
          502, absl::StrCat("version ", call->version, ": ", res.status().message())));
      return;
    }
    net::HttpResponse out;
    out.status = res->status;
    out.headers = ForwardHeaders(res->headers);
    out.body = std::move(res->body);
    call->done(std::move(out));
  });
}

void Supervisor::ForwardStream(absl::string_view version, const net::HttpRequest& request,
                               absl::string_view target, std::shared_ptr<net::ResponseStream> out) {
  for (int attempt = 0;; ++attempt) {
    absl::StatusOr<RouteLease> lease = Acquire(version, absl::Now() + options_.acquire_wait);
    if (!lease.ok()) {
      {
        absl::MutexLock lock(&mu_);
        ++stats_.forward_errors;
      }
      out->SetStatus(absl::IsNotFound(lease.status()) ? 404 : 503);
      out->SetHeader("Content-Type", "text/plain; charset=utf-8");
      out->Write(lease.status().message());
      out->Close();
      return;
    }
    // The child's answer streams through the asynchronous client: a 2xx answer's status and
    // headers are relayed as soon as they arrive (before the first event), then every piece as
    // it comes; any other answer is collected (bounded) and answered once it is complete.
    struct Relay {
      absl::Mutex mu;
      bool done ABSL_GUARDED_BY(mu) = false;
      absl::StatusOr<net::HttpResponse> result ABSL_GUARDED_BY(mu);
      bool relaying = false;  // these two only on the client's I/O thread, then read after done
      bool wrote = false;
      std::string error_body;
    };
    auto relay = std::make_shared<Relay>();
    net::AsyncRequest call;
    call.port = lease->port();
    call.method = "GET";
    call.target = std::string(target);
    call.headers = ForwardHeaders(request.headers);
    call.timeout = options_.stream_idle_timeout;
    call.on_head = [relay, out](const net::HttpResponse& head) {
      if (head.status < 200 || head.status >= 300) return;
      relay->relaying = true;
      out->SetStatus(head.status);
      for (const auto& [name, value] : head.headers) {
        if (!IsHopByHop(name)) out->SetHeader(name, value);
      }
    };
    call.on_body = [relay, out](absl::string_view piece) {
      if (!relay->relaying) {
        if (relay->error_body.size() < (1 << 20))
          relay->error_body.append(piece.data(), piece.size());
        return true;
      }
      relay->wrote = true;
      return out->Write(piece);
    };
    async_->Request(std::move(call), [relay](absl::StatusOr<net::HttpResponse> res) {
      absl::MutexLock lock(&relay->mu);
      relay->result = std::move(res);
      relay->done = true;
    });
    absl::StatusOr<net::HttpResponse> res;
    {
      absl::MutexLock lock(&relay->mu);
      relay->mu.Await(absl::Condition(&relay->done));
      res = relay->result;
    }
    if (res.ok()) res->body = std::move(relay->error_body);
    const bool wrote = relay->wrote || relay->relaying;
    const uint64_t used = lease->generation();
    lease->Release();  // the child's response has ended (or the client left)
    bool retired = false;
    {
      absl::MutexLock lock(&mu_);
      for (const auto& [name, gen] : routes_) {
        if (name == version) retired = gen->id != used;
      }
    }
    bool retry =
        retired && !wrote && attempt < 2 &&
        ((!res.ok() && absl::IsUnavailable(res.status())) || (res.ok() && res->status == 503));
    if (retry) {
      absl::MutexLock lock(&mu_);
      ++stats_.forward_retries;
      continue;
    }
    if (!wrote) {
      if (!res.ok()) {
        {
          absl::MutexLock lock(&mu_);
          ++stats_.forward_errors;
        }
        out->SetStatus(502);
        out->SetHeader("Content-Type", "text/plain; charset=utf-8");
        out->Write(res.status().message());
      } else if (res->status < 200 || res->status >= 300) {
        out->SetStatus(res->status);
        std::string type = res->headers.Get("Content-Type");
        if (!type.empty()) out->SetHeader("Content-Type", type);
        out->Write(res->body);
      }
    }
    out->Close();
    return;
  }
}

void Supervisor::MonitorLoop() {
  while (true) {
    std::vector<GenPtr> crashed;
    {
      absl::MutexLock lock(&mu_);
      if (mu_.AwaitWithTimeout(absl::Condition(&forced_), options_.monitor_interval)) return;
      for (const auto& [name, gen] : routes_) {
        if (gen->state == GenerationState::kRunning && ReapLocked(gen.get())) {
          gen->last_error =
              absl::StrCat("exited on its own: ", internal::DescribeWaitStatus(gen->exit_status));
          GONKA_LOG_WARN("child exited", {"version", gen->spec.version}, {"generation", gen->id},
                         {"status", gen->last_error});
          SetStateLocked(gen.get(), GenerationState::kFailed);
          if (options_.restart_on_exit && !shut_down_) {
            gen->restart_loop = true;
            crashed.push_back(gen);
          } else {
            gen->done = true;
          }
        }
      }
      for (GenPtr& gen : crashed) {
        workers_.emplace_back([this, gen] { Restart(gen); });
      }
    }
  }
}

absl::Duration NextReadyWindow(absl::Duration window, absl::Duration max_wait) {
  if (window >= max_wait || window > absl::InfiniteDuration() / 4) return max_wait;
  return std::min(window * 2, max_wait);
}

bool Supervisor::ProbeServing(int port, int admin_port) {
  auto call = net::HttpCallOptions::Timeout(options_.readiness_timeout);
  absl::StatusOr<net::HttpResponse> ready = http_->Get(Url(admin_port, options_.ready_path), call);
  if (!ready.ok()) return false;
  auto healthy = [&]() {
    absl::StatusOr<net::HttpResponse> health = http_->Get(Url(port, options_.healthz_path), call);
    return health.ok() && health->status >= 200 && health->status < 300;
  };
  if (ready->status == 200) return admin_port == port || healthy();
  // Gonka's legacy fallback: a child without an admin listener of its own whose ready path does
  // not exist is ready when its public /healthz is.
  return admin_port == port && ReadyPathAbsent(ready->status) && healthy();
}

void Supervisor::ReadinessLoop() {
  while (true) {
    struct Target {
      GenPtr gen;
      uint64_t spawns;
      int port, admin_port;
    };
    std::vector<Target> targets;
    {
      absl::MutexLock lock(&mu_);
      if (mu_.AwaitWithTimeout(absl::Condition(&forced_), options_.readiness_interval)) return;
      for (const auto& [name, gen] : routes_) {
        if (gen->state == GenerationState::kRunning && gen->process_alive) {
          targets.push_back({gen, gen->spawns, gen->port, gen->admin_port});
        }
      }
    }
    // All children at once (Gonka runs one monitor per child): a hung child's 2 s probes must not
    // delay the others' answers past readiness_stale.
    std::vector<char> answers(targets.size(), 0);
    std::vector<std::thread> probes;
    for (size_t i = 1; i < targets.size(); ++i) {
      probes.emplace_back([this, &targets, &answers, i] {
        answers[i] = ProbeServing(targets[i].port, targets[i].admin_port);
      });
    }
    if (!targets.empty()) answers[0] = ProbeServing(targets[0].port, targets[0].admin_port);
    for (std::thread& p : probes) p.join();
    for (size_t i = 0; i < targets.size(); ++i) {
      const Target& t = targets[i];
      const bool ok = answers[i] != 0;
      absl::MutexLock lock(&mu_);
      Generation* gen = t.gen.get();
      // The answer belongs to the process that was asked: not to a restart, nor to a child that
      // left the running state meanwhile.
      if (gen->spawns != t.spawns || gen->state != GenerationState::kRunning) continue;
      gen->probe_failures = ok ? 0 : gen->probe_failures + 1;
      const bool serving =
          ok || (gen->serving && gen->probe_failures < std::max(1, options_.readiness_failures));
      if (serving != gen->serving) {
        if (serving) {
          ++stats_.readiness_regained;
          GONKA_LOG_INFO("child ready again", {"version", gen->spec.version},
                         {"generation", gen->id});
        } else {
          ++stats_.readiness_lost;
          GONKA_LOG_WARN("child not ready (readiness monitor); /readyz?version= answers 503",
                         {"version", gen->spec.version}, {"generation", gen->id},
                         {"failed_probes", gen->probe_failures});
        }
      }
      gen->serving = serving;
      gen->serving_at = absl::Now();
    }
  }
}

bool Supervisor::ServesVersion(absl::string_view version) const {
  absl::MutexLock lock(&mu_);
  for (const auto& [name, gen] : routes_) {
    if (name != version) continue;
    if (gen->state != GenerationState::kRunning || !gen->serving) return false;
    return options_.readiness_interval <= absl::ZeroDuration() ||
           absl::Now() - gen->serving_at < options_.readiness_stale;
  }
  return false;
}

void Supervisor::Restart(GenPtr gen) {
  absl::Cleanup left = [&] {
    absl::MutexLock lock(&mu_);
    gen->restart_loop = false;
  };
  if (SleepOrForced(options_.restart_backoff)) {
    absl::MutexLock lock(&mu_);
    gen->done = true;
    return;
  }
  {
    absl::MutexLock lock(&mu_);
    bool still_routed = false;
    for (const auto& [name, target] : routes_) still_routed = still_routed || target == gen;
    if (shut_down_ || !still_routed || gen->state != GenerationState::kFailed) {
      gen->done = true;  // retired meanwhile; nothing to restart
      return;
    }
    ++gen->restarts;
  }
  // As Gonka's runChild: a restarted child that does not get ready is stopped and started again
  // after a backoff (doubling up to 60 s) for as long as it has the route. When the failed wait
  // ended on "still starting" the next start's ready window doubles (up to the max wait); an
  // unreachable or plainly unready child keeps the short window so it is restarted promptly.
  absl::Duration backoff = options_.restart_backoff;
  while (true) {
    absl::Status s = StartGeneration(gen);  // failed → starting → running | failed
    absl::Duration window;
    bool starting;
    {
      absl::MutexLock lock(&mu_);
      window =
          gen->ready_window > absl::ZeroDuration() ? gen->ready_window : options_.ready_timeout;
      starting = gen->last_wait_starting;
      if (s.ok()) {
        gen->ready_window = absl::ZeroDuration();  // a later crash is detected on the short window
        return;
      }
    }
    if (starting) {
      const absl::Duration next = NextReadyWindow(window, options_.ready_max_wait);
      GONKA_LOG_WARN("child did not become ready in time; restarting with a longer window",
                     {"version", gen->spec.version}, {"generation", gen->id},
                     {"ready_window", window}, {"next_ready_window", next}, {"error", s});
      absl::MutexLock lock(&mu_);
      gen->ready_window = next;
    } else {
      GONKA_LOG_WARN("restart failed", {"version", gen->spec.version}, {"generation", gen->id},
                     {"ready_window", window}, {"error", s});
    }
    {
      // Not done while the loop owns it: a reconcile must not start a second generation beside
      // it. A swap or Shutdown retires it (Retire marks it done), which ends the loop below.
      absl::MutexLock lock(&mu_);
      bool still_routed = false;
      for (const auto& [name, target] : routes_) still_routed = still_routed || target == gen;
      if (!options_.restart_on_exit || shut_down_ || !still_routed ||
          gen->state != GenerationState::kFailed) {
        gen->done = true;
        return;
      }
      gen->done = false;
    }
    if (SleepOrForced(backoff)) {
      absl::MutexLock lock(&mu_);
      gen->done = true;
      return;
    }
    backoff = std::min(backoff * 2, absl::Seconds(60));
    absl::MutexLock lock(&mu_);
    bool still_routed = false;
    for (const auto& [name, target] : routes_) still_routed = still_routed || target == gen;
    if (shut_down_ || !still_routed || gen->state != GenerationState::kFailed) {
      gen->done = true;
      return;
    }
    gen->done = false;
    ++gen->restarts;
  }
}

std::vector<GenerationInfo> Supervisor::Generations() const {
  absl::MutexLock lock(&mu_);
  std::vector<GenerationInfo> out;
  for (const auto& gen : generations_) {
    GenerationInfo info;
    info.id = gen->id;
    info.version = gen->spec.version;
    info.binary = gen->spec.binary;
    info.sha256 = gen->spec.sha256;
    info.storage_mode = gen->storage_mode;
    info.binary_version = gen->binary_version;
    info.admin_api = gen->admin_api;
    info.state = gen->state;
    info.done = gen->done;
    info.port = gen->port;
    info.admin_port = gen->admin_port;
    info.pid = gen->pid;
    info.leases = gen->leases;
    info.restarts = gen->restarts;
    info.exit_status = gen->exit_status;
    info.last_error = gen->last_error;
    info.serving = gen->state == GenerationState::kRunning && gen->serving;
    for (const auto& [name, target] : routes_) {
      if (target == gen) info.current = true;
    }
    out.push_back(std::move(info));
  }
  return out;
}

std::vector<std::string> Supervisor::Versions() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> out;
  for (const auto& [name, gen] : routes_) out.push_back(name);
  return out;
}

SupervisorStats Supervisor::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

bool Supervisor::WaitRetired(absl::Time deadline) const {
  absl::MutexLock lock(&mu_);
  auto retired = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    for (const auto& gen : generations_) {
      bool current = false;
      for (const auto& [name, target] : routes_) current = current || target == gen;
      if (!current && !gen->done) return false;
    }
    return true;
  };
  return mu_.AwaitWithDeadline(absl::Condition(&retired), deadline);
}

void Supervisor::Shutdown(absl::Time deadline) {
  {
    // Not under deploy_mu_: an exclusive Deploy may be draining for minutes, and the deadline
    // must hold. Deploy checks shut_down_ again before it publishes a route.
    absl::MutexLock lock(&mu_);
    if (!shut_down_) {
      shut_down_ = true;
      for (auto& [name, gen] : routes_) RetireInBackground(gen);
      routes_.clear();
    }
  }
  {
    absl::MutexLock lock(&mu_);
    auto all_done = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      for (const auto& gen : generations_) {
        if (!gen->done) return false;
      }
      return true;
    };
    if (!mu_.AwaitWithDeadline(absl::Condition(&all_done), deadline)) {
      GONKA_LOG_WARN("shutdown deadline: killing the remaining children");
    }
    forced_ = true;  // every wait returns; StopProcess sends SIGKILL at once
  }
  std::vector<std::thread> workers;
  {
    absl::MutexLock lock(&mu_);
    workers.swap(workers_);
  }
  for (std::thread& t : workers) t.join();
  // Restart workers may have been added by the monitor before it saw `forced_`.
  std::vector<std::thread> late;
  {
    absl::MutexLock lock(&mu_);
    late.swap(workers_);
  }
  for (std::thread& t : late) t.join();
}

}  // namespace supervisor
}  // namespace gonka
