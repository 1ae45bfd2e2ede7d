#include "gonka/supervisor/version_proxy.h"

#include <algorithm>
#include <memory>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gonka/base/json.h"
#include "gonka/net/http_server.h"

namespace gonka {
namespace supervisor {

bool SplitVersion(const std::string& target, std::string* version, std::string* rest) {
  if (target.size() < 2 || target[0] != '/') return false;
  size_t slash = target.find('/', 1);
  size_t query = target.find('?', 1);
  size_t end = std::min(slash, query);
  *version = target.substr(1, end == std::string::npos ? std::string::npos : end - 1);
  *rest = end == std::string::npos ? "/" : target.substr(end);
  if (!rest->empty() && (*rest)[0] == '?') *rest = "/" + *rest;
  return !version->empty();
}

std::string ChildrenJson(const std::vector<GenerationInfo>& generations) {
  JsonWriter w;
  w.BeginArray();
  for (const GenerationInfo& g : generations) {
    if (g.done) continue;
    const bool draining = g.state == GenerationState::kRetiring ||
                          g.state == GenerationState::kDraining ||
                          g.state == GenerationState::kStopping;
    w.BeginObject()
        .Key("version")
        .String(g.version)
        .Key("status")
        .String(draining ? std::string("draining") : std::string(GenerationStateName(g.state)))
        .Key("sha256")
        .String(g.sha256);
    // Gonka's entry carries binary_version (the child's --print-binary-version), omitted when
    // empty.
    if (!g.binary_version.empty()) w.Key("binary_version").String(g.binary_version);
    // libgonka: the readiness monitor's answer (true only for a running child that serves).
    w.Key("ready").Bool(g.serving);
    w.Key("binary").String(g.binary).Key("port").Int(g.port).Key("pid").Int(g.pid).EndObject();
  }
  w.EndArray();
  return w.Take();
}

absl::Status ValidateHostBudget(absl::Duration announce, absl::Duration budget,
                                absl::Duration kill_grace) {
  if (announce != absl::ZeroDuration() && announce < absl::Seconds(5)) {
    return absl::InvalidArgumentError("VERSIOND_DRAIN_ANNOUNCE must be 0 or >= 5s");
  }
  if (announce >= budget) {
    return absl::InvalidArgumentError(
        "VERSIOND_DRAIN_ANNOUNCE must be < VERSIOND_HOST_SHUTDOWN_BUDGET");
  }
  if (kill_grace >= budget - announce) {
    return absl::InvalidArgumentError(
        "VERSIOND_DRAIN_KILL_GRACE must be < VERSIOND_HOST_SHUTDOWN_BUDGET - "
        "VERSIOND_DRAIN_ANNOUNCE");
  }
  return absl::OkStatus();
}

void VersionProxy::AddRoutes(net::HttpServer* server) {
  using net::HttpRequest;
  using net::HttpResponse;
  net::HttpServer::RouteOptions health{.admission = false};
  server->Handle(
      "GET", "/healthz",
      [this](const HttpRequest&) {
        return HttpResponse::Json(200, ChildrenJson(supervisor_->Generations()));
      },
      health);
  server->Handle(
      "GET", "/readyz",
      [this](const HttpRequest& r) {
        if (announcing_.load()) return HttpResponse::Text(503, "draining");
        if (auto v = r.QueryParam("version")) {
          // Gonka's ServesVersion: routed, running, and the readiness monitor's latest answer.
          if (supervisor_->ServesVersion(*v)) return HttpResponse::Text(200, "ready");
          for (const GenerationInfo& g : supervisor_->Generations()) {
            if (g.current && g.version == *v && g.state == GenerationState::kRunning) {
              return HttpResponse::Text(503, absl::StrCat("version ", *v, " not ready"));
            }
          }
          return HttpResponse::Text(404, absl::StrCat("version ", *v, " not running"));
        }
        return reconciled_.load() ? HttpResponse::Text(200, "ready")
                                  : HttpResponse::Text(503, "not reconciled");
      },
      health);
  auto proxy = [this](const HttpRequest& r, std::shared_ptr<net::Responder> out) {
    std::string version, rest;
    if (!SplitVersion(r.target, &version, &rest)) {
      out->Respond(HttpResponse::Text(404, "no version in path"));
      return;
    }
    if (absl::StrContains(r.headers.Get("Accept"), "text/event-stream")) {
      // Streams keep a handler thread each (long-lived, few).
      if (on_proxied_) on_proxied_(0);
      out->Stream([this, version, rest, r](std::shared_ptr<net::ResponseStream> stream) {
        supervisor_->ForwardStream(version, r, rest, std::move(stream));
      });
      return;
    }
    auto finish = [this, out](HttpResponse res) {
      if (on_proxied_) on_proxied_(res.status);
      if (!res.headers.Has("Content-Type")) {
        res.headers.Set("Content-Type", "application/octet-stream");
      }
      out->Respond(std::move(res));
    };
    // On the connection's own executor: the child's answer is read on the server's loop.
    if (supervisor_->ForwardAsync(version, r, rest, finish,
                                  on_server_loop_ ? out->executor() : nullptr)) {
      return;
    }
    // The version's child is (re)starting: wait for it on a handler thread.
    out->Defer([this, version, rest, r]() {
      HttpResponse res = supervisor_->Forward(version, r, rest);
      if (on_proxied_) on_proxied_(res.status);
      if (!res.headers.Has("Content-Type")) {
        res.headers.Set("Content-Type", "application/octet-stream");
      }
      return res;
    });
  };
  for (const char* method : {"GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS"}) {
    server->HandleAsync(method, "/*", proxy);
  }
}

}  // namespace supervisor
}  // namespace gonka
