#include "gonka/drain/daemon.h"

#include <cstdio>
#include <utility>

#include <prometheus/gauge.h>

#include "absl/strings/str_cat.h"
#include "gonka/base/json.h"
#include "gonka/base/log.h"
#include "gonka/base/metrics.h"
#include "gonka/base/version.h"

namespace gonka {
namespace {

prometheus::Family<prometheus::Gauge>& DaemonGauges() {
  static auto& family = prometheus::BuildGauge()
                            .Name("gonka_daemon")
                            .Help(
                                "Daemon lifecycle: build_info (always 1), ready (1/0 at the "
                                "last probe), drain_state (0 serving .. 4 stopped), in_flight")
                            .Register(metrics::Registry());
  return family;
}

}  // namespace

Daemon::Daemon(DaemonOptions options) : options_(std::move(options)), config_(options_.name) {
  config_.AddString("bind", &bind_, options_.default_bind, "address of the public HTTP listener");
  config_.AddPort("port", &port_, options_.default_port, "public HTTP port (0 = any free port)");
  config_.AddPort("admin-port", &admin_port_, 0,
                  "separate admin listener for health/metrics endpoints (0 = none)");
  config_
      .AddDuration("shutdown-grace", &shutdown_grace_, absl::Seconds(30),
                   "how long in-flight requests and streams may run after accepting stops")
      .Positive();
  config_
      .AddDuration("drain-announce", &drain_announce_, absl::Seconds(5),
                   "how long /ready fails before accepting stops (>= router check interval x "
                   "fall)")
      .NonNegative();
  config_
      .AddDuration("request-timeout", &request_timeout_, absl::Seconds(30),
                   "budget for reading a request and running its handler (streams exempt)")
      .Positive();
  config_
      .AddInt("max-body-bytes", &max_body_bytes_, 8 << 20,
              "largest accepted request body; larger gets 413")
      .Range(1, int64_t{1} << 32);
  config_.AddInt("handler-threads", &handler_threads_, 16, "threads that run request handlers")
      .Range(1, 1024);
  config_.AddString("log-level", &log_level_, "info", "debug|info|warn|error")
      .OneOf({"debug", "info", "warn", "error"});
}

Daemon::~Daemon() {
  if (server_) server_->Stop(absl::Now());
  if (admin_) admin_->Stop(absl::Now());
}

std::optional<int> Daemon::Init(int argc, const char* const* argv) {
  absl::Status status = config_.Parse(argc, argv);
  if (!status.ok()) {
    std::fprintf(stderr, "%s: %s\n(run with --help for the settings)\n", options_.name.c_str(),
                 std::string(status.message()).c_str());
    return kExitConfig;
  }
  if (config_.help_requested()) {
    std::fprintf(stdout, "%s\n", config_.Usage().c_str());
    return 0;
  }
  log::SetLevelByName(log_level_).IgnoreError();  // validated by OneOf above
  log::SetStaticFields({{"daemon", options_.name}});

  DrainOptions drain_options;
  drain_options.announce = drain_announce_;
  drain_options.shutdown_grace = shutdown_grace_;
  drain_ = std::make_unique<DrainController>(drain_options);

  net::HttpServerOptions server_options;
  server_options.name = options_.name;
  server_options.bind_address = bind_;
  server_options.port = port_;
  server_options.request_timeout = request_timeout_;
  server_options.max_body_bytes = static_cast<size_t>(max_body_bytes_);
  server_options.handler_threads = handler_threads_;
  if (absl::Status s = net::HttpServer::Validate(server_options); !s.ok()) {
    std::fprintf(stderr, "%s: config: %s\n", options_.name.c_str(),
                 std::string(s.message()).c_str());
    return kExitConfig;
  }
  server_ = std::make_unique<net::HttpServer>(server_options);
  server_->SetAdmission(drain_->AdmissionHook());
  AddEndpoints(*server_);
  if (admin_port_ != 0) {
    net::HttpServerOptions admin_options = server_options;
    admin_options.name = absl::StrCat(options_.name, "-admin");
    admin_options.port = admin_port_;
    admin_options.handler_threads = 2;
    admin_ = std::make_unique<net::HttpServer>(admin_options);
    AddEndpoints(*admin_);
  }

  net::HttpServer* server = server_.get();
  drain_->OnStateChange([server, name = options_.name](DrainController::State state) {
    GONKA_LOG_INFO("drain state", {"state", DrainController::StateName(state)});
    DaemonGauges().Add({{"daemon", name}, {"kind", "drain_state"}}).Set(static_cast<double>(state));
    if (state == DrainController::State::kAnnouncing) server->SetDraining(true);
  });
  drain_->OnStopAccepting([server] { server->StopAccepting(); });
  DaemonGauges()
      .Add({{"daemon", options_.name}, {"kind", "build_info"}, {"version", kVersion}})
      .Set(1);
  return std::nullopt;
}

void Daemon::AddEndpoints(net::HttpServer& server) {
  net::HttpServer::RouteOptions exempt;
  exempt.admission = false;
  const std::string name = options_.name;
  DrainController* drain = drain_.get();
  server.Handle(
      "GET", "/healthz",
      [name](const net::HttpRequest&) {
        return net::HttpResponse::Json(
            200, absl::StrCat("{\"status\":\"ok\",\"daemon\":", JsonQuote(name), "}"));
      },
      exempt);
  auto ready = [drain, name](const net::HttpRequest&) {
    absl::Status status = drain->Ready();
    DaemonGauges().Add({{"daemon", name}, {"kind", "ready"}}).Set(status.ok() ? 1 : 0);
    net::HttpResponse res =
        status.ok()
            ? net::HttpResponse::Json(200, "{\"status\":\"ready\"}")
            : net::HttpResponse::Json(503, absl::StrCat("{\"status\":\"not ready\",\"reason\":",
                                                        JsonQuote(status.message()), "}"));
    res.headers.Set("Cache-Control", "no-store");
    return res;
  };
  server.Handle("GET", "/ready", ready, exempt);
  server.Handle("GET", "/readyz", ready, exempt);
  server.Handle(
      "GET", "/drain/status",
      [drain](const net::HttpRequest&) {
        return net::HttpResponse::Json(200, drain->StatusJson());
      },
      exempt);
  server.Handle(
      "GET", "/metrics",
      [drain, name](const net::HttpRequest&) {
        DaemonGauges()
            .Add({{"daemon", name}, {"kind", "in_flight"}})
            .Set(static_cast<double>(drain->gate().in_flight()));
        net::HttpResponse res;
        res.status = 200;
        res.headers.Set("Content-Type", metrics::kContentType);
        res.body = metrics::ExposeText();
        return res;
      },
      exempt);
  server.Handle(
      "GET", "/version",
      [name](const net::HttpRequest&) {
        return net::HttpResponse::Json(
            200, absl::StrCat("{\"daemon\":\"", name, "\",\"version\":\"", kVersion, "\"}"));
      },
      exempt);
}

absl::Status Daemon::Start() {
  if (!server_) return absl::FailedPreconditionError("Daemon::Start before a successful Init");
  if (started_) return absl::FailedPreconditionError("Daemon::Start called twice");
  if (admin_) {
    if (absl::Status s = admin_->Start(); !s.ok()) return s;
  }
  if (absl::Status s = server_->Start(); !s.ok()) return s;
  started_ = true;
  signals_.Start([this](int signo) {
    GONKA_LOG_INFO("signal received", {"signal", signo},
                   {"action", drain_->draining() ? "force" : "drain"});
    drain_->BeginDrain();
  });
  GONKA_LOG_INFO("daemon started", {"version", kVersion}, {"port", server_->port()},
                 {"admin_port", admin_ ? admin_->port() : 0}, {"config", config_.Describe()});
  return absl::OkStatus();
}

int Daemon::port() const { return server_ ? server_->port() : 0; }
int Daemon::admin_port() const { return admin_ ? admin_->port() : 0; }

int Daemon::Run() {
  if (!started_) return Fail(absl::FailedPreconditionError("Daemon::Run before Start"));
  // Registered last, so it runs after the daemon's own hooks: by now in-flight work is done
  // (or the grace is over) and only idle connections remain.
  net::HttpServer* server = server_.get();
  drain_->AddShutdownHook("http server", [server] {
    if (!server->Stop(absl::Now() + absl::Seconds(1))) {
      GONKA_LOG_WARN("http server had open work at stop; it was cut");
    }
  });
  bool clean = drain_->Wait();
  if (admin_) admin_->Stop(absl::Now() + absl::Seconds(1));
  GONKA_LOG_INFO("daemon stopped", {"clean", clean});
  return clean ? 0 : kExitCut;
}

int Daemon::ConfigError(absl::string_view message) {
  std::fprintf(stderr, "%s: config: %s\n", options_.name.c_str(), std::string(message).c_str());
  return kExitConfig;
}

int Daemon::Fail(const absl::Status& status) {
  GONKA_LOG_ERROR("daemon failed to start", {"error", status.ToString()});
  std::fprintf(stderr, "%s: %s\n", options_.name.c_str(), status.ToString().c_str());
  return 1;
}

}  // namespace gonka
