#include "gonka/supervisor/child_contract.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gonka/base/json.h"

namespace gonka {
namespace supervisor {

using net::HttpRequest;
using net::HttpResponse;
using net::HttpServer;

std::string EnvOr(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : fallback;
}

int IntParam(const HttpRequest& request, absl::string_view name, int fallback) {
  int v = fallback;
  if (auto s = request.QueryParam(name)) {
    if (!absl::SimpleAtoi(*s, &v)) v = fallback;
  }
  return v;
}

absl::StatusOr<std::unique_ptr<ChildContract>> ChildContract::Create(ChildContractOptions options) {
  const std::string admin_address = EnvOr("DEVSHARD_ADMIN_ADDR");
  int admin_port = 0;
  if (!admin_address.empty()) {
    size_t colon = admin_address.rfind(':');
    if (colon == std::string::npos ||
        !absl::SimpleAtoi(admin_address.substr(colon + 1), &admin_port) || admin_port <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("DEVSHARD_ADMIN_ADDR: want 127.0.0.1:<port>, got \"", admin_address, "\""));
    }
  }
  return std::unique_ptr<ChildContract>(
      new ChildContract(std::move(options), admin_port, admin_address));
}

ChildContract::ChildContract(ChildContractOptions options, int admin_port,
                             std::string admin_address)
    : options_(std::move(options)),
      admin_address_(std::move(admin_address)),
      pub_({.name = options_.name,
            .port = options_.port,
            .threads = 1,
            .handler_threads = options_.handler_threads}) {
  if (!admin_address_.empty()) {
    admin_server_ = std::make_unique<HttpServer>(
        net::HttpServerOptions{.name = absl::StrCat(options_.name, "_admin"),
                               .bind_address = "127.0.0.1",
                               .port = admin_port,
                               .threads = 1});
  }
  AddRoutes();
}

sigset_t ChildContract::BlockTermSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

void ChildContract::AddRoutes() {
  auto stamp = [this](HttpResponse res) {
    return options_.stamp ? options_.stamp(std::move(res)) : res;
  };
  // Every public request counts as in flight until its response (or stream) ends.
  pub_.SetAdmission([this]() -> std::shared_ptr<void> {
    if (draining_.load()) return nullptr;
    inflight_.fetch_add(1);
    // A non-null token: the server treats a null guard as "refuse".
    return std::shared_ptr<void>(new int(0), [this](void* p) {
      delete static_cast<int*>(p);
      inflight_.fetch_sub(1);
    });
  });
  HttpServer::RouteOptions no_admission{.admission = false};
  pub_.Handle(
      "GET", "/healthz",
      [stamp](const HttpRequest&) { return stamp(HttpResponse::Text(200, "ok")); }, no_admission);
  HttpServer* admin = admin_server_ != nullptr ? admin_server_.get() : &pub_;
  admin->Handle(
      "GET", "/ready",
      [this, stamp](const HttpRequest&) {
        if (options_.never_ready) return stamp(HttpResponse::Text(503, "not ready"));
        const bool draining = draining_.load();
        const absl::Duration up = absl::Now() - started_;
        const bool starting = up < options_.ready_after;
        std::error_code ec;
        const bool lost =
            !options_.unready_file.empty() && std::filesystem::exists(options_.unready_file, ec);
        if (lost) {
          std::ifstream in(options_.unready_file);
          std::string word;
          in >> word;
          if (word == "plain") return stamp(HttpResponse::Text(503, "not ready"));
        }
        JsonWriter w;
        w.BeginObject()
            .Key("ready")
            .Bool(!draining && !starting && !lost)
            .Key("draining")
            .Bool(draining)
            .Key("storage_ready")
            .Bool(!starting);
        if (options_.recovery_after >= absl::ZeroDuration()) {
          const bool recovered = up >= options_.recovery_after;
          w.Key("recovery_complete").Bool(recovered).Key("sessions_pending").Int(recovered ? 0 : 4);
        }
        w.EndObject();
        return stamp(HttpResponse::Json(draining || starting || lost ? 503 : 200, w.Take()));
      },
      no_admission);
  admin->Handle(
      "POST", "/drain",
      [this, stamp](const HttpRequest&) {
        draining_.store(true);
        return stamp(HttpResponse::Json(202, "{\"draining\":true}"));
      },
      no_admission);
  admin->Handle(
      "GET", "/drain/status",
      [this, stamp](const HttpRequest&) {
        JsonWriter w;
        w.BeginObject()
            .Key("ready")
            .Bool(!options_.never_ready && !draining_.load())
            .Key("draining")
            .Bool(draining_.load())
            .Key("inflight")
            .Int(inflight_.load());
        if (!options_.version.empty()) w.Key("version").String(options_.version);
        w.EndObject();
        return stamp(HttpResponse::Json(200, w.Take()));
      },
      no_admission);
}

absl::Status ChildContract::Start() {
  started_ = absl::Now();
  if (absl::Status s = pub_.Start(); !s.ok()) return s;
  if (admin_server_ != nullptr) return admin_server_->Start();
  return absl::OkStatus();
}

void ChildContract::WaitForSignalAndStop(const sigset_t& signals, absl::Duration grace,
                                         bool ignore_sigterm) {
  while (true) {
    int sig = 0;
    sigwait(&signals, &sig);
    if (ignore_sigterm && sig == SIGTERM) continue;  // only SIGKILL (or SIGINT) ends it
    break;
  }
  // Refuse new work, let admitted requests and streams finish.
  draining_.store(true);
  pub_.Stop(absl::Now() + grace);
  if (admin_server_ != nullptr) admin_server_->Stop(absl::Now() + absl::Seconds(1));
}

}  // namespace supervisor
}  // namespace gonka
