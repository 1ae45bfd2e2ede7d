// versiond (minimal): runs one child per version through gonka::supervisor::Supervisor and
// reverse-proxies `/<version>/...` to it. Flags and wiring only; see docs/supervisor.md
// ("What versiond will add") for the oracle polling, sha256 installs, metrics and the full host
// evacuation that are still to come. Until the oracle lands, versions are given with
// `--static-version NAME=PATH` (positional arguments, repeated), a libgonka stopgap.
//
// Settings use Gonka's VERSIOND_* environment names and defaults (docs/supervisor.md).
#include <atomic>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gonka/base/config.h"
#include "gonka/base/log.h"
#include "gonka/drain/signals.h"
#include "gonka/net/http_server.h"
#include "gonka/supervisor/supervisor.h"
#include "gonka/supervisor/version_proxy.h"

int main(int argc, char** argv) {
  gonka::SignalWatcher signals;  // first: block the signals before any thread starts

  gonka::Config config("versiond");
  int port = 8080;
  std::string oracle_url, bin_dir, data_dir, binary_name, ready_path, drain_path, status_path;
  absl::Duration poll_interval, ready_timeout, drain_timeout, drain_poll, kill_grace, budget,
      announce;
  // Gonka hard-codes :8080; the flag exists for tests (no environment variable).
  config.AddPort("port", &port, 8080, "HTTP port of the proxy").Env("");
  config
      .AddString("oracle-url", &oracle_url, "",
                 "version oracle URL (not polled yet: versions come from NAME=BINARY arguments)")
      .Env("VERSIOND_ORACLE_URL");
  config.AddString("bin-dir", &bin_dir, "/opt/versiond/bin", "installed binaries")
      .Env("VERSIOND_BIN_DIR");
  config.AddString("data-dir", &data_dir, "/opt/versiond/data", "children's data dirs")
      .Env("VERSIOND_DATA_DIR");
  config.AddString("binary-name", &binary_name, "devshard", "child binary name")
      .Env("VERSIOND_BINARY_NAME");
  config.AddString("ready-path", &ready_path, "/ready", "child admin readiness path")
      .Env("VERSIOND_READY_PATH");
  config.AddString("drain-path", &drain_path, "/drain", "child admin drain path (POST)")
      .Env("VERSIOND_DRAIN_PATH");
  config.AddString("drain-status-path", &status_path, "/drain/status", "child drain status")
      .Env("VERSIOND_DRAIN_STATUS_PATH");
  config.AddDuration("poll-interval", &poll_interval, absl::Seconds(30), "oracle poll interval")
      .Env("VERSIOND_POLL_INTERVAL")
      .Positive();
  config.AddDuration("ready-timeout", &ready_timeout, absl::Seconds(60), "new child readiness")
      .Env("VERSIOND_READY_TIMEOUT")
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
    std::printf("versiond [flags] [--] NAME=BINARY...\n%s", config.Usage().c_str());
    return 0;
  }
  if (absl::Status s = gonka::supervisor::ValidateHostBudget(announce, budget, kill_grace);
      !s.ok()) {
    std::fprintf(stderr, "config: %s\n", std::string(s.message()).c_str());
    return 2;
  }

  gonka::supervisor::Supervisor sup({.first_port = 5000,
                                     .reserved_ports = {port},
                                     .ready_path = ready_path,
                                     .drain_path = drain_path,
                                     .drain_status_path = status_path,
                                     .ready_timeout = ready_timeout,
                                     .drain_timeout = drain_timeout,
                                     .drain_poll_interval = drain_poll,
                                     .kill_grace = kill_grace});

  gonka::net::HttpServer server({.name = "versiond", .bind_address = "0.0.0.0", .port = port});
  gonka::supervisor::VersionProxy proxy(&sup);
  proxy.AddRoutes(&server);
  if (absl::Status s = server.Start(); !s.ok()) {
    std::fprintf(stderr, "versiond: %s\n", s.ToString().c_str());
    return 1;
  }

  // Static versions (until the oracle poller lands): NAME=BINARY.
  bool all_ok = true;
  for (const std::string& arg : config.args()) {
    std::vector<std::string> kv = absl::StrSplit(arg, absl::MaxSplits('=', 1));
    if (kv.size() != 2 || kv[0].empty() || kv[1].empty()) {
      std::fprintf(stderr, "versiond: bad version %s (want NAME=BINARY)\n", arg.c_str());
      return 2;
    }
    absl::Status s = sup.Deploy(
        {.version = kv[0], .binary = kv[1], .data_dir = absl::StrCat(data_dir, "/", kv[0])});
    if (!s.ok()) {
      all_ok = false;
      GONKA_LOG_ERROR("deploy failed", {"version", kv[0]}, {"error", s});
    }
  }
  proxy.SetReconciled(all_ok);
  GONKA_LOG_INFO("versiond serving", {"port", server.port()}, {"versions", config.args().size()});

  absl::Notification stop;
  std::atomic<int> signals_seen{0};
  signals.Start([&](int) {
    if (signals_seen.fetch_add(1) == 0) {
      stop.Notify();
    } else {
      GONKA_LOG_WARN("second signal: forcing");
      sup.Shutdown(absl::Now());
    }
  });
  stop.WaitForNotification();
  // Host evacuation (minimal): announce → drain children within the budget → stop.
  const absl::Time end = absl::Now() + budget;
  proxy.BeginAnnounce();
  server.SetDraining(true);
  absl::SleepFor(announce);
  server.StopAccepting();
  sup.Shutdown(end);
  server.Stop(absl::Now() + absl::Seconds(5));
  GONKA_LOG_INFO("versiond stopped");
  return 0;
}
