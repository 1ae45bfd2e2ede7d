// Daemon: the runtime every libgonka daemon's main() is built on — configuration from flags and
// environment, structured logs, the public HTTP server with drain-aware admission, the health,
// readiness, drain-status and metrics endpoints, build info, and SIGTERM handling — so a
// daemon's main.cc is flags plus wiring.
//
//   int main(int argc, char** argv) {
//     gonka::Daemon daemon({.name = "edge-api", .default_port = 8080});
//     std::string rpc;
//     daemon.config().AddString("chain-rpc-url", &rpc, "http://127.0.0.1:26657", "CometBFT RPC");
//     if (std::optional<int> exit = daemon.Init(argc, argv)) return *exit;  // --help, bad config
//     daemon.server().Handle("GET", "/v1/status", ...);
//     daemon.drain().AddReadinessProbe("chain", [&] { return chain.Ping(); });
//     daemon.drain().AddShutdownHook("release lease", [&] { elector.Stop(); });
//     if (absl::Status s = daemon.Start(); !s.ok()) return daemon.Fail(s);
//     return daemon.Run();   // blocks until SIGTERM → drained → hooks run
//   }
//
// Endpoints, on the public port (and, with --admin-port, also on a separate admin listener that
// stays up until the very end of the drain): GET /healthz (alive), /ready and /readyz (200 while
// accepting new work; 503 with the reason once draining, before SetStarted, or while a readiness
// probe fails), /drain/status (JSON), /metrics (Prometheus text), /version. They never count as
// in-flight work and answer during the drain.
//
// Common settings (flag / environment / default):
//   --bind            GONKA_BIND            per daemon address of the public listener
//   (default_bind)
//   --port            GONKA_PORT            per daemon public HTTP port
//   --admin-port      GONKA_ADMIN_PORT      0 (none)   separate admin listener (same endpoints)
//   --shutdown-grace  GONKA_SHUTDOWN_GRACE  30s        in-flight budget after accepting stops
//   --drain-announce  GONKA_DRAIN_ANNOUNCE  5s         /ready fails this long before accepting
//   stops
//   --request-timeout GONKA_REQUEST_TIMEOUT 30s        per plain request (streams exempt)
//   --max-body-bytes  GONKA_MAX_BODY_BYTES  8388608    larger request bodies get 413
//   --handler-threads GONKA_HANDLER_THREADS 16         threads running request handlers
//   --log-level       GONKA_LOG_LEVEL       info       debug|info|warn|error
//
// Shutdown: the first SIGTERM/SIGINT starts DrainController's sequence (see drain_controller.h);
// on kAnnouncing the server answers with `Connection: close`, at kDraining it stops accepting;
// after in-flight work ends (or the grace passes) the shutdown hooks run in registration order,
// then the HTTP servers stop. A second signal forces. Run() returns 0 after a clean drain and
// kExitCut (3) when work had to be cut (grace exceeded or forced).
//
// Thread-safety: configure from main() before Start(); drain() and server() are thread-safe
// afterwards.
#ifndef GONKA_DRAIN_DAEMON_H_
#define GONKA_DRAIN_DAEMON_H_

#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gonka/base/config.h"
#include "gonka/drain/drain_controller.h"
#include "gonka/drain/signals.h"
#include "gonka/net/http_server.h"

namespace gonka {

struct DaemonOptions {
  std::string name;  // "edge-api": logs, metrics labels, --help
  int default_port = 8080;
  // Default of --bind. Daemons nothing outside the host needs to reach by default (signerd) use
  // "127.0.0.1"; a deployment that routes to them sets --bind explicitly.
  std::string default_bind = "0.0.0.0";
};

class Daemon {
 public:
  static constexpr int kExitCut = 3;
  static constexpr int kExitConfig = 2;

  // Blocks SIGTERM/SIGINT/SIGHUP for the process: construct it first in main(), before any
  // thread starts.
  explicit Daemon(DaemonOptions options);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Add daemon-specific settings here before Init().
  Config& config() { return config_; }

  // Parses flags and environment and applies the log level. Returns the exit code when main()
  // should return at once: 0 after printing --help, kExitConfig after printing the error (which
  // names the field and value) to stderr. nullopt: carry on.
  std::optional<int> Init(int argc, const char* const* argv);

  // Available after Init(). Add routes before or after Start().
  net::HttpServer& server() { return *server_; }
  DrainController& drain() { return *drain_; }

  // Binds the listeners and starts handling signals. Unavailable naming the address when a port
  // cannot be bound.
  absl::Status Start();
  // The bound public / admin port (after Start()); 0 when there is no admin listener.
  int port() const;
  int admin_port() const;

  // Blocks until the drain completes; returns the process exit code.
  int Run();

  // Logs `status` as a start-up failure and returns the exit code for it.
  int Fail(const absl::Status& status);
  // A configuration error found after Init (a file a flag names, flags that exclude each other):
  // prints "<name>: config: <message>" to stderr and returns kExitConfig.
  int ConfigError(absl::string_view message);

  // Settings, after Init().
  absl::Duration shutdown_grace() const { return shutdown_grace_; }
  absl::Duration drain_announce() const { return drain_announce_; }

 private:
  void AddEndpoints(net::HttpServer& server);

  const DaemonOptions options_;
  SignalWatcher signals_;
  Config config_;
  std::string bind_;
  int port_ = 0;
  int admin_port_ = 0;
  absl::Duration shutdown_grace_;
  absl::Duration drain_announce_;
  absl::Duration request_timeout_;
  int64_t max_body_bytes_ = 0;
  int handler_threads_ = 0;
  std::string log_level_;

  std::unique_ptr<DrainController> drain_;
  std::unique_ptr<net::HttpServer> server_;
  std::unique_ptr<net::HttpServer> admin_;
  bool started_ = false;
};

}  // namespace gonka

#endif  // GONKA_DRAIN_DAEMON_H_
