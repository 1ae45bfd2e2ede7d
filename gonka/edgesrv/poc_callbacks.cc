#include "gonka/edgesrv/poc_callbacks.h"

#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gonka/base/json.h"
#include "gonka/base/metrics.h"
#include "gonka/chain/comet_client.h"
#include "gonka/net/http_server.h"
#include "simdjson.h"

namespace gonka {
namespace edgesrv {
namespace {

prometheus::Family<prometheus::Counter>& Batches() {
  static auto& family = prometheus::BuildCounter()
                            .Name("gonka_edgesrv_poc_batches_total")
                            .Help("PoC artifact batches by result (stored, refused_<status>)")
                            .Register(metrics::Registry());
  return family;
}

prometheus::Counter& Artifacts() {
  static auto& counter = prometheus::BuildCounter()
                             .Name("gonka_edgesrv_poc_artifacts_total")
                             .Help("PoC artifacts newly stored (duplicates not counted)")
                             .Register(metrics::Registry())
                             .Add({});
  return counter;
}

net::HttpResponse Refuse(int status, absl::string_view message) {
  Batches().Add({{"result", absl::StrCat("refused_", status)}}).Increment();
  JsonWriter w;
  w.BeginObject().Key("error").String(message).EndObject();
  return net::HttpResponse::Json(status, w.Take());
}

}  // namespace

StageWindow WindowAt(const chain::EpochParams& p, int64_t height) {
  StageWindow w;
  w.height = height;
  chain::EpochSchedule s = chain::ScheduleAt(p, height);
  w.poc_start = s.poc_start_height;
  if (w.poc_start > 0) {
    const int64_t deadline = w.poc_start + p.poc_stage_duration + p.poc_exchange_duration;
    w.accepting = height >= w.poc_start && height <= deadline;
  }
  return w;
}

StageFn ChainStageFn(chain::CometClient* comet, chain::EpochParams params,
                     absl::Duration interval) {
  struct State {
    absl::Mutex mu;
    absl::Time polled = absl::InfinitePast();
    int64_t height = 0;
  };
  auto state = std::make_shared<State>();
  return [comet, params, interval, state]() -> absl::StatusOr<StageWindow> {
    absl::MutexLock lock(&state->mu);
    if (absl::Now() - state->polled >= interval) {
      absl::StatusOr<chain::CometStatus> status = comet->Status();
      if (!status.ok()) {
        return absl::UnavailableError(
            absl::StrCat("the chain's height cannot be read: ", status.status().message()));
      }
      state->height = status->latest_height;
      state->polled = absl::Now();
    }
    return WindowAt(params, state->height);
  };
}

PocCallbacks::PocCallbacks(pocstore::ArtifactStore* store, StageFn stage,
                           PocCallbacksOptions options)
    : store_(store), stage_(std::move(stage)), options_(options) {}

void PocCallbacks::AddRoutes(net::HttpServer* server) {
  server->Handle("POST", "/v2/poc-batches/*",
                 [this](const net::HttpRequest& request) { return Handle(request); });
}

net::HttpResponse PocCallbacks::Handle(const net::HttpRequest& request) {
  // /v2/poc-batches/<model escaped twice>/generated
  std::vector<std::string> parts = absl::StrSplit(request.path, '/');
  if (parts.size() != 5 || parts[1] != "v2" || parts[2] != "poc-batches" ||
      parts[4] != "generated" || parts[3].empty()) {
    return Refuse(404, "not found: POST /v2/poc-batches/<model>/generated");
  }
  const std::string model = net::PathDecode(net::PathDecode(parts[3]));

  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(request.body).get(doc) != simdjson::SUCCESS || !doc.is_object()) {
    return Refuse(400, "body: not a JSON object");
  }
  int64_t block_height = 0, node_id = 0;
  if (doc["block_height"].get_int64().get(block_height) != simdjson::SUCCESS) {
    return Refuse(400, "block_height: required integer");
  }
  if (doc["node_id"].get_int64().get(node_id) != simdjson::SUCCESS || node_id < 0 ||
      node_id >= options_.max_node_id) {
    return Refuse(400,
                  absl::StrCat("node_id: required integer in [0, ", options_.max_node_id, ")"));
  }
  simdjson::dom::array artifacts;
  if (doc["artifacts"].get_array().get(artifacts) != simdjson::SUCCESS) {
    return Refuse(400, "artifacts: required array");
  }
  if (artifacts.size() > options_.max_artifacts) {
    return Refuse(400, absl::StrCat("artifacts: at most ", options_.max_artifacts, " per batch"));
  }
  std::vector<pocstore::Artifact> batch;
  batch.reserve(artifacts.size());
  size_t i = 0;
  for (simdjson::dom::element a : artifacts) {
    int64_t nonce = 0;
    std::string_view b64;
    if (a["nonce"].get_int64().get(nonce) != simdjson::SUCCESS || nonce < INT32_MIN ||
        nonce > INT32_MAX) {
      return Refuse(400, absl::StrCat("artifacts[", i, "].nonce: required int32"));
    }
    pocstore::Artifact artifact;
    if (a["vector_b64"].get_string().get(b64) != simdjson::SUCCESS ||
        !absl::Base64Unescape(absl::string_view(b64.data(), b64.size()), &artifact.vector) ||
        artifact.vector.empty()) {
      return Refuse(400, absl::StrCat("artifacts[", i, "].vector_b64: required base64"));
    }
    artifact.nonce = static_cast<int32_t>(nonce);
    artifact.node = absl::StrCat(node_id);
    batch.push_back(std::move(artifact));
    ++i;
  }

  absl::StatusOr<StageWindow> window = stage_();
  if (!window.ok()) return Refuse(503, window.status().message());
  if (!window->accepting) {
    return Refuse(503,
                  absl::StrCat("not in a PoC generation window (height ", window->height, ")"));
  }
  if (block_height != window->poc_start) {
    return Refuse(400, absl::StrCat("block_height: ", block_height, " is not the active PoC stage ",
                                    window->poc_start));
  }
  absl::StatusOr<int64_t> stored =
      store_->Append(static_cast<uint64_t>(block_height), model, batch);
  if (!stored.ok()) return Refuse(503, absl::StrCat("artifact store: ", stored.status().message()));
  stored_ += *stored;
  Artifacts().Increment(static_cast<double>(*stored));
  Batches().Add({{"result", "stored"}}).Increment();
  return net::HttpResponse::Text(200, "");
}

}  // namespace edgesrv
}  // namespace gonka
