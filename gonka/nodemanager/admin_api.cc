#include "gonka/nodemanager/admin_api.h"

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gonka/base/json.h"
#include "gonka/base/log.h"

namespace gonka {
namespace nodemanager {
namespace {

using net::HttpRequest;
using net::HttpResponse;

constexpr char kNodes[] = "/admin/v1/nodes";
constexpr char kNodesPrefix[] = "/admin/v1/nodes/";

HttpResponse JsonError(int status, absl::string_view message) {
  return HttpResponse::Json(status, absl::StrCat("{\"error\":", JsonQuote(message), "}"));
}

HttpResponse FromStatus(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kInvalidArgument:
      return JsonError(400, s.message());
    case absl::StatusCode::kNotFound:
      return JsonError(404, s.message());
    case absl::StatusCode::kAlreadyExists:
      return JsonError(409, s.message());
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kAborted:
      return JsonError(503, absl::StrCat("ml node store unavailable: ", s.message()));
    default:
      return JsonError(500, s.message());
  }
}

// Gonka's GET answer element: {"node": ..., "state": {...}}. Only the admin state lives in the
// store; the reconciler's view of a node is GET /v1/node-manager/status.
std::string NodeResponseJson(const AdminNode& node) {
  return absl::StrCat("{\"node\":", AdminNodeJson(node),
                      ",\"state\":{\"admin_state\":{\"enabled\":", node.enabled ? "true" : "false",
                      "}}}");
}

class AdminApi {
 public:
  explicit AdminApi(AdminApiOptions options) : options_(std::move(options)) {}

  // Runs `route` for an authenticated request, or answers the refusal.
  HttpResponse Guarded(const HttpRequest& request,
                       const std::function<HttpResponse(const std::string& who)>& route) {
    absl::StatusOr<std::string> who =
        options_.authenticate
            ? options_.authenticate(request)
            : absl::PermissionDeniedError(
                  "the admin API is off: start node-manager with --admin-token-file");
    if (!who.ok()) {
      const absl::StatusCode code = who.status().code();
      const int http = code == absl::StatusCode::kUnauthenticated    ? 401
                       : code == absl::StatusCode::kPermissionDenied ? 403
                                                                     : 503;
      HttpResponse refusal = JsonError(http, who.status().message());
      if (http == 401) refusal.headers.Set("WWW-Authenticate", "Bearer");
      GONKA_LOG_INFO("admin api: request refused", {"method", request.method},
                     {"path", request.path}, {"peer", request.remote_address}, {"status", http},
                     {"reason", std::string(who.status().message())});
      return refusal;
    }
    return route(*who);
  }

  HttpResponse List() {
    absl::StatusOr<std::vector<AdminNode>> nodes = options_.store->List();
    if (!nodes.ok()) return FromStatus(nodes.status());
    std::string body = "[";
    for (size_t i = 0; i < nodes->size(); ++i) {
      if (i > 0) body += ",";
      body += NodeResponseJson((*nodes)[i]);
    }
    body += "]";
    return HttpResponse::Json(200, std::move(body));
  }

  HttpResponse Create(const HttpRequest& request, const std::string& who) {
    absl::StatusOr<AdminNode> node = ParseAdminNode(request.body);
    if (!node.ok()) return FromStatus(node.status());
    absl::StatusOr<AdminNode> stored = options_.store->Create(*node);
    if (!stored.ok()) return FromStatus(stored.status());
    GONKA_LOG_INFO("admin api: node created", {"node", stored->id}, {"by", who});
    return HttpResponse::Json(200, AdminNodeJson(*stored));
  }

  HttpResponse CreateBatch(const HttpRequest& request, const std::string& who) {
    absl::StatusOr<std::vector<AdminNode>> nodes = ParseAdminNodes(request.body);
    if (!nodes.ok()) return FromStatus(nodes.status());
    std::string body = "[";
    bool first = true;
    for (const AdminNode& node : *nodes) {
      absl::StatusOr<AdminNode> stored = options_.store->Create(node);
      if (absl::IsAlreadyExists(stored.status())) {
        GONKA_LOG_INFO("admin api: batch node skipped", {"node", node.id},
                       {"reason", std::string(stored.status().message())});
        continue;
      }
      if (!stored.ok()) return FromStatus(stored.status());
      GONKA_LOG_INFO("admin api: node created", {"node", stored->id}, {"by", who});
      if (!first) body += ",";
      first = false;
      body += AdminNodeJson(*stored);
    }
    body += "]";
    return HttpResponse::Json(201, std::move(body));
  }

  // GET/PUT/DELETE /admin/v1/nodes/{id}, POST /admin/v1/nodes/{id}/enable|disable.
  HttpResponse NodeRoute(const HttpRequest& request, const std::string& who) {
    absl::string_view rest = request.path;
    absl::ConsumePrefix(&rest, kNodesPrefix);
    std::vector<absl::string_view> parts = absl::StrSplit(rest, '/');
    const std::string& method = request.method;
    const bool node = parts.size() == 1 && method != "POST";
    const bool admin_state =
        parts.size() == 2 && method == "POST" && (parts[1] == "enable" || parts[1] == "disable");
    if (!node && !admin_state) {
      return JsonError(404, absl::StrCat("no such route: ", method, " ", request.path));
    }
    const std::string id(parts[0]);
    if (id.empty()) return JsonError(400, "id: node id is required in the path");
    if (admin_state) {
      const bool enable = parts[1] == "enable";
      absl::StatusOr<AdminNode> stored = options_.store->SetEnabled(id, enable);
      if (!stored.ok()) return FromStatus(stored.status());
      GONKA_LOG_INFO("admin api: node admin state", {"node", id}, {"enabled", enable}, {"by", who});
      JsonWriter w;
      w.BeginObject()
          .Key("message")
          .String(enable ? "node enabled successfully" : "node disabled successfully")
          .Key("node_id")
          .String(id)
          .EndObject();
      return HttpResponse::Json(200, w.Take());
    }
    if (method == "GET") {
      absl::StatusOr<AdminNode> stored = options_.store->Get(id);
      if (!stored.ok()) return FromStatus(stored.status());
      return HttpResponse::Json(200, NodeResponseJson(*stored));
    }
    if (method == "PUT") {
      absl::StatusOr<AdminNode> parsed = ParseAdminNode(request.body, id);
      if (!parsed.ok()) return FromStatus(parsed.status());
      absl::StatusOr<AdminNode> stored = options_.store->Update(*parsed);
      if (!stored.ok()) return FromStatus(stored.status());
      GONKA_LOG_INFO("admin api: node updated", {"node", id}, {"by", who});
      return HttpResponse::Json(200, AdminNodeJson(*stored));
    }
    // DELETE
    absl::Status s = options_.store->Delete(id);
    if (!s.ok()) return FromStatus(s);
    GONKA_LOG_INFO("admin api: node deleted", {"node", id}, {"by", who});
    return HttpResponse::Json(200, "true");
  }

 private:
  const AdminApiOptions options_;
};

}  // namespace

void AddAdminRoutes(net::HttpServer* server, AdminApiOptions options) {
  auto api = std::make_shared<AdminApi>(std::move(options));
  server->Handle("GET", kNodes, [api](const HttpRequest& request) {
    return api->Guarded(request, [&](const std::string&) { return api->List(); });
  });
  server->Handle("POST", kNodes, [api](const HttpRequest& request) {
    return api->Guarded(request, [&](const std::string& who) { return api->Create(request, who); });
  });
  server->Handle("POST", "/admin/v1/nodes/batch", [api](const HttpRequest& request) {
    return api->Guarded(request,
                        [&](const std::string& who) { return api->CreateBatch(request, who); });
  });
  for (const char* method : {"GET", "PUT", "DELETE", "POST"}) {
    server->Handle(method, absl::StrCat(kNodesPrefix, "*"), [api](const HttpRequest& request) {
      return api->Guarded(request,
                          [&](const std::string& who) { return api->NodeRoute(request, who); });
    });
  }
}

}  // namespace nodemanager
}  // namespace gonka
