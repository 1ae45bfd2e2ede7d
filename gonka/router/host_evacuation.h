// EvacuateHost: takes one versiond host out of a sticky HAProxy router without cutting a request
// or a stream — drain it at the router, wait until nothing of it is left in flight, then stop it.
//
//   HaproxyRuntime haproxy("/run/haproxy/admin.sock");
//   EvacuationOptions options;
//   options.server = "h1";                          // the host's server name in the router
//   options.stop_host = [&] { return StopProcess(versiond_pid, absl::Minutes(26)); };
//   ASSIGN_OR_RETURN(EvacuationResult result, EvacuateHost(haproxy, options));
//   ... replace the host, start versiond again at the same address ...
//   RETURN_IF_ERROR(ReturnHost(haproxy, {.server = "h1"}));
//
// The steps (docs/router.md, "Evacuating a host behind the router"):
//   1. `set server <backend>/<server> state drain` in every backend that lists the server (one
//      per version). HAProxy stops choosing the host for new requests — its escrows move, each to
//      one other host, by the router's consistent hash — and lets what it already sent finish.
//   2. Poll `show stat` until the server's current sessions (scur: requests being answered and
//      SSE streams) and queued requests (qcur) are 0 in every one of those backends, and the
//      optional `host_inflight` probe (the host's own count) is 0 too. DeadlineExceeded after
//      `drain_timeout`: the host is NOT stopped and stays drained (the message names the server
//      and what was still in flight), so the operator decides.
//   3. `stop_host()` (e.g. SIGTERM to the host's versiond and wait for its exit: versiond then
//      drains its own children). Its error is returned as is, prefixed with the server.
// The server is left in drain: a replacement at the same address takes no traffic until
// ReturnHost sets it ready and HAProxy's checks show it UP.
//
// Errors: InvalidArgument (no server name, no stop_host), NotFound (no backend lists the
// server), the runtime API's errors (Unavailable, DeadlineExceeded for an unanswered command),
// DeadlineExceeded (still in flight at drain_timeout), and stop_host's error.
//
// Thread-safety: EvacuateHost and ReturnHost are safe to call from any thread; evacuating two
// hosts at once is allowed (they touch different servers) but leaves the others more load.
#ifndef GONKA_ROUTER_HOST_EVACUATION_H_
#define GONKA_ROUTER_HOST_EVACUATION_H_

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gonka/drain/haproxy_runtime.h"

namespace gonka {
namespace router {

// What EvacuateHost reports while it works ("drain", "waiting", "drained", "stopping",
// "stopped"), for progress lines and logs.
struct EvacuationProgress {
  std::string phase;
  std::string server;
  int64_t sessions = 0;       // scur summed over the backends
  int64_t queued = 0;         // qcur summed over the backends
  int64_t host_inflight = 0;  // the host_inflight probe's last answer (0 without a probe)
  absl::Duration elapsed;     // since EvacuateHost began
};

struct EvacuationOptions {
  // The host's server name in the router (the same in every version backend).
  std::string server;
  // Backends to drain it in; empty = every backend of the router that lists `server`.
  std::vector<std::string> backends;
  // How long sessions may take to finish (Gonka's host shutdown budget is 25 min; SSE streams
  // decide this in practice).
  absl::Duration drain_timeout = absl::Minutes(25);
  absl::Duration poll_interval = absl::Milliseconds(100);
  // Optional: the host's own in-flight count (e.g. versiond's leases), which must be 0 as well.
  std::function<absl::StatusOr<int64_t>()> host_inflight;
  // Stops the host once drained. Required.
  std::function<absl::Status()> stop_host;
  // Optional: called at each phase change and at most once a second while waiting.
  std::function<void(const EvacuationProgress&)> progress;
};

// Metrics-friendly figures of one evacuation.
struct EvacuationResult {
  std::string server;
  std::vector<std::string> backends;  // where it was drained
  int64_t sessions_at_drain = 0;      // scur + qcur right after the drain was set
  int64_t peak_sessions = 0;          // largest scur + qcur seen while waiting
  int64_t polls = 0;                  // show stat reads while waiting
  absl::Duration drain_duration;      // drain set → nothing in flight
  absl::Duration stop_duration;       // stop_host() call → its return
  absl::Duration total;
};

absl::StatusOr<EvacuationResult> EvacuateHost(const HaproxyRuntime& haproxy,
                                              const EvacuationOptions& options);

struct ReturnOptions {
  std::string server;
  std::vector<std::string> backends;  // empty = every backend that lists `server`
  // HAProxy must show the server UP in every backend within this time (its checks pass `rise`
  // times in a row: versiond's /readyz?version= must answer 200 for each version).
  absl::Duration up_timeout = absl::Minutes(2);
};

// `set server <backend>/<server> state ready` in every backend, then waits until HAProxy shows
// the server UP in each. NotFound if no backend lists it; DeadlineExceeded naming the backend
// whose checks did not pass.
absl::Status ReturnHost(const HaproxyRuntime& haproxy, const ReturnOptions& options);

// The backends of the router that list `server` ("show servers state"). NotFound if none.
absl::StatusOr<std::vector<std::string>> BackendsWithServer(const HaproxyRuntime& haproxy,
                                                            const std::string& server);

// Current sessions and queued requests of `server`, summed over `backends` ("show stat").
struct ServerLoad {
  int64_t sessions = 0;
  int64_t queued = 0;
};
absl::StatusOr<ServerLoad> ReadServerLoad(const HaproxyRuntime& haproxy, const std::string& server,
                                          const std::vector<std::string>& backends);

// A stop_host for a host process that is not a child of the caller (an operator command):
// SIGTERM to `pid`, then waits until the process has exited (gone, or a zombie its parent has
// not reaped yet: it holds no port any more). DeadlineExceeded after `timeout` (no
// SIGKILL: versiond's own budget decides, and a second signal would force it), NotFound if no
// such process exists when called.
absl::Status StopProcess(pid_t pid, absl::Duration timeout);

}  // namespace router
}  // namespace gonka

#endif  // GONKA_ROUTER_HOST_EVACUATION_H_
