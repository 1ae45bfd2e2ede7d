// VersionHost: the whole of versiond as a library — it polls the version oracle, installs each
// listed binary by sha256, runs one child per version through a Supervisor (blue/green on a new
// port when a version's binary changes), serves the proxy, /healthz, /readyz and /metrics on an
// HttpServer, and evacuates the host on request (docs/versiond.md).
//
//   net::HttpServer server({.name = "versiond", .port = 8080});
//   VersionHost host({.oracle_url = url, .data_dir = "/opt/versiond/data", ...});
//   RETURN_IF_ERROR(host.Init(&server));  // kills children a killed versiond left behind
//   RETURN_IF_ERROR(server.Start());
//   host.Start();                         // reconcile now, then every poll_interval
//   ... first SIGTERM: host.Evacuate();  second signal (another thread): host.Force();
//
// Contract:
// - Reconcile (ReconcileOnce, and the loop): fetch and parse the oracle (an error keeps every
//   child as it is); for each listed version whose current child does not run the listed
//   sha256: install (BinaryInstaller — a sha256 mismatch is refused and counted, the old child
//   keeps serving) and Supervisor::Deploy (blue/green or exclusive per the storage probe; a
//   child that never gets ready or crashes at start never takes the route). A version no longer
//   listed is removed (404 at once, its child drains in the background). A failed version is
//   tried again on the next poll. `/readyz` latches 200 once every listed version has been
//   reconciled at least once.
// - Pins: the desired versions are the oracle's plus every forced one; a version with an
//   override runs the override's file (hashed each pass and installed like a download; its
//   sha256 shows as `override:<sha256>`, and a changed file is deployed like a new binary). A
//   failing override (the file unreadable) counts as an install failure {reason="local"} and
//   keeps the current child.
// - Evacuate(): announcing (/readyz 503, requests still served, `Connection: close` on every
//   response) for `announce` → draining (the listener closes, the reconcile loop stops, every
//   child retires: held leases end, POST /drain, inflight 0, SIGTERM, grace, SIGKILL, reap) →
//   stopping (remaining client connections end) → stopped, all by `host_budget` after the call.
//   Returns true when nothing had to be cut. Force() (a second signal) ends the announce at once
//   and kills the children now. Both idempotent.
// - Children die with this process (PR_SET_PDEATHSIG), and are recorded under
//   `<data_dir>/.versiond-children/`; Init() SIGKILLs any recorded child that still runs, so a
//   versiond restarted after kill -9 finds every port free.
// - Metrics (process-wide registry, served at /metrics): versiond_children{state},
//   versiond_leases_in_flight, versiond_swaps_total, versiond_deploys_total{result},
//   versiond_install_failures_total{reason}, versiond_oracle_polls_total{result},
//   versiond_proxied_requests_total{code}, versiond_forward_retries_total,
//   versiond_host_state{state}.
//
// Thread-safety: Init/Start from one thread; everything else is thread-safe.
#ifndef GONKA_SUPERVISOR_VERSION_HOST_H_
#define GONKA_SUPERVISOR_VERSION_HOST_H_

#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gonka/supervisor/oracle.h"
#include "gonka/supervisor/supervisor.h"
#include "gonka/supervisor/version_proxy.h"

namespace gonka {
namespace net {
class HttpClient;
class HttpServer;
}  // namespace net

namespace supervisor {

struct VersionHostOptions {
  std::string oracle_url;  // required
  absl::Duration poll_interval = absl::Seconds(30);
  absl::Duration oracle_timeout = absl::Seconds(10);
  std::string data_dir = "/opt/versiond/data";  // children get <data_dir>/<version>
  InstallerOptions installer;
  // first_port, paths, timeouts, admin_address_env ...; pid_dir is set by VersionHost.
  SupervisorOptions supervisor;
  absl::Duration announce = absl::Seconds(5);
  absl::Duration host_budget = absl::Minutes(25);
  // The operator's overrides and forced versions (ParseVersionPins).
  VersionPins pins;
  // Plain forwards run on the server's event loop (the child's answer completes on the client
  // connection's executor). False: on the supervisor's client thread, answers handed back
  // to the server's (one cross-thread wake-up per request; kept for comparison).
  bool forward_on_server_loop = true;
};

enum class HostState { kServing, kAnnouncing, kDraining, kStopping, kStopped };
absl::string_view HostStateName(HostState state);

class VersionHost {
 public:
  explicit VersionHost(VersionHostOptions options);
  ~VersionHost();
  VersionHost(const VersionHost&) = delete;
  VersionHost& operator=(const VersionHost&) = delete;

  // Kills children a previous versiond left (see above) and adds the routes to `server` (not
  // started yet). InvalidArgument for an empty oracle URL; the sweep's error otherwise.
  absl::Status Init(net::HttpServer* server);
  // Starts the reconcile loop: one reconcile at once, then one per poll_interval. Call it once
  // Init's server runs: forwards run on that server's event loop, and a new child's warm-up
  // connections are made there. The server must outlive this VersionHost.
  void Start();
  // One reconcile pass. OK when every listed version runs its listed sha256; else the first
  // error (the oracle's, an install's or a deploy's, naming the version).
  absl::Status ReconcileOnce();

  bool Evacuate();
  void Force();
  HostState state() const;
  Supervisor& supervisor() { return *supervisor_; }

 private:
  void Loop();
  void SetState(HostState state);
  void RefreshGauges();

  const VersionHostOptions options_;
  std::unique_ptr<Supervisor> supervisor_;
  std::unique_ptr<VersionProxy> proxy_;
  std::unique_ptr<BinaryInstaller> installer_;
  std::unique_ptr<net::HttpClient> http_;
  net::HttpServer* server_ = nullptr;
  std::thread loop_;
  struct Metrics;
  std::unique_ptr<Metrics> metrics_;

  absl::Mutex reconcile_mu_;  // one pass at a time
  std::vector<std::string> reconciled_once_ ABSL_GUARDED_BY(reconcile_mu_);

  mutable absl::Mutex mu_;
  HostState state_ ABSL_GUARDED_BY(mu_) = HostState::kServing;
  bool stop_loop_ ABSL_GUARDED_BY(mu_) = false;
  bool loop_done_ ABSL_GUARDED_BY(mu_) = false;
  bool forced_ ABSL_GUARDED_BY(mu_) = false;
  bool evacuating_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace supervisor
}  // namespace gonka

#endif  // GONKA_SUPERVISOR_VERSION_HOST_H_
