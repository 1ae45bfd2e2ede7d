// versiond: runs one child per version listed by the version oracle, swaps a version's binary
// blue/green when the oracle changes it, reverse-proxies `/<version>/...` to the current child,
// and evacuates the host on SIGTERM. Flags and wiring only: the logic is
// gonka::supervisor::VersionHost (docs/versiond.md).
//
// Settings use Gonka's VERSIOND_* environment names and defaults; every duration is checked at
// start (malformed or non-positive → exit 2 naming the variable), and so are Gonka's
// cross-checks of the host drain settings.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gonka/base/config.h"
#include "gonka/base/log.h"
#include "gonka/drain/signals.h"
#include "gonka/net/http_server.h"
#include "gonka/supervisor/oracle.h"
#include "gonka/supervisor/version_host.h"
#include "gonka/supervisor/version_proxy.h"

int main(int argc, char** argv) {
  gonka::SignalWatcher signals;  // first: block the signals before any thread starts

  gonka::Config config("versiond");
  int port = 8080, first_child_port = 5000, starting_nice = 10;
  bool on_loop = true;
  std::string bind, oracle_url, bin_dir, data_dir, binary_name, ready_path, drain_path, status_path,
      admin_env;
  absl::Duration poll_interval, ready_timeout, ready_max_wait, recovery_timeout, drain_timeout,
      drain_poll, kill_grace, shutdown_grace, budget, announce;
  // Gonka: :8080 on every interface. Here loopback by default; behind a router: VERSIOND_BIND.
  config.AddString("bind", &bind, "127.0.0.1", "address of the proxy listener")
      .Env("VERSIOND_BIND");
  config.AddPort("port", &port, 8080, "port of the proxy listener").Env("VERSIOND_PORT");
  config
      .AddString("oracle-url", &oracle_url, "",
                 "version oracle: http(s):// URL (or file:// for a local document)")
      .Env("VERSIOND_ORACLE_URL")
      .Required()
      .Check([](absl::string_view v) -> std::string {
        if (absl::StartsWith(v, "http://") || absl::StartsWith(v, "https://") ||
            absl::StartsWith(v, "file:///")) {
          return "";
        }
        return "want an http://, https:// or file:/// URL";
      });
  config.AddString("bin-dir", &bin_dir, "/opt/versiond/bin", "installed binaries")
      .Env("VERSIOND_BIN_DIR");
  config.AddString("data-dir", &data_dir, "/opt/versiond/data", "children's data dirs")
      .Env("VERSIOND_DATA_DIR");
  config.AddString("binary-name", &binary_name, "devshard", "file name of installed binaries")
      .Env("VERSIOND_BINARY_NAME");
  config.AddString("ready-path", &ready_path, "/ready", "child admin readiness path")
      .Env("VERSIOND_READY_PATH");
  config.AddString("drain-path", &drain_path, "/drain", "child admin drain path (POST)")
      .Env("VERSIOND_DRAIN_PATH");
  config.AddString("drain-status-path", &status_path, "/drain/status", "child drain status")
      .Env("VERSIOND_DRAIN_STATUS_PATH");
  config.AddPort("first-child-port", &first_child_port, 5000, "children's ports from here up")
      .Env("");
  config.AddBool("forward-on-server-loop", &on_loop, true, "false: a client thread").Env("");
  config.AddInt("starting-nice", &starting_nice, 10, "new child's nice").Range(0, 19).Env("");
  config
      .AddString("admin-address-env", &admin_env, "DEVSHARD_ADMIN_ADDR",
                 "variable giving each child its loopback admin address (\"\" = admin on the "
                 "public port)")
      .Env("");
  config.AddDuration("poll-interval", &poll_interval, absl::Seconds(30), "oracle poll interval")
      .Env("VERSIOND_POLL_INTERVAL")
      .Positive();
  config.AddDuration("ready-timeout", &ready_timeout, absl::Seconds(60), "new child readiness")
      .Env("VERSIOND_READY_TIMEOUT")
      .Positive();
  config
      .AddDuration("ready-max-wait", &ready_max_wait, absl::Minutes(32),
                   "readiness wait while the child says it is still starting")
      .Env("VERSIOND_READY_MAX_WAIT")
      .Positive();
  config
      .AddDuration("recovery-timeout", &recovery_timeout, absl::Minutes(30),
                   "warm cutover: wait for recovery_complete before a swap")
      .Env("VERSIOND_RECOVERY_TIMEOUT")
      .Positive();
  config.AddDuration("drain-timeout", &drain_timeout, absl::Minutes(15), "lease/inflight wait")
      .Env("VERSIOND_DRAIN_TIMEOUT")
      .Positive();
  config.AddDuration("drain-poll-interval", &drain_poll, absl::Seconds(1), "drain status poll")
      .Env("VERSIOND_DRAIN_POLL_INTERVAL")
      .Positive();
  config.AddDuration("drain-kill-grace", &kill_grace, absl::Minutes(10), "SIGTERM → SIGKILL")
      .Env("VERSIOND_DRAIN_KILL_GRACE")
      .Positive();
  config
      .AddDuration("child-shutdown-grace", &shutdown_grace, absl::Minutes(10),
                   "devshard's own shutdown grace; the child grace is the larger of the two")
      .Env("DEVSHARD_SHUTDOWN_GRACE")
      .Positive();
  config.AddDuration("host-shutdown-budget", &budget, absl::Minutes(25), "host evacuation budget")
      .Env("VERSIOND_HOST_SHUTDOWN_BUDGET")
      .Positive();
  config.AddDuration("drain-announce", &announce, absl::Seconds(5), "readyz 503 before draining")
      .Env("VERSIOND_DRAIN_ANNOUNCE")
      .NonNegative();
  if (absl::Status s = config.Parse(argc, argv); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return 2;
  }
  if (config.help_requested()) {
    std::printf("versiond [flags]\n%s", config.Usage().c_str());
    return 0;
  }
  if (!config.args().empty()) {
    std::fprintf(stderr, "versiond: unexpected argument %s (versions come from the oracle)\n",
                 config.args()[0].c_str());
    return 2;
  }
  const absl::Duration child_grace = std::max(kill_grace, shutdown_grace);
  if (absl::Status s = gonka::supervisor::ValidateHostBudget(announce, budget, child_grace);
      !s.ok()) {
    std::fprintf(stderr, "config: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  // Gonka's VERSIOND_OVERRIDE_<version> / VERSIOND_FORCE (environment only, as Gonka).
  std::vector<std::string> environment;
  for (char** e = environ; *e != nullptr; ++e) environment.emplace_back(*e);
  absl::StatusOr<gonka::supervisor::VersionPins> pins =
      gonka::supervisor::ParseVersionPins(environment);
  if (!pins.ok()) {
    std::fprintf(stderr, "config: %s\n", std::string(pins.status().message()).c_str());
    return 2;
  }
  // Not config.Describe(): the oracle URL may carry credentials in its user-info.
  GONKA_LOG_INFO("versiond config", {"oracle", gonka::supervisor::RedactUrl(oracle_url)},
                 {"bin_dir", bin_dir}, {"data_dir", data_dir}, {"poll_interval", poll_interval},
                 {"announce", announce}, {"budget", budget}, {"overrides", pins->overrides.size()},
                 {"forced", pins->force.size()});

  gonka::supervisor::VersionHostOptions options;
  options.oracle_url = oracle_url;
  options.poll_interval = poll_interval;
  options.data_dir = data_dir;
  options.installer.bin_dir = bin_dir;
  options.installer.binary_name = binary_name;
  options.announce = announce;
  options.pins = *pins;
  options.host_budget = budget;
  options.supervisor.first_port = first_child_port;
  options.supervisor.reserved_ports = {port};
  options.supervisor.admin_address_env = admin_env;
  options.supervisor.ready_path = ready_path;
  options.supervisor.drain_path = drain_path;
  options.supervisor.drain_status_path = status_path;
  options.supervisor.ready_timeout = ready_timeout;
  options.supervisor.ready_max_wait = ready_max_wait;  // < ready_timeout counts as ready_timeout
  options.supervisor.recovery_timeout = recovery_timeout;
  options.supervisor.probe_versions = true;
  options.supervisor.drain_timeout = drain_timeout;
  options.supervisor.drain_poll_interval = drain_poll;
  options.supervisor.kill_grace = child_grace;
  options.supervisor.starting_nice = starting_nice;
  options.forward_on_server_loop = on_loop;

  // The server first: it outlives the host, whose forwarder runs on the server's event loop.
  gonka::net::HttpServer server(
      {.name = "versiond", .bind_address = bind, .port = port, .handler_threads = 64});
  gonka::supervisor::VersionHost host(options);
  if (absl::Status s = host.Init(&server); !s.ok()) {
    std::fprintf(stderr, "versiond: %s\n", s.ToString().c_str());
    return 1;
  }
  if (absl::Status s = server.Start(); !s.ok()) {
    std::fprintf(stderr, "versiond: %s\n", s.ToString().c_str());
    return 1;
  }
  GONKA_LOG_INFO("versiond serving", {"address", bind}, {"port", server.port()});
  host.Start();

  absl::Notification stop;
  std::atomic<int> signals_seen{0};
  signals.Start([&](int) {
    if (signals_seen.fetch_add(1) == 0) {
      stop.Notify();
    } else {
      GONKA_LOG_WARN("second signal: forcing");
      host.Force();
    }
  });
  stop.WaitForNotification();
  const bool clean = host.Evacuate();
  GONKA_LOG_INFO("versiond stopped", {"clean", clean});
  return clean ? 0 : 3;
}
