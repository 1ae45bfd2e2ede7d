#include "gonka/router/host_evacuation.h"

#include <errno.h>
#include <signal.h>
#include <string.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "gonka/base/status_macros.h"

namespace gonka {
namespace router {
namespace {

// "show stat" type column: 0 frontend, 1 backend, 2 server, 3 listener.
constexpr char kServerType[] = "2";

absl::StatusOr<std::vector<std::string>> ResolveBackends(const HaproxyRuntime& haproxy,
                                                         const std::string& server,
                                                         const std::vector<std::string>& given) {
  if (!given.empty()) return given;
  return BackendsWithServer(haproxy, server);
}

// A zombie (exited, not yet reaped by its parent) holds no port or file any more: it has stopped.
bool Exited(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // "<pid> (<comm>) <state> ...": the state follows the last ')' (comm may contain one).
  const size_t paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'Z';
}

}  // namespace

absl::StatusOr<std::vector<std::string>> BackendsWithServer(const HaproxyRuntime& haproxy,
                                                            const std::string& server) {
  ASSIGN_OR_RETURN(std::vector<HaproxyStatRow> rows, haproxy.Stat());
  std::vector<std::string> backends;
  for (const HaproxyStatRow& row : rows) {
    if (row.name == server && row.Get("type") == kServerType) backends.push_back(row.proxy);
  }
  if (backends.empty()) {
    return absl::NotFoundError(absl::StrCat("haproxy runtime API ", haproxy.socket_path(),
                                            ": no backend has a server named ", server));
  }
  return backends;
}

absl::StatusOr<ServerLoad> ReadServerLoad(const HaproxyRuntime& haproxy, const std::string& server,
                                          const std::vector<std::string>& backends) {
  ASSIGN_OR_RETURN(std::vector<HaproxyStatRow> rows, haproxy.Stat());
  ServerLoad load;
  size_t found = 0;
  for (const HaproxyStatRow& row : rows) {
    if (row.name != server || row.Get("type") != kServerType) continue;
    if (std::find(backends.begin(), backends.end(), row.proxy) == backends.end()) continue;
    ++found;
    load.sessions += row.Int("scur");
    load.queued += row.Int("qcur");
  }
  if (found != backends.size()) {
    return absl::NotFoundError(absl::StrCat("haproxy runtime API ", haproxy.socket_path(),
                                            ": server ", server, " is not in every backend of [",
                                            absl::StrJoin(backends, ","), "]"));
  }
  return load;
}

absl::StatusOr<EvacuationResult> EvacuateHost(const HaproxyRuntime& haproxy,
                                              const EvacuationOptions& options) {
  if (options.server.empty()) return absl::InvalidArgumentError("evacuation: no server name");
  if (!options.stop_host) {
    return absl::InvalidArgumentError(
        absl::StrCat("evacuation of ", options.server, ": no stop_host callback"));
  }
  const absl::Time start = absl::Now();
  EvacuationResult result;
  result.server = options.server;
  ASSIGN_OR_RETURN(result.backends, ResolveBackends(haproxy, options.server, options.backends));
  auto report = [&](absl::string_view phase, const ServerLoad& load, int64_t host_inflight) {
    if (!options.progress) return;
    options.progress({.phase = std::string(phase),
                      .server = options.server,
                      .sessions = load.sessions,
                      .queued = load.queued,
                      .host_inflight = host_inflight,
                      .elapsed = absl::Now() - start});
  };

  // 1. Drain in every backend: no new requests, established ones finish. The escrows pinned to
  // the host (the backends' stick tables) are unpinned, since HAProxy keeps sending pinned
  // requests to a drained server; they move once, to wherever the hash places them.
  std::vector<std::pair<std::string, std::string>> pins;  // backend, server id
  for (const std::string& backend : result.backends) {
    RETURN_IF_ERROR(
        haproxy.SetServerState(backend, options.server, HaproxyRuntime::AdminState::kDrain));
    ASSIGN_OR_RETURN(HaproxyServerState state, haproxy.ServerState(backend, options.server));
    auto id = state.fields.find("srv_id");
    if (id != state.fields.end() && !id->second.empty()) pins.emplace_back(backend, id->second);
  }
  // A backend without a stick table answers with an error text, which is ignored. Repeated while
  // waiting: a request matched to the host just before the clear may store its pin again.
  auto unpin = [&] {
    for (const auto& [backend, id] : pins) {
      haproxy.Command(absl::StrCat("clear table ", backend, " data.server_id eq ", id))
          .IgnoreError();
    }
  };
  unpin();
  const absl::Time drained_at = absl::Now();
  ASSIGN_OR_RETURN(ServerLoad load, ReadServerLoad(haproxy, options.server, result.backends));
  result.sessions_at_drain = load.sessions + load.queued;
  result.peak_sessions = result.sessions_at_drain;
  report("drain", load, 0);

  // 2. Wait until nothing of the host is in flight.
  const absl::Time deadline = drained_at + options.drain_timeout;
  absl::Time last_report = absl::Now();
  int64_t host_inflight = 0;
  while (true) {
    ASSIGN_OR_RETURN(load, ReadServerLoad(haproxy, options.server, result.backends));
    ++result.polls;
    result.peak_sessions = std::max(result.peak_sessions, load.sessions + load.queued);
    host_inflight = 0;
    if (load.sessions == 0 && load.queued == 0 && options.host_inflight) {
      absl::StatusOr<int64_t> n = options.host_inflight();
      if (!n.ok()) {
        return absl::Status(n.status().code(),
                            absl::StrCat("evacuation of ", options.server,
                                         ": host in-flight probe: ", n.status().message()));
      }
      host_inflight = *n;
    }
    unpin();
    if (load.sessions == 0 && load.queued == 0 && host_inflight == 0) break;
    const absl::Time now = absl::Now();
    if (now >= deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("evacuation of ", options.server, ": still in flight after ",
                       absl::FormatDuration(options.drain_timeout), " (sessions ", load.sessions,
                       ", queued ", load.queued, ", host in-flight ", host_inflight,
                       "); the host was not stopped and stays drained in [",
                       absl::StrJoin(result.backends, ","), "]"));
    }
    if (now - last_report >= absl::Seconds(1)) {
      report("waiting", load, host_inflight);
      last_report = now;
    }
    absl::SleepFor(std::min(options.poll_interval, deadline - now));
  }
  result.drain_duration = absl::Now() - drained_at;
  report("drained", load, host_inflight);

  // 3. Stop the host.
  report("stopping", load, host_inflight);
  const absl::Time stop_at = absl::Now();
  if (absl::Status s = options.stop_host(); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("evacuation of ", options.server,
                                               ": stopping the host: ", s.message()));
  }
  result.stop_duration = absl::Now() - stop_at;
  result.total = absl::Now() - start;
  report("stopped", load, host_inflight);
  return result;
}

absl::Status ReturnHost(const HaproxyRuntime& haproxy, const ReturnOptions& options) {
  if (options.server.empty()) return absl::InvalidArgumentError("return: no server name");
  ASSIGN_OR_RETURN(std::vector<std::string> backends,
                   ResolveBackends(haproxy, options.server, options.backends));
  for (const std::string& backend : backends) {
    RETURN_IF_ERROR(
        haproxy.SetServerState(backend, options.server, HaproxyRuntime::AdminState::kReady));
  }
  const absl::Time deadline = absl::Now() + options.up_timeout;
  for (const std::string& backend : backends) {
    RETURN_IF_ERROR(haproxy.WaitForServer(backend, options.server, HaproxyRuntime::kUp,
                                          std::max(deadline - absl::Now(), absl::ZeroDuration()),
                                          absl::Milliseconds(50)));
  }
  return absl::OkStatus();
}

absl::Status StopProcess(pid_t pid, absl::Duration timeout) {
  if (pid <= 0) return absl::InvalidArgumentError(absl::StrCat("stop: bad pid ", pid));
  if (kill(pid, SIGTERM) != 0) {
    const int err = errno;
    if (err == ESRCH) return absl::NotFoundError(absl::StrCat("stop: no process ", pid));
    return absl::PermissionDeniedError(absl::StrCat("stop: SIGTERM to ", pid, ": ", strerror(err)));
  }
  const absl::Time deadline = absl::Now() + timeout;
  while ((kill(pid, 0) == 0 || errno == EPERM) && !Exited(pid)) {
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(absl::StrCat("stop: process ", pid, " still running ",
                                                      absl::FormatDuration(timeout),
                                                      " after SIGTERM"));
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  return absl::OkStatus();
}

}  // namespace router
}  // namespace gonka
