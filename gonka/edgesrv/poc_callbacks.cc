#include "gonka/edgesrv/poc_callbacks.h"

#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <climits>
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gonka/base/json.h"
#include "gonka/base/metrics.h"
#include "gonka/crypto/hash.h"
#include "gonka/crypto/key.h"
#include "gonka/crypto/secp256k1.h"
#include "gonka/net/http_server.h"
#include "simdjson.h"

namespace gonka {
namespace edgesrv {
namespace {

constexpr char kGenerated[] = "generated";
constexpr char kValidated[] = "validated";

prometheus::Family<prometheus::Counter>& Requests() {
  static auto& family = prometheus::BuildCounter()
                            .Name("gonka_edgesrv_requests_total")
                            .Help("PoC callbacks answered, by route and HTTP status")
                            .Register(metrics::Registry());
  return family;
}

prometheus::Family<prometheus::Counter>& Rejections() {
  static auto& family = prometheus::BuildCounter()
                            .Name("gonka_edgesrv_rejections_total")
                            .Help("PoC callbacks refused, by route and reason")
                            .Register(metrics::Registry());
  return family;
}

prometheus::Counter& ArtifactsStored() {
  static auto& counter = prometheus::BuildCounter()
                             .Name("gonka_edgesrv_artifacts_stored_total")
                             .Help("PoC artifacts newly stored (duplicate nonces not counted)")
                             .Register(metrics::Registry())
                             .Add({});
  return counter;
}

prometheus::Family<prometheus::Counter>& Validations() {
  static auto& family = prometheus::BuildCounter()
                            .Name("gonka_edgesrv_validations_total")
                            .Help("Validation votes recorded for the tx queue (sent, duplicate)")
                            .Register(metrics::Registry());
  return family;
}

prometheus::Family<prometheus::Counter>& Abstentions() {
  static auto& family = prometheus::BuildCounter()
                            .Name("gonka_edgesrv_abstentions_total")
                            .Help(
                                "Validation results answered 200 and not sent because the "
                                "validation was incomplete, by reason")
                            .Register(metrics::Registry());
  return family;
}

prometheus::Histogram& Duration(const char* route) {
  static auto& family = prometheus::BuildHistogram()
                            .Name("gonka_edgesrv_batch_duration_seconds")
                            .Help("PoC callback handling time, request to answer, by route")
                            .Register(metrics::Registry());
  return family.Add({{"route", route}}, metrics::LatencyBuckets());
}

net::HttpResponse Answer(const char* route, net::HttpResponse response) {
  Requests().Add({{"route", route}, {"code", absl::StrCat(response.status)}}).Increment();
  return response;
}

net::HttpResponse Refuse(const char* route, int status, const char* reason,
                         absl::string_view message) {
  Rejections().Add({{"route", route}, {"reason", reason}}).Increment();
  JsonWriter w;
  w.BeginObject().Key("error").String(message).EndObject();
  return Answer(route, net::HttpResponse::Json(status, w.Take()));
}

// Observes the handling time of one request on destruction.
class Timer {
 public:
  explicit Timer(const char* route) : route_(route), start_(absl::Now()) {}
  ~Timer() { Duration(route_).Observe(absl::ToDoubleSeconds(absl::Now() - start_)); }

 private:
  const char* route_;
  absl::Time start_;
};

// The phase gate shared by both routes: empty when `want` holds now.
std::optional<net::HttpResponse> Gate(const char* route, const StageFn& stage, bool validating,
                                      StageWindow* window) {
  absl::StatusOr<StageWindow> w = stage();
  if (!w.ok()) return Refuse(route, 503, kReasonPhaseUnknown, w.status().message());
  *window = *w;
  const bool open = validating ? w->validating : w->generating;
  if (!open) {
    return Refuse(route, 503, kReasonOutOfPhase,
                  absl::StrCat("not in the PoC ", validating ? "validation" : "generation",
                               " phase (height ", w->height, ", phase ", w->phase, ")"));
  }
  return std::nullopt;
}

}  // namespace

const char* AbstainReason(int64_t n_nan_steps, int64_t n_excluded) {
  if (n_nan_steps > 0 && n_excluded > 0) return kAbstainBoth;
  if (n_nan_steps > 0) return kAbstainNanSteps;
  if (n_excluded > 0) return kAbstainExcluded;
  return nullptr;
}

PocCallbacks::PocCallbacks(pocstore::ArtifactStore* store, StageFn stage,
                           PocCallbacksOptions options)
    : store_(store), stage_(std::move(stage)), options_(std::move(options)) {}

void PocCallbacks::AddRoutes(net::HttpServer* server) {
  server->Handle("POST", "/v2/poc-batches/*",
                 [this](const net::HttpRequest& request) { return Handle(request); });
}

net::HttpResponse PocCallbacks::Handle(const net::HttpRequest& request) {
  // /v2/poc-batches/<model escaped twice>/{generated,validated}
  std::vector<std::string> parts = absl::StrSplit(request.path, '/');
  if (parts.size() != 5 || parts[1] != "v2" || parts[2] != "poc-batches" || parts[3].empty() ||
      (parts[4] != kGenerated && parts[4] != kValidated)) {
    return Refuse("unknown", 404, kReasonNotFound,
                  "not found: POST /v2/poc-batches/<model>/generated or /validated");
  }
  const std::string model = net::PathDecode(net::PathDecode(parts[3]));
  if (parts[4] == kGenerated) {
    Timer timer(kGenerated);
    return Generated(model, request);
  }
  Timer timer(kValidated);
  return Validated(model, request);
}

std::optional<net::HttpResponse> PocCallbacks::CheckNode(const char* route, int64_t node_id) {
  int64_t limit = options_.max_node_id;
  if (options_.node_count) {
    absl::StatusOr<int> count = options_.node_count();
    if (!count.ok()) {
      return Refuse(route, 503, kReasonStore,
                    absl::StrCat("the ML node list cannot be read: ", count.status().message()));
    }
    limit = *count;
  }
  if (node_id < 0 || node_id >= limit) {
    return Refuse(route, 400, kReasonNode,
                  absl::StrCat("node_id: ", node_id, " is not one of this participant's ", limit,
                               " ML nodes"));
  }
  return std::nullopt;
}

net::HttpResponse PocCallbacks::Generated(const std::string& model,
                                          const net::HttpRequest& request) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(request.body).get(doc) != simdjson::SUCCESS || !doc.is_object()) {
    return Refuse(kGenerated, 400, kReasonBody, "body: not a JSON object");
  }
  int64_t block_height = 0, node_id = 0;
  if (doc["block_height"].get_int64().get(block_height) != simdjson::SUCCESS) {
    return Refuse(kGenerated, 400, kReasonBody, "block_height: required integer");
  }
  if (doc["node_id"].get_int64().get(node_id) != simdjson::SUCCESS) {
    return Refuse(kGenerated, 400, kReasonBody, "node_id: required integer");
  }
  simdjson::dom::array artifacts;
  if (doc["artifacts"].get_array().get(artifacts) != simdjson::SUCCESS) {
    return Refuse(kGenerated, 400, kReasonBody, "artifacts: required array");
  }
  // The vector length the batch's encoding implies (fp16: 2 bytes per dimension).
  size_t want_bytes = options_.vector_bytes;
  simdjson::dom::object encoding;
  if (doc["encoding"].get_object().get(encoding) == simdjson::SUCCESS) {
    int64_t k_dim = 0;
    std::string_view dtype;
    if (encoding["k_dim"].get_int64().get(k_dim) == simdjson::SUCCESS &&
        encoding["dtype"].get_string().get(dtype) == simdjson::SUCCESS && dtype == "f16") {
      if (k_dim <= 0 || k_dim > 1 << 20) {
        return Refuse(kGenerated, 400, kReasonBody, "encoding.k_dim: must be in [1, 2^20]");
      }
      if (want_bytes > 0 && want_bytes != static_cast<size_t>(k_dim) * 2) {
        return Refuse(kGenerated, 400, kReasonVectorLength,
                      absl::StrCat("encoding.k_dim: ", k_dim, " f16 values are not the ",
                                   want_bytes, " bytes this node expects"));
      }
      want_bytes = static_cast<size_t>(k_dim) * 2;
    }
  }

  StageWindow window;
  if (auto refused = Gate(kGenerated, stage_, /*validating=*/false, &window)) return *refused;
  if (block_height != window.poc_start) {
    return Refuse(kGenerated, 400, kReasonStage,
                  absl::StrCat("block_height: ", block_height, " is not the active PoC stage ",
                               window.poc_start));
  }
  // The batch must answer this participant's stage: the key and the start block's hash the
  // node-manager gave the ML node in init/generate. A batch from an ML node set up for another
  // participant or stage would put artifacts into the store that fail every validator's check.
  if (!options_.public_key.empty()) {
    std::string_view public_key;
    if (doc["public_key"].get_string().get(public_key) != simdjson::SUCCESS) {
      return Refuse(kGenerated, 400, kReasonBody, "public_key: required string");
    }
    if (!absl::EqualsIgnoreCase(absl::string_view(public_key.data(), public_key.size()),
                                options_.public_key)) {
      return Refuse(kGenerated, 400, kReasonPublicKey,
                    "public_key: not this participant's key (the one its node-manager sends "
                    "the ML nodes)");
    }
  }
  if (options_.check_block_hash && !window.poc_start_hash.empty()) {
    std::string_view block_hash;
    if (doc["block_hash"].get_string().get(block_hash) != simdjson::SUCCESS) {
      return Refuse(kGenerated, 400, kReasonBody, "block_hash: required string");
    }
    if (!absl::EqualsIgnoreCase(absl::string_view(block_hash.data(), block_hash.size()),
                                window.poc_start_hash)) {
      return Refuse(kGenerated, 400, kReasonBlockHash,
                    absl::StrCat("block_hash: not the hash of the active stage's start block ",
                                 window.poc_start));
    }
  }
  if (auto refused = CheckNode(kGenerated, node_id)) return *refused;
  if (artifacts.size() > options_.max_artifacts) {
    return Refuse(kGenerated, 400, kReasonTooMany,
                  absl::StrCat("artifacts: at most ", options_.max_artifacts, " per batch"));
  }

  std::vector<pocstore::Artifact> batch;
  batch.reserve(artifacts.size());
  size_t i = 0;
  const std::string node = absl::StrCat(node_id);
  for (simdjson::dom::element a : artifacts) {
    int64_t nonce = 0;
    std::string_view b64;
    if (a["nonce"].get_int64().get(nonce) != simdjson::SUCCESS || nonce < INT32_MIN ||
        nonce > INT32_MAX) {
      return Refuse(kGenerated, 400, kReasonNonce,
                    absl::StrCat("artifacts[", i, "].nonce: required int32"));
    }
    pocstore::Artifact artifact;
    if (a["vector_b64"].get_string().get(b64) != simdjson::SUCCESS ||
        !absl::Base64Unescape(absl::string_view(b64.data(), b64.size()), &artifact.vector) ||
        artifact.vector.empty()) {
      return Refuse(kGenerated, 400, kReasonVector,
                    absl::StrCat("artifacts[", i, "].vector_b64: required non-empty base64"));
    }
    if (want_bytes > 0 && artifact.vector.size() != want_bytes) {
      return Refuse(kGenerated, 400, kReasonVectorLength,
                    absl::StrCat("artifacts[", i, "].vector_b64: ", artifact.vector.size(),
                                 " bytes, want ", want_bytes));
    }
    artifact.nonce = static_cast<int32_t>(nonce);
    artifact.node = node;
    batch.push_back(std::move(artifact));
    ++i;
  }

  absl::StatusOr<int64_t> stored =
      store_->Append(static_cast<uint64_t>(block_height), model, batch);
  if (!stored.ok()) {
    return Refuse(kGenerated, 503, kReasonStore,
                  absl::StrCat("artifact store: ", stored.status().message()));
  }
  stored_ += *stored;
  ArtifactsStored().Increment(static_cast<double>(*stored));
  return Answer(kGenerated, net::HttpResponse::Text(200, ""));
}

net::HttpResponse PocCallbacks::Validated(const std::string& model,
                                          const net::HttpRequest& request) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(request.body).get(doc) != simdjson::SUCCESS || !doc.is_object()) {
    return Refuse(kValidated, 400, kReasonBody, "body: not a JSON object");
  }
  int64_t block_height = 0, n_total = 0, node_id = -1;
  bool fraud = false;
  std::string_view public_key_hex;
  if (doc["block_height"].get_int64().get(block_height) != simdjson::SUCCESS) {
    return Refuse(kValidated, 400, kReasonBody, "block_height: required integer");
  }
  if (doc["public_key"].get_string().get(public_key_hex) != simdjson::SUCCESS) {
    return Refuse(kValidated, 400, kReasonBody, "public_key: required string");
  }
  if (doc["n_total"].get_int64().get(n_total) != simdjson::SUCCESS) {
    return Refuse(kValidated, 400, kReasonBody, "n_total: required integer");
  }
  if (doc["fraud_detected"].get_bool().get(fraud) != simdjson::SUCCESS) {
    return Refuse(kValidated, 400, kReasonBody, "fraud_detected: required boolean");
  }
  simdjson::dom::element node_field;
  const bool has_node = doc["node_id"].get(node_field) == simdjson::SUCCESS;
  if (has_node && node_field.get_int64().get(node_id) != simdjson::SUCCESS) {
    return Refuse(kValidated, 400, kReasonBody, "node_id: must be an integer");
  }

  // Newer ML nodes report how many sampled nonces they could not judge: n_nan_steps (a step of
  // the recomputation gave NaN) and n_excluded (nonces left out). Optional, default 0.
  int64_t n_nan_steps = 0, n_excluded = 0;
  for (auto [name, out] : {std::pair<const char*, int64_t*>{"n_nan_steps", &n_nan_steps},
                           std::pair<const char*, int64_t*>{"n_excluded", &n_excluded}}) {
    simdjson::dom::element field;
    if (doc[name].get(field) != simdjson::SUCCESS || field.is_null()) continue;
    if (field.get_int64().get(*out) != simdjson::SUCCESS || *out < 0) {
      return Refuse(kValidated, 400, kReasonBody,
                    absl::StrCat(name, ": must be a non-negative integer"));
    }
  }

  StageWindow window;
  if (auto refused = Gate(kValidated, stage_, /*validating=*/true, &window)) return *refused;
  // Gonka abstains on an incomplete validation right after its phase gate: 200, nothing sent,
  // so the validated participant gets no vote from us rather than a wrong one.
  if (const char* reason = AbstainReason(n_nan_steps, n_excluded)) {
    Abstentions().Add({{"reason", reason}}).Increment();
    return Answer(kValidated, net::HttpResponse::Text(200, ""));
  }
  if (block_height != window.poc_start) {
    return Refuse(kValidated, 400, kReasonStage,
                  absl::StrCat("block_height: ", block_height, " is not the active PoC stage ",
                               window.poc_start));
  }
  if (has_node) {
    if (auto refused = CheckNode(kValidated, node_id)) return *refused;
  }
  // Gonka: the validated participant's address from the hex public key (PubKeyHexToAddress).
  std::string key_bytes;
  absl::StatusOr<std::string> participant = absl::InvalidArgumentError("not hex");
  if (crypto::HexDecode(absl::string_view(public_key_hex.data(), public_key_hex.size()),
                        "public_key", &key_bytes)
          .ok()) {
    absl::StatusOr<crypto::PublicKey> key = crypto::PublicKey::FromBytes(key_bytes);
    participant = key.ok() ? crypto::AddressFromPublicKey(*key, options_.prefix) : key.status();
  }
  if (!participant.ok()) {
    return Refuse(kValidated, 400, kReasonPublicKey,
                  "public_key: not the hex of a 33-byte secp256k1 public key");
  }
  if (!options_.validations) {
    return Refuse(kValidated, 503, kReasonNotConfigured,
                  "validation results are not accepted here (no participant or tx queue "
                  "configured)");
  }
  ValidationResult result{.poc_start = block_height,
                          .model = model,
                          .participant = *participant,
                          .validated_weight = (fraud || n_total <= 0) ? -1 : n_total};
  absl::StatusOr<ValidationSendResult> sent = options_.validations(result);
  if (!sent.ok()) {
    if (absl::IsInvalidArgument(sent.status())) {
      return Refuse(kValidated, 400, kReasonBody, sent.status().message());
    }
    return Refuse(kValidated, 503, kReasonQueue,
                  absl::StrCat("tx queue: ", sent.status().message()));
  }
  Validations().Add({{"result", sent->duplicate ? "duplicate" : "sent"}}).Increment();
  return Answer(kValidated, net::HttpResponse::Text(200, ""));
}

}  // namespace edgesrv
}  // namespace gonka
