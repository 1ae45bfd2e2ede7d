// Supervisor: runs one child process per version name under Gonka's child contract, routes
// requests to the current child of each version through a route table that is swapped
// atomically, and replaces a child blue/green: the new one starts on a new port, takes the route
// once ready, and the old one finishes every request it holds, drains, and is reaped.
//
//   Supervisor sup({.first_port = 5000, .admin_address_env = "DEVSHARD_ADMIN_ADDR"});
//   RETURN_IF_ERROR(sup.Deploy({.version = "v0.2.11", .binary = bin, .data_dir = dir}));
//   server.Handle("GET", "/v0.2.11/*", [&](const net::HttpRequest& r) {
//     return sup.Forward("v0.2.11", r, r.target.substr(8));   // lease held until the body is in
//   });
//   RETURN_IF_ERROR(sup.Deploy({.version = "v0.2.11", .binary = new_bin, .data_dir = dir}));
//   sup.Shutdown(absl::Now() + absl::Minutes(25));
//
// Contract:
// - The child contract (Gonka's devshardd under versiond): the binary is started as
//   `<binary> --port N --data-dir <dir> <args...>`; it serves its public API and `GET /healthz`
//   on N, and its admin API (`GET /ready`, `POST /drain`, `GET /drain/status` answering
//   `{"inflight": n, ...}`) on N too, or, when `admin_address_env` is set, on the loopback
//   address given in that environment variable (`127.0.0.1:<second port>`). Paths are options.
// - Generation states: preparing → starting → running → retiring → draining → stopping →
//   stopped; a child that fails readiness or exits on its own is `failed`; a running child that
//   exits on its own is restarted (failed → starting) on a new port when `restart_on_exit`.
//   GenerationInfo::done becomes true only once the process has been reaped (waitpid).
// - Deploy(spec) when the version already runs: overlap (blue/green) only when both the old
//   and the new binary print exactly `postgres` for `--print-storage-mode` (OverlapPolicy::kProbe)
//   — two children on one SQLite store would corrupt it; otherwise exclusive: the old child is
//   retired and reaped first, then the new one starts (requests wait up to `acquire_wait`).
//   A child that exits before it is ready is spawned again on a fresh port, up to
//   `start_attempts` times in all. In overlap mode a new child that is not ready (admin ready → 200
//   and /healthz → 2xx) within `ready_timeout` (up to `ready_max_wait` while it says it is still
//   starting), or exits, or (warm cutover) does not report `recovery_complete` within
//   `recovery_timeout`, is stopped and marked failed, and the old child keeps the route.
// - Route leases: Acquire() returns a lease on the version's current running child; the lease
//   pins that child until it is released. The route swap is one step under the supervisor's
//   lock, so after it no new lease goes to the old child. Retiring waits until the old child's
//   leases are 0 (or `drain_timeout`), then `POST /drain`, polls `/drain/status` until inflight
//   is 0 (or `drain_timeout`; a child answering 404 there is taken as drained), then SIGTERM,
//   `kill_grace`, SIGKILL, reap, and the port is free again.
// - Readiness of running children (Gonka's readiness monitor): each version's running child is
//   asked admin ready about once a second; ServesVersion() says whether its latest answer was
//   ready (what versiond's `/readyz?version=` answers). A child that is not ready keeps its route.
// - Forward()/ForwardStream() hold a lease until the child's response has ended — for a stream
//   (Server-Sent Events) until the child closes it or the client goes. A forwarded request that
//   lands on a child already retired by the time it is sent (connection refused, or 503 from
//   the draining child) is retried on the version's new child; a non-idempotent request is
//   retried only after a 503 (the child refused it, so it did not run).
// - Errors name the version and binary: Deploy → FailedPrecondition after Shutdown,
//   InvalidArgument for an empty version/binary, ResourceExhausted when no port is free in
//   [first_port, last_port], Unavailable when the child fails to spawn or to become ready
//   (the reason and the child's exit status in the message), DeadlineExceeded for a storage
//   probe that hangs or a new child not recovered within `recovery_timeout` (warm cutover). Acquire
//   → NotFound for an unknown version, Unavailable when no child of it is running by the deadline.
// - Time is the real clock: every wait is on a real process (no FakeClock).
//
// Thread-safety: all methods are thread-safe. Deploy/Remove calls are serialised. A RouteLease
// must not outlive its Supervisor. The destructor calls Shutdown(absl::Now()) — children are
// SIGKILLed and reaped.
#ifndef GONKA_SUPERVISOR_SUPERVISOR_H_
#define GONKA_SUPERVISOR_SUPERVISOR_H_

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gonka/net/http_message.h"
#include "gonka/net/http_server.h"

namespace gonka {
namespace net {
class AsyncHttpClient;
class HttpClient;
}  // namespace net

namespace supervisor {

enum class GenerationState {
  kPreparing,  // storage probe, port chosen
  kStarting,   // spawned, waiting for readiness
  kRunning,    // takes leases (when it is the route's target)
  kRetiring,   // off the route; waiting for its leases to end
  kDraining,   // POST /drain sent; waiting for /drain/status inflight == 0
  kStopping,   // SIGTERM sent; SIGKILL after kill_grace
  kStopped,    // reaped (terminal)
  kFailed,     // not ready in time or exited on its own (→ starting when restarted)
};
absl::string_view GenerationStateName(GenerationState state);

// Gonka's nextReadyWindow: the ready window of a restarted child's next start after a wait that
// ended on "still starting" — doubled, at most `max_wait` (also when `window` is already above it
// or doubling would overflow).
absl::Duration NextReadyWindow(absl::Duration window, absl::Duration max_wait);

// The start-up sweep for a supervisor that died without reaping its children (kill -9, OOM):
// every child recorded in `pid_dir` (SupervisorOptions::pid_dir) that still runs — the same
// process, checked by its start time, so a reused pid is left alone — is SIGKILLed together
// with its process group, and waited for (up to `wait`) until it is gone. Records are removed.
// Returns how many were killed; Internal when `pid_dir` cannot be read (a missing directory is
// 0), DeadlineExceeded naming the pids still running after `wait`.
absl::StatusOr<int> KillRecordedChildren(const std::string& pid_dir,
                                         absl::Duration wait = absl::Seconds(10));

enum class OverlapPolicy {
  kProbe,   // run `<binary> --print-storage-mode`; overlap only when both print `postgres`
  kAlways,  // overlap without probing (binaries known to share external storage)
  kNever,   // always exclusive stop → start
};

struct ChildSpec {
  std::string version;            // route name, e.g. "v0.2.11"
  std::string binary;             // absolute path of the executable
  std::string data_dir;           // passed as --data-dir (created if missing)
  std::string sha256;             // reported in GenerationInfo only
  std::vector<std::string> args;  // after --port/--data-dir
  std::vector<std::pair<std::string, std::string>> env;  // added to the supervisor's own
};

struct SupervisorOptions {
  // Child ports are taken from this range, skipping ports bound by anything (a test bind on
  // 127.0.0.1) and `reserved_ports`. first_port = 0: ask the kernel for free ports instead.
  int first_port = 5000;
  int last_port = 65535;
  std::vector<int> reserved_ports;
  // Empty: admin endpoints on the public port. Else the child gets NAME=127.0.0.1:<port> and
  // serves its admin endpoints there (Gonka: DEVSHARD_ADMIN_ADDR).
  std::string admin_address_env;
  std::string ready_path = "/ready";                // admin
  std::string healthz_path = "/healthz";            // public
  std::string drain_path = "/drain";                // admin, POST
  std::string drain_status_path = "/drain/status";  // admin
  absl::Duration ready_timeout = absl::Seconds(60);
  // Gonka's VERSIOND_READY_MAX_WAIT: past `ready_timeout` the wait goes on, up to this (taken as
  // `ready_timeout` when shorter), while the child says it is still starting — admin ready
  // answers 503 with a JSON body that is not draining and has `"ready": false` or
  // `"storage_ready": false`, or the ready path is absent (404/405/501), or admin ready is 200
  // but the public /healthz not yet 2xx. A child that is unreachable, draining, or answers
  // anything else fails at `ready_timeout`.
  absl::Duration ready_max_wait = absl::Minutes(32);
  absl::Duration ready_poll_interval = absl::Milliseconds(100);
  // Gonka's warm cutover (VERSIOND_RECOVERY_TIMEOUT): in an overlap swap only, once the new child
  // is ready the route swap waits until its admin ready answers 200 with
  // `"recovery_complete": true`, polling every `recovery_poll_interval`. A body without the
  // field (or not JSON) swaps at once (cold cutover); so does an old child that stopped running
  // meanwhile. Past `recovery_timeout` the new child is stopped and marked failed, Deploy returns
  // DeadlineExceeded, and the old child keeps the route. Zero: no wait.
  absl::Duration recovery_timeout = absl::Minutes(30);
  absl::Duration recovery_poll_interval = absl::Seconds(1);
  // Gonka's child preflight, once per Deploy: `<binary> --print-binary-version` (its output is
  // GenerationInfo::binary_version and the child's DEVSHARD_BINARY_LOG_VERSION; a binary that
  // rejects the flag as unknown gets the version name), `--print-protocol-version` (a binary
  // that prints anything but the version name is refused: FailedPrecondition "binary protocol
  // mismatch"; one that rejects the flag is trusted) and, with `admin_address_env` set,
  // `<binary> --print-admin-api-version` (supported: the child gets its admin address; rejected
  // as an unknown flag: a legacy child, admin endpoints on its public port). Any other failure
  // of either probe fails the Deploy (Unavailable / DeadlineExceeded naming the binary).
  bool probe_versions = false;
  // Gonka's HA routing (GONKA_HA / VERSIOND_NON_HA_VERSIONS), with `probe_versions` and
  // `admin_address_env` set (Gonka: devshard binaries): a version is HA-routed when
  // `ha_deployment` is true and it is not in `non_ha_versions`. Its binary must print exactly
  // `postgres` for `--print-storage-mode` (a binary without the flag, or with another mode, is
  // refused: FailedPrecondition "HA-routed version ... requires storage mode postgres"), and every
  // child is given GONKA_HA=true or false (HA-routed or not), replacing an inherited value.
  bool ha_deployment = false;
  std::vector<std::string> non_ha_versions;
  // Spawns per start when the child exits before it is ready (each on a fresh port: another
  // process may have bound the chosen one first). A child that stays unready is not retried.
  int start_attempts = 3;
  // Each of: waiting for the retired child's leases, then for its inflight count.
  absl::Duration drain_timeout = absl::Minutes(15);
  absl::Duration drain_poll_interval = absl::Seconds(1);
  absl::Duration kill_grace = absl::Minutes(10);
  OverlapPolicy overlap = OverlapPolicy::kProbe;
  absl::Duration probe_timeout = absl::Seconds(10);
  // How long Acquire/Forward wait for a version whose child is (re)starting.
  absl::Duration acquire_wait = absl::Seconds(5);
  // A running child that exits is started again after `restart_backoff`; a restart that does not
  // get ready is retried after a backoff that doubles up to 60 s, for as long as the child has
  // the route (Gonka's runChild). A retry after a wait that ended on "still starting" gets a
  // longer first bound (NextReadyWindow of the last, starting from `ready_timeout`); a child that
  // gets running is back on `ready_timeout`.
  bool restart_on_exit = true;
  absl::Duration restart_backoff = absl::Seconds(1);
  // How often running children are checked for an exit of their own.
  absl::Duration monitor_interval = absl::Milliseconds(100);
  // Gonka's readiness monitor (versioned/internal/process/manager.go, watchChildReadiness): every
  // `readiness_interval` each version's running child is asked admin ready (200) and, with an
  // admin listener of its own, public /healthz (2xx), each call bounded by `readiness_timeout`;
  // `readiness_failures` failed probes in a row make the child not serving (Gonka: 1, no
  // hysteresis), one answered probe makes it serving again. A child becomes serving when it turns
  // running. An answer older than `readiness_stale` counts as not serving (a monitor that stopped
  // must not freeze "ready"). ServesVersion() reads the result. Zero interval: no monitor, a
  // running child always serves.
  absl::Duration readiness_interval = absl::Seconds(1);
  absl::Duration readiness_timeout = absl::Seconds(2);
  int readiness_failures = 1;
  absl::Duration readiness_stale = absl::Seconds(5);
  // Children get PR_SET_PDEATHSIG = SIGKILL: when the supervising process dies, even by
  // SIGKILL, the kernel kills them, so none keeps serving (or holding a port) as an orphan.
  bool die_with_supervisor = true;
  // Non-empty: every running child is recorded as a file `<pid_dir>/<pid>` (its start time and
  // binary) until it is reaped, for KillRecordedChildren() at the next start. The directory is
  // created if missing.
  std::string pid_dir;
  // Keep-alive connections opened to a new child once it is ready, before the route swap (each
  // by a GET of healthz_path), so requests right after the swap find them pooled.
  int warm_connections = 8;
  // A retired child whose leases have all ended is reniced to this (0 = left alone) before
  // POST /drain, so its drain and exit compete less for the CPU with the current child.
  int retiring_nice = 10;
  // A new child starts at this nice value (0 = not) and is set back to the supervisor's own
  // once it is ready and its connections are warmed, just before it takes the route: its start
  // (loading, first requests on cold code) then competes less for the CPU with the requests
  // being served. Only where the supervisor may set the value back (CAP_SYS_NICE or RLIMIT_NICE,
  // probed once; most containers have neither), else the child starts at the supervisor's.
  // Both nice values apply to the child's whole process group, every thread.
  int starting_nice = 10;
  // Per forwarded plain request (a stream has no overall deadline).
  absl::Duration forward_timeout = absl::Seconds(60);
  // A forwarded stream fails when the child sends nothing for this long.
  absl::Duration stream_idle_timeout = absl::Minutes(10);
};

// A snapshot of one generation.
struct GenerationInfo {
  uint64_t id = 0;  // increasing per supervisor
  std::string version;
  std::string binary;
  std::string sha256;
  std::string storage_mode;  // the probe's answer, "" when not probed
  // `--print-binary-version` (or the version name when the binary does not know the flag); ""
  // when not probed (SupervisorOptions::probe_versions).
  std::string binary_version;
  bool admin_api = true;  // false: a legacy child, admin endpoints on its public port
  GenerationState state = GenerationState::kPreparing;
  bool current = false;  // the route's target
  bool done = false;     // reaped
  int port = 0;
  int admin_port = 0;
  pid_t pid = 0;
  int leases = 0;
  int restarts = 0;
  int exit_status = -1;  // waitpid status once reaped
  std::string last_error;
  // The readiness monitor's latest answer for a running child (SupervisorOptions::readiness_*);
  // false in every other state.
  bool serving = false;
};

struct SupervisorStats {
  uint64_t leases_granted = 0;
  uint64_t forward_retries = 0;  // requests retried on a newer child
  uint64_t forward_errors = 0;   // answered 502/503 by the supervisor itself
  uint64_t readiness_lost = 0;   // running children the readiness monitor found not ready
  uint64_t readiness_regained = 0;
};

class Supervisor;

namespace internal {
struct Generation;
}  // namespace internal

// Pins one child generation until released (RAII, move-only).
class RouteLease {
 public:
  RouteLease(RouteLease&& other) noexcept;
  RouteLease& operator=(RouteLease&& other) noexcept;
  RouteLease(const RouteLease&) = delete;
  RouteLease& operator=(const RouteLease&) = delete;
  ~RouteLease() { Release(); }

  // "http://127.0.0.1:<port>" of the pinned child.
  std::string base_url() const;
  int port() const { return port_; }
  uint64_t generation() const { return generation_; }
  // Idempotent.
  void Release();

 private:
  friend class Supervisor;
  RouteLease(Supervisor* owner, std::shared_ptr<internal::Generation> gen, int port, uint64_t id)
      : owner_(owner), gen_(std::move(gen)), port_(port), generation_(id) {}
  Supervisor* owner_ = nullptr;
  std::shared_ptr<internal::Generation> gen_;
  int port_ = 0;
  uint64_t generation_ = 0;
};

class Supervisor {
 public:
  explicit Supervisor(SupervisorOptions options = {});
  ~Supervisor();
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  // Starts `spec` as the version's new child and routes to it once ready; the previous child
  // retires in the background (overlap) or before the start (exclusive). Blocks until the new
  // child runs or has failed. Errors: see the header comment.
  absl::Status Deploy(const ChildSpec& spec);
  // Takes the version off the route table (requests get NotFound/404 at once); its child
  // retires in the background. NotFound for an unknown version.
  absl::Status Remove(absl::string_view version);

  // A lease on the version's running child, waiting up to `deadline` while it (re)starts.
  absl::StatusOr<RouteLease> Acquire(absl::string_view version, absl::Time deadline);

  // Forwards `request` (method, headers, body) to `target` ("/path?query") on the version's
  // child and returns its response; the supervisor's own answers: 404 unknown version, 503 no
  // running child, 502 child unreachable. Hop-by-hop headers are not forwarded.
  net::HttpResponse Forward(absl::string_view version, const net::HttpRequest& request,
                            absl::string_view target);
  // Forward() without blocking: the request goes to the child over a pooled keep-alive
  // connection and `done` gets the answer (the same answers and retries as Forward) on the
  // supervisor's client I/O thread — or, given `executor` (the HttpServer Responder's
  // executor(); it must stay valid until `done` has run), on that executor, the child's socket
  // then living on the server's event loop (no cross-thread hand-off); it must not block. The lease
  // is held until the child's response is in. Returns false, and calls nothing, when the version is
  // known but has no running child at this moment (it is starting): the caller then uses the
  // blocking Forward, which waits up to `acquire_wait`. An unknown version gets 404 through `done`.
  bool ForwardAsync(absl::string_view version, const net::HttpRequest& request,
                    absl::string_view target, std::function<void(net::HttpResponse)> done,
                    const net::IoExecutor* executor = nullptr);
  // The event loop ForwardAsync calls run on (HttpServer::io_executor() of a running server
  // that outlives this Supervisor): the pool of a new child's warm-up connections is that
  // loop's. nullptr (the default): the client's own pool.
  void SetForwardLoop(const net::IoExecutor* loop) { forward_loop_.store(loop); }
  // GET `target` on the child and copy the body to `out` as it arrives (SSE), holding the lease
  // until the child ends the stream or `out` is closed. A 2xx answer's status and headers
  // (hop-by-hop ones aside; a header the child repeats arrives once, with its last value) are
  // set on `out` before the first piece. Blocks until then; closes `out`.
  void ForwardStream(absl::string_view version, const net::HttpRequest& request,
                     absl::string_view target, std::shared_ptr<net::ResponseStream> out);

  std::vector<GenerationInfo> Generations() const;
  std::vector<std::string> Versions() const;
  // Whether the version can be served right now (Gonka's ServesVersion, behind
  // `/readyz?version=`): it has a route, its child is running, and the readiness monitor's latest
  // answer (not older than `readiness_stale`) says serving. A pure read: no probe is made.
  bool ServesVersion(absl::string_view version) const;
  SupervisorStats stats() const;
  // True once every generation that is not a route's target is done (reaped).
  bool WaitRetired(absl::Time deadline) const;

  // Retires every child (leases, drain, SIGTERM, grace, SIGKILL, reap); at `deadline` whatever
  // still runs is SIGKILLed and reaped. Deploy fails afterwards. Idempotent.
  void Shutdown(absl::Time deadline);

 private:
  friend class RouteLease;
  using GenPtr = std::shared_ptr<internal::Generation>;

  void ReleaseLease(internal::Generation* gen);
  absl::StatusOr<std::string> ProbeStorageMode(const ChildSpec& spec);
  absl::StatusOr<int> PickPortLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Spawns `gen` and waits for readiness: running on success, failed (stopped, reaped) if not.
  absl::Status StartGeneration(const GenPtr& gen);
  absl::Status StartOnce(const GenPtr& gen);
  absl::Status WaitReady(const GenPtr& gen);
  // The warm-cutover wait (recovery_timeout) of `gen` before it replaces `old`.
  absl::Status WaitRecovery(const GenPtr& gen, const GenPtr& old);
  // --print-binary-version / --print-admin-api-version into `gen` (probe_versions).
  absl::Status Preflight(const GenPtr& gen);
  void WarmConnections(int port);
  // The whole retirement of `gen`, blocking until it is reaped.
  void Retire(const GenPtr& gen);
  // SIGTERM, grace, SIGKILL, reap.
  void StopProcess(const GenPtr& gen, absl::Duration grace);
  // Polls waitpid once; records the exit. Returns true when the process is gone.
  bool ReapLocked(internal::Generation* gen) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RecordPid(pid_t pid, const std::string& binary) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SetStateLocked(internal::Generation* gen, GenerationState state)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RetireInBackground(GenPtr gen) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void MonitorLoop();
  // The readiness monitor (readiness_interval): probes each running routed child.
  void ReadinessLoop();
  bool ProbeServing(int port, int admin_port);
  void Restart(GenPtr gen);
  // Sleeps up to `d`; returns early (true) when Shutdown forces.
  bool SleepOrForced(absl::Duration d);

  const SupervisorOptions options_;
  std::unique_ptr<net::HttpClient> http_;
  struct AsyncForward;
  // Sends `call` over the lease (or answers the lease's error: 404 unknown, 503 none running).
  void ForwardAttempt(std::shared_ptr<AsyncForward> call, absl::StatusOr<RouteLease> lease);
  absl::Mutex deploy_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  mutable absl::Mutex mu_;
  std::vector<std::pair<std::string, GenPtr>> routes_ ABSL_GUARDED_BY(mu_);
  std::vector<GenPtr> generations_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> workers_ ABSL_GUARDED_BY(mu_);
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  bool forced_ ABSL_GUARDED_BY(mu_) = false;
  SupervisorStats stats_ ABSL_GUARDED_BY(mu_);
  std::thread monitor_;
  std::thread readiness_;
  std::atomic<const net::IoExecutor*> forward_loop_{nullptr};
  // Forwards (ForwardAsync). Declared last: destroyed (its I/O thread joined, calls still
  // running cancelled) before anything its callbacks use.
  std::unique_ptr<net::AsyncHttpClient> async_;
};

}  // namespace supervisor
}  // namespace gonka

#endif  // GONKA_SUPERVISOR_SUPERVISOR_H_
