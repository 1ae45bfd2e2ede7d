#include "gonka/nodemanager/admin_api.h"

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
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

absl::StatusOr<std::unique_ptr<MlNodeAdmin>> MlNodeAdmin::Start(MlNodeAdminOptions options,
                                                                NodeStoreWatcher::Callback apply) {
  net::HttpServerOptions server_options;
  server_options.name = "node-manager-admin";
  const size_t colon = options.address.rfind(':');
  if (colon == std::string::npos ||
      !absl::SimpleAtoi(absl::string_view(options.address).substr(colon + 1),
                        &server_options.port) ||
      server_options.port < 0 || server_options.port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("--admin-api-address: \"", options.address, "\" is not host:port"));
  }
  server_options.bind_address = options.address.substr(0, colon);
  std::string& bind = server_options.bind_address;
  if (bind.size() >= 2 && bind.front() == '[' && bind.back() == ']') {
    bind = bind.substr(1, bind.size() - 2);  // "[::1]:9200"
  }
  std::shared_ptr<BearerAuth> auth;
  if (!options.token_file.empty()) {
    absl::StatusOr<std::unique_ptr<BearerAuth>> opened =
        BearerAuth::Open({.token_file = options.token_file, .what = "--admin-token-file"});
    if (!opened.ok()) return opened.status();
    auth = std::move(*opened);
  }
  std::unique_ptr<MlNodeAdmin> admin(new MlNodeAdmin());
  absl::StatusOr<std::unique_ptr<pg::Pool>> pool = pg::Pool::Open(options.pg);
  if (!pool.ok()) return pool.status();
  admin->pool_ = std::move(*pool);
  absl::StatusOr<std::unique_ptr<NodeStore>> store = NodeStore::Open(admin->pool_.get());
  if (!store.ok()) return store.status();
  admin->store_ = std::move(*store);
  admin->watcher_ = std::make_unique<NodeStoreWatcher>(
      admin->store_.get(), std::move(apply),
      NodeStoreWatcherOptions{.poll_interval = options.poll_interval});
  if (absl::Status s = admin->watcher_->Start(); !s.ok()) return s;
  admin->server_ = std::make_unique<net::HttpServer>(server_options);
  AddAdminRoutes(
      admin->server_.get(),
      {.store = admin->store_.get(),
       .authenticate = auth ? MakeHttpAuthenticator(auth, false, "admin API", "--admin-token-file")
                            : HttpAuthenticator()});
  if (absl::Status s = admin->server_->Start(); !s.ok()) return s;
  GONKA_LOG_INFO(
      "admin api listening", {"address", options.address},
      {"port", static_cast<int64_t>(admin->server_->port())},
      {"auth", auth ? std::string("tokens") : std::string("off (no --admin-token-file)")});
  return admin;
}

MlNodeAdmin::~MlNodeAdmin() { Stop(); }

void MlNodeAdmin::Stop() {
  if (server_) server_->Stop(absl::Now() + absl::Seconds(5));
  if (watcher_) watcher_->Stop();
}

}  // namespace nodemanager
}  // namespace gonka
