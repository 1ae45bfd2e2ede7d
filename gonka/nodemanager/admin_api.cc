#include "gonka/nodemanager/admin_api.h"

#include <algorithm>
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gonka/base/json.h"
#include "gonka/base/log.h"
#include "gonka/base/metrics.h"
#include "gonka/base/secret_file.h"
#include "gonka/mlnode/ml_node_client.h"
#include "gonka/net/http_client.h"
#include "simdjson.h"

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

// gonka_nodemanager_admin_requests_total{route, status}: every admin answer.
void CountRequest(const std::string& route, int status) {
  static auto& family = prometheus::BuildCounter()
                            .Name("gonka_nodemanager_admin_requests_total")
                            .Help("node-manager admin REST answers, by route and HTTP status")
                            .Register(metrics::Registry());
  family.Add({{"route", route}, {"status", absl::StrCat(status)}}).Increment();
}

// The route's pattern (Gonka's), so the label set stays bounded whatever the ids.
std::string RouteLabel(const HttpRequest& request) {
  absl::string_view rest = request.path;
  if (rest == kNodes) return absl::StrCat(request.method, " nodes");
  if (!absl::ConsumePrefix(&rest, kNodesPrefix)) return "other";
  if (rest == "batch" || rest == "upgrade-status" || rest == "version-status") {
    return absl::StrCat(request.method, " nodes/", rest);
  }
  std::vector<absl::string_view> parts = absl::StrSplit(rest, '/');
  if (parts.size() == 1) return absl::StrCat(request.method, " nodes/:id");
  if (parts.size() == 2 && (parts[1] == "enable" || parts[1] == "disable" || parts[1] == "test" ||
                            parts[1] == "launch-plan")) {
    return absl::StrCat(request.method, " nodes/:id/", parts[1]);
  }
  return "other";
}

HttpResponse NodeError(int status, absl::string_view message, absl::string_view id) {
  JsonWriter w;
  w.BeginObject().Key("error").String(message).Key("node_id").String(id).EndObject();
  return HttpResponse::Json(status, w.Take());
}

// A version goes into the ML node's URL path ("/<version><segment>"): one safe segment only.
bool ValidVersion(absl::string_view version) {
  if (version.empty() || version.size() > 64) return false;
  for (char c : version) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-' &&
        c != '+') {
      return false;
    }
  }
  return true;
}

// Gonka's Node.PoCUrlWithVersion / InferenceUrlWithVersion (broker.go): the version is a path
// prefix before the segment; no version = the plain URL.
std::string NodeUrl(const AdminNode& node, int port, absl::string_view segment,
                    absl::string_view version) {
  return absl::StrCat("http://", node.host, ":", port, version.empty() ? "" : "/", version,
                      segment);
}

// The option name of an argument token ("--tp=2" → "--tp"), "" when it is not an option.
absl::string_view OptionName(absl::string_view token) {
  if (!absl::StartsWith(token, "--") || token.size() == 2) return "";
  return token.substr(0, token.find('='));
}

struct ModelPlan {
  std::string model_id;
  std::vector<std::string> args;
};

// Gonka's buildTestableLaunchPlans: the node's models present in governance, in model-id order,
// with merged args; the others are skipped (the broker would ignore them too).
void BuildPlans(const AdminNode& node, const std::vector<GovernanceModel>& governance,
                std::vector<ModelPlan>* plans, std::vector<std::string>* skipped) {
  std::map<std::string, const GovernanceModel*> by_id;
  for (const GovernanceModel& m : governance) by_id[m.id] = &m;
  std::vector<const AdminModel*> models;
  for (const AdminModel& m : node.models) models.push_back(&m);
  std::sort(models.begin(), models.end(),
            [](const AdminModel* a, const AdminModel* b) { return a->name < b->name; });
  for (const AdminModel* m : models) {
    auto it = by_id.find(m->name);
    if (it == by_id.end()) {
      skipped->push_back(m->name);
      continue;
    }
    plans->push_back({m->name, MergeModelArgs(it->second->args, m->args)});
  }
}

// One ML-node test's outcome in Gonka's TestResult shape (mlnode_tester.go): failing_model,
// error, load_ms, health_ms, resp_ms and retryable are left out when empty/zero/false.
struct TestResult {
  std::string node_id;
  bool success = true;
  std::string failing_model;
  std::string error;
  std::vector<std::pair<std::string, int64_t>> load_ms;
  int64_t health_ms = 0;
  int64_t resp_ms = 0;
  absl::Time started_at;
  int64_t duration_ms = 0;
  bool retryable = false;

  void Fail(absl::string_view model, std::string why, bool transient) {
    success = false;
    failing_model = std::string(model);
    error = std::move(why);
    retryable = transient;
  }

  std::string Json() const {
    JsonWriter w;
    w.BeginObject().Key("node_id").String(node_id).Key("status").String(success ? "SUCCESS"
                                                                                : "FAILED");
    if (!failing_model.empty()) w.Key("failing_model").String(failing_model);
    if (!error.empty()) w.Key("error").String(error);
    if (!load_ms.empty()) {
      std::vector<std::pair<std::string, int64_t>> sorted = load_ms;  // Go sorts map keys
      std::sort(sorted.begin(), sorted.end());
      w.Key("load_ms").BeginObject();
      for (const auto& entry : sorted) w.Key(entry.first).Int(entry.second);
      w.EndObject();
    }
    if (health_ms != 0) w.Key("health_ms").Int(health_ms);
    if (resp_ms != 0) w.Key("resp_ms").Int(resp_ms);
    w.Key("started_at")
        .String(absl::FormatTime(absl::RFC3339_full, started_at, absl::UTCTimeZone()));
    w.Key("duration_ms").Int(duration_ms);
    if (retryable) w.Key("retryable").Bool(true);
    return w.EndObject().Take();
  }
};

int64_t MillisSince(absl::Time start) { return absl::ToInt64Milliseconds(absl::Now() - start); }

// What the ML node said when it refused: its `detail`/`error`/`message` string (cut), else the
// start of the body.
std::string Refusal(const net::HttpResponse& response) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  std::string_view text;
  if (parser.parse(response.body).get(doc) == simdjson::SUCCESS && doc.is_object()) {
    for (const char* key : {"detail", "error", "message"}) {
      if (doc[key].get_string().get(text) == simdjson::SUCCESS) break;
      text = {};
    }
  }
  std::string out(text.empty() ? std::string_view(response.body) : text);
  if (out.size() > 200) out.resize(200);
  return out;
}

class AdminApi {
 public:
  explicit AdminApi(AdminApiOptions options) : options_(std::move(options)) {}

  // Runs `route` for an authenticated request, or answers the refusal; counts the answer.
  HttpResponse Guarded(const HttpRequest& request,
                       const std::function<HttpResponse(const std::string& who)>& route) {
    HttpResponse response = GuardedUncounted(request, route);
    CountRequest(RouteLabel(request), response.status);
    return response;
  }

  HttpResponse GuardedUncounted(const HttpRequest& request,
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
    const bool test =
        parts.size() == 2 && (method == "POST" || method == "GET") && parts[1] == "test";
    const bool launch_plan = parts.size() == 2 && method == "GET" && parts[1] == "launch-plan";
    if (!node && !admin_state && !test && !launch_plan) {
      return JsonError(404, absl::StrCat("no such route: ", method, " ", request.path));
    }
    const std::string id(parts[0]);
    if (id.empty()) return JsonError(400, "id: node id is required in the path");
    if (test && method == "POST") return PostTest(id, who);
    if (test) return GetTest(id);
    if (launch_plan) return LaunchPlan(id);
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
      Invalidate(id);
      GONKA_LOG_INFO("admin api: node updated", {"node", id}, {"by", who});
      return HttpResponse::Json(200, AdminNodeJson(*stored));
    }
    // DELETE
    absl::Status s = options_.store->Delete(id);
    if (!s.ok()) return FromStatus(s);
    Invalidate(id);
    GONKA_LOG_INFO("admin api: node deleted", {"node", id}, {"by", who});
    return HttpResponse::Json(200, "true");
  }

  // GET /admin/v1/nodes/upgrade-status (Gonka's getUpgradeStatus).
  HttpResponse UpgradeStatus() {
    if (!options_.upgrade_plan) {
      return JsonError(503,
                       "upgrade plan unavailable: this node-manager has no source for the "
                       "chain's upgrade plan (docs/node-manager.md, \"ML-node routes\")");
    }
    absl::StatusOr<UpgradePlan> plan = options_.upgrade_plan();
    if (!plan.ok()) return JsonError(502, absl::StrCat("upgrade plan: ", plan.status().message()));
    if (plan->node_version.empty()) {
      return HttpResponse::Json(200, "{\"message\":\"No upgrade plan active\"}");
    }
    if (!ValidVersion(plan->node_version)) {
      return JsonError(502, absl::StrCat("upgrade plan ", plan->name,
                                         ": node_version is not one URL path segment"));
    }
    return VersionHealth(plan->node_version);
  }

  // POST /admin/v1/nodes/version-status (Gonka's postVersionStatus, without its auto-test).
  HttpResponse VersionStatus(const HttpRequest& request) {
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (parser.parse(request.body).get(doc) != simdjson::SUCCESS || !doc.is_object()) {
      return JsonError(400, "body: not a JSON object");
    }
    simdjson::dom::element field;
    std::string_view version;
    if (doc["version"].get(field) != simdjson::SUCCESS || field.is_null()) {
      return JsonError(400, "version: required, a non-empty string");
    }
    if (field.get_string().get(version) != simdjson::SUCCESS || version.empty()) {
      return JsonError(400, "version: required, a non-empty string");
    }
    if (!ValidVersion(absl::string_view(version.data(), version.size()))) {
      return JsonError(400, "version: 1-64 characters of A-Z a-z 0-9 . _ - + (a URL path segment)");
    }
    return VersionHealth(std::string(version));
  }

  // Gonka's Broker.CheckVersionHealth: every node's versioned GET /api/v1/state, in parallel;
  // answered 200 with a state = alive. A JSON object by node id (Go sorts map keys).
  HttpResponse VersionHealth(const std::string& version) {
    absl::StatusOr<std::vector<AdminNode>> nodes = options_.store->List();
    if (!nodes.ok()) return FromStatus(nodes.status());
    std::vector<std::string> errors(nodes->size());
    std::vector<char> alive(nodes->size(), 0);
    const absl::Time deadline = absl::Now() + options_.ml_node_timeout;
    // At most kProbeThreads at once, all within one ML-node deadline.
    constexpr size_t kProbeThreads = 16;
    std::atomic<size_t> next{0};
    auto probe = [&](size_t i) {
      const AdminNode& node = (*nodes)[i];
      const std::string api_url = NodeUrl(node, node.poc_port, node.poc_segment, version);
      absl::StatusOr<std::unique_ptr<mlnode::MlNodeClient>> client = mlnode::MlNodeClient::Create(
          {.api_url = api_url,
           .inference_url = NodeUrl(node, node.inference_port, node.inference_segment, version),
           .auth_token_file = node.auth_token_file,
           .name = "node-manager-admin"});
      if (!client.ok()) {
        errors[i] = std::string(client.status().message());
        return;
      }
      absl::StatusOr<mlnode::NodeState> state = (*client)->GetState(deadline);
      if (state.ok()) {
        alive[i] = 1;
      } else {
        errors[i] = absl::StrCat(api_url, ": ", state.status().message());
      }
    };
    std::vector<std::thread> probes;
    for (size_t t = 0; t < std::min(kProbeThreads, nodes->size()); ++t) {
      probes.emplace_back([&] {
        for (size_t i = next++; i < nodes->size(); i = next++) probe(i);
      });
    }
    for (std::thread& t : probes) t.join();
    std::map<std::string, size_t> by_id;
    for (size_t i = 0; i < nodes->size(); ++i) by_id[(*nodes)[i].id] = i;
    JsonWriter w;
    w.BeginObject();
    for (const auto& entry : by_id) {
      w.Key(entry.first).BeginObject().Key("is_alive").Bool(alive[entry.second] != 0);
      if (!errors[entry.second].empty()) w.Key("error").String(errors[entry.second]);
      w.EndObject();
    }
    return HttpResponse::Json(200, w.EndObject().Take());
  }

  // POST /admin/v1/nodes/{id}/test (Gonka's postNodeTest and MLNodeTester.Run).
  HttpResponse PostTest(const std::string& id, const std::string& who) {
    absl::StatusOr<AdminNode> node = options_.store->Get(id);
    if (absl::IsNotFound(node.status())) return NodeError(404, node.status().message(), id);
    if (!node.ok()) return FromStatus(node.status());
    if (node->enabled) {
      // Gonka refuses a node the broker is using; here every enabled node is the leader's, and
      // a test stops the node outside the leader's reconciliation.
      return NodeError(409,
                       "node is enabled: the node-manager leader drives it; disable it first "
                       "(testing would take it out of service)",
                       id);
    }
    uint64_t revision = 0;
    {
      absl::MutexLock lock(&mu_);
      if (running_.count(id) > 0) {
        return NodeError(409, "mlnode test already in progress for this node", id);
      }
      running_.insert(id);
      revision = revisions_[id];
    }
    GONKA_LOG_INFO("admin api: ml node test started", {"node", id}, {"by", who});
    const TestResult result = RunTest(*node);
    std::string json = result.Json();
    {
      absl::MutexLock lock(&mu_);
      running_.erase(id);
      if (revisions_[id] == revision) last_[id] = json;
    }
    GONKA_LOG_INFO("admin api: ml node test done", {"node", id},
                   {"status", std::string(result.success ? "SUCCESS" : "FAILED")},
                   {"failing_model", result.failing_model}, {"error", result.error},
                   {"duration_ms", result.duration_ms});
    return HttpResponse::Json(200, std::move(json));
  }

  // GET /admin/v1/nodes/{id}/test (Gonka's getNodeTestResult).
  HttpResponse GetTest(const std::string& id) {
    absl::StatusOr<AdminNode> node = options_.store->Get(id);
    if (absl::IsNotFound(node.status())) return NodeError(404, node.status().message(), id);
    if (!node.ok()) return FromStatus(node.status());
    JsonWriter w;
    w.BeginObject().Key("node_id").String(id);
    absl::MutexLock lock(&mu_);
    w.Key("running").Bool(running_.count(id) > 0).Key("last");
    auto it = last_.find(id);
    if (it == last_.end()) {
      w.Null();
    } else {
      w.Raw(it->second);
    }
    return HttpResponse::Json(200, w.EndObject().Take());
  }

  // GET /admin/v1/nodes/{id}/launch-plan (Gonka's getNodeLaunchPlan): no ML-node call.
  HttpResponse LaunchPlan(const std::string& id) {
    absl::StatusOr<AdminNode> node = options_.store->Get(id);
    if (absl::IsNotFound(node.status())) return NodeError(404, node.status().message(), id);
    if (!node.ok()) return FromStatus(node.status());
    absl::StatusOr<std::vector<GovernanceModel>> governance = GovernanceModels();
    if (!governance.ok()) return NodeError(502, governance.status().message(), id);
    std::vector<ModelPlan> plans;
    std::vector<std::string> skipped;
    BuildPlans(*node, *governance, &plans, &skipped);
    JsonWriter w;
    w.BeginObject().Key("node_id").String(id).Key("plans").BeginArray();
    for (const ModelPlan& plan : plans) {
      w.BeginObject().Key("model_id").String(plan.model_id).Key("args").BeginArray();
      for (const std::string& arg : plan.args) w.String(arg);
      w.EndArray().EndObject();
    }
    w.EndArray();
    if (!skipped.empty()) {
      w.Key("skipped_models").BeginArray();
      for (const std::string& model : skipped) w.String(model);
      w.EndArray();
    }
    return HttpResponse::Json(200, w.EndObject().Take());
  }

 private:
  absl::StatusOr<std::vector<GovernanceModel>> GovernanceModels() {
    if (!options_.governance_models) {
      return absl::UnavailableError(
          "get governance models: this node-manager has no chain connection for them "
          "(--chain-grpc-address / --chain-rpc-url)");
    }
    absl::StatusOr<std::vector<GovernanceModel>> models = options_.governance_models();
    if (!models.ok()) {
      return absl::Status(models.status().code(),
                          absl::StrCat("get governance models: ", models.status().message()));
    }
    return models;
  }

  // Gonka's Invalidate: a stored result is not reported for a changed or deleted node.
  void Invalidate(const std::string& id) {
    absl::MutexLock lock(&mu_);
    ++revisions_[id];
    last_.erase(id);
  }

  // One ML-node request of the test; Unavailable/DeadlineExceeded for transport failures,
  // FailedPrecondition "answered <status>: <detail>" for a non-2xx answer.
  absl::StatusOr<net::HttpResponse> Call(const std::string& method, const std::string& url,
                                         std::string body, const std::string& token,
                                         absl::Time deadline) {
    net::HttpCallOptions call = net::HttpCallOptions::Deadline(deadline);
    if (!token.empty()) call.headers.Set("Authorization", absl::StrCat("Bearer ", token));
    if (method == "POST") call.headers.Set("Content-Type", "application/json");
    absl::StatusOr<net::HttpResponse> response = http_.Request(method, url, std::move(body), call);
    if (!response.ok()) return response.status();
    if (response->status < 200 || response->status > 299) {
      return absl::FailedPreconditionError(absl::StrCat(
          method, " ", url, ": answered ", response->status, ": ", Refusal(*response)));
    }
    return response;
  }

  absl::Time CallDeadline(absl::Time test_deadline) const {
    return std::min(test_deadline, absl::Now() + options_.ml_node_timeout);
  }

  // Gonka's MLNodeTester.runOnce: for each launch plan stop, inference/up (timed as the load),
  // health, one chat completion; stop at the end so the node is left idle.
  TestResult RunTest(const AdminNode& node) {
    TestResult result;
    result.node_id = node.id;
    result.started_at = absl::Now();
    const absl::Time deadline = result.started_at + options_.test_timeout;
    auto done = [&]() -> TestResult {
      result.duration_ms = MillisSince(result.started_at);
      return result;
    };
    absl::StatusOr<std::vector<GovernanceModel>> governance = GovernanceModels();
    if (!governance.ok()) {
      result.Fail("", std::string(governance.status().message()), true);
      return done();
    }
    std::vector<ModelPlan> plans;
    std::vector<std::string> skipped;
    BuildPlans(node, *governance, &plans, &skipped);
    if (plans.empty()) {
      result.Fail("", "no configured model is present in governance", false);
      return done();
    }
    std::string token;
    if (!node.auth_token_file.empty()) {
      absl::StatusOr<std::string> read = ReadSecretFile(node.auth_token_file, "auth_token_file");
      if (!read.ok()) {
        result.Fail("", std::string(read.status().message()), false);
        return done();
      }
      token = *read;
    }
    const std::string api = NodeUrl(node, node.poc_port, node.poc_segment, "");
    const std::string inference = NodeUrl(node, node.inference_port, node.inference_segment, "");
    // Reads through the node-manager's ML-node client; the test's commands go without it (they
    // carry no fencing token: they are not the leader's).
    absl::StatusOr<std::unique_ptr<mlnode::MlNodeClient>> client =
        mlnode::MlNodeClient::Create({.api_url = api,
                                      .inference_url = inference,
                                      .auth_token_file = node.auth_token_file,
                                      .name = "node-manager-admin"});
    if (!client.ok()) {
      result.Fail("", std::string(client.status().message()), false);
      return done();
    }
    for (const ModelPlan& plan : plans) {
      absl::Status stop =
          Call("POST", api + "/api/v1/stop", "", token, CallDeadline(deadline)).status();
      if (!stop.ok()) {
        result.Fail(plan.model_id,
                    absl::StrCat("failed to stop node before inference up: ", stop.message()),
                    true);
        break;
      }
      const absl::Time load_start = absl::Now();
      absl::Status up =
          Call("POST", api + "/api/v1/inference/up",
               mlnode::InferenceUpJson({.model = plan.model_id, .additional_args = plan.args}),
               token, deadline)
              .status();
      result.load_ms.emplace_back(plan.model_id, MillisSince(load_start));
      if (!up.ok()) {
        result.Fail(plan.model_id, std::string(up.message()), false);
        break;
      }
      const absl::Time health_start = absl::Now();
      absl::Status health = (*client)->InferenceHealth(CallDeadline(deadline));
      result.health_ms = MillisSince(health_start);
      if (!health.ok()) {
        result.Fail(plan.model_id, absl::StrCat("health check error: ", health.message()), true);
        break;
      }
      const absl::Time response_start = absl::Now();
      absl::Status answered = ChatCompletion(inference, plan.model_id, token, deadline);
      result.resp_ms = MillisSince(response_start);
      if (!answered.ok()) {
        result.Fail(plan.model_id, absl::StrCat("inference request error: ", answered.message()),
                    true);
        break;
      }
    }
    // Best effort, as Gonka: leave the node idle, not serving the last tested model.
    absl::Status cleanup =
        Call("POST", api + "/api/v1/stop", "", token, absl::Now() + absl::Seconds(10)).status();
    if (!cleanup.ok()) {
      GONKA_LOG_INFO("admin api: stop after the test failed", {"node", node.id},
                     {"error", std::string(cleanup.message())});
    }
    return done();
  }

  // One short OpenAI chat completion for `model` on the inference server; OK when it answers
  // 2xx with at least one choice.
  absl::Status ChatCompletion(const std::string& inference, const std::string& model,
                              const std::string& token, absl::Time deadline) {
    JsonWriter w;
    w.BeginObject()
        .Key("model")
        .String(model)
        .Key("messages")
        .BeginArray()
        .BeginObject()
        .Key("role")
        .String("user")
        .Key("content")
        .String("Reply with one word: ready")
        .EndObject()
        .EndArray()
        .Key("max_tokens")
        .Int(8)
        .Key("temperature")
        .Int(0)
        .EndObject();
    const std::string url = inference + "/v1/chat/completions";
    absl::StatusOr<net::HttpResponse> response = Call("POST", url, w.Take(), token, deadline);
    if (!response.ok()) return response.status();
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    simdjson::dom::array choices;
    if (parser.parse(response->body).get(doc) != simdjson::SUCCESS ||
        doc["choices"].get_array().get(choices) != simdjson::SUCCESS || choices.size() == 0) {
      return absl::InternalError(absl::StrCat("POST ", url, ": the answer has no \"choices\""));
    }
    return absl::OkStatus();
  }

  const AdminApiOptions options_;
  net::HttpClient http_{{.name = "node-manager-admin"}};
  absl::Mutex mu_;
  std::set<std::string> running_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> last_ ABSL_GUARDED_BY(mu_);  // id → TestResult JSON
  std::map<std::string, uint64_t> revisions_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

std::vector<std::string> MergeModelArgs(const std::vector<std::string>& governance,
                                        const std::vector<std::string>& local) {
  std::set<std::string> governed;
  for (const std::string& token : governance) {
    absl::string_view name = OptionName(token);
    if (!name.empty()) governed.insert(std::string(name));
  }
  std::vector<std::string> merged = governance;
  bool dropping = false;  // inside a local option governance already sets
  for (const std::string& token : local) {
    absl::string_view name = OptionName(token);
    if (!name.empty()) dropping = governed.count(std::string(name)) > 0;
    if (!dropping) merged.push_back(token);
  }
  return merged;
}

GovernanceModelsFn ChainGovernanceModels(std::shared_ptr<chain::InferenceQueryClient> queries) {
  return [queries]() -> absl::StatusOr<std::vector<GovernanceModel>> {
    absl::StatusOr<::inference::inference::QueryModelsAllResponse> all = queries->ModelsAll();
    if (!all.ok()) return all.status();
    std::vector<GovernanceModel> models;
    for (const ::inference::inference::Model& model : all->model()) {
      models.push_back({model.id(), std::vector<std::string>(model.model_args().begin(),
                                                             model.model_args().end())});
    }
    return models;
  };
}

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
  server->Handle("GET", "/admin/v1/nodes/upgrade-status", [api](const HttpRequest& request) {
    return api->Guarded(request, [&](const std::string&) { return api->UpgradeStatus(); });
  });
  server->Handle("POST", "/admin/v1/nodes/version-status", [api](const HttpRequest& request) {
    return api->Guarded(request, [&](const std::string&) { return api->VersionStatus(request); });
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
  // POST nodes/{id}/test answers when the test is over (a model load can take minutes).
  server_options.request_timeout = options.test_timeout + absl::Minutes(1);
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
  if (!options.chain.grpc_address.empty() || !options.chain.rpc_url.empty()) {
    admin->queries_ = std::make_shared<chain::InferenceQueryClient>(options.chain);
  }
  AddAdminRoutes(
      admin->server_.get(),
      {.store = admin->store_.get(),
       .authenticate = auth ? MakeHttpAuthenticator(auth, false, "admin API", "--admin-token-file")
                            : HttpAuthenticator(),
       .governance_models =
           admin->queries_ ? ChainGovernanceModels(admin->queries_) : GovernanceModelsFn(),
       .upgrade_plan = options.upgrade_plan,
       .ml_node_timeout = options.ml_node_timeout,
       .test_timeout = options.test_timeout});
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
