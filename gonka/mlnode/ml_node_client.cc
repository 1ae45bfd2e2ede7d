#include "gonka/mlnode/ml_node_client.h"

#include <simdjson.h>

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "gonka/base/json.h"
#include "gonka/base/secret_file.h"
#include "gonka/base/status_macros.h"
#include "gonka/net/http_client.h"
#include "gonka/net/http_message.h"
#include "gonka/net/url.h"

namespace gonka {
namespace mlnode {
namespace {

namespace dom = simdjson::dom;

constexpr size_t kMaxDetail = 200;
constexpr size_t kMaxAnswerBytes = 4 << 20;

std::string Number(double value) { return absl::StrFormat("%.15g", value); }

void WriteParams(JsonWriter& w, const PocParams& p) {
  w.Key("params").BeginObject().Key("model").String(p.model).Key("seq_len").Int(p.seq_len);
  if (p.decode) w.Key("decode").Bool(true);
  if (p.max_tokens > 0) w.Key("max_tokens").Int(p.max_tokens);
  w.EndObject();
}

// The printable, bounded `detail` / `error` / `message` string of a JSON error answer; "" when
// the body is not such JSON. Never the raw body: an ML node (or a proxy before it) may echo a
// request, and requests can carry tokens.
std::string ErrorDetail(const std::string& body) {
  dom::parser parser;
  dom::element root;
  if (parser.parse(body).get(root) != simdjson::SUCCESS) return "";
  for (const char* key : {"detail", "error", "message"}) {
    std::string_view text;
    if (root[key].get_string().get(text) == simdjson::SUCCESS) {
      std::string out;
      for (char c : text.substr(0, kMaxDetail)) out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
      if (text.size() > kMaxDetail) out += "...";
      return out;
    }
  }
  return "";
}

std::string Bounded(std::string_view text) {
  std::string out(text.substr(0, 64));
  if (text.size() > 64) out += "...";
  return out;
}

class HttpMlNodeClient final : public MlNodeClient {
 public:
  HttpMlNodeClient(MlNodeClientOptions options, std::string token)
      : options_(std::move(options)),
        token_(std::move(token)),
        http_({.name = options_.name, .max_body_bytes = kMaxAnswerBytes}) {}

  absl::StatusOr<NodeState> GetState(absl::Time deadline) override {
    constexpr char kPath[] = "/api/v1/state";
    ASSIGN_OR_RETURN(std::string body, Call("GET", options_.api_url, kPath, "", nullptr, deadline));
    dom::parser parser;
    ASSIGN_OR_RETURN(dom::element root, ParseObject(parser, "GET", kPath, body));
    std::string_view state;
    if (root["state"].get_string().get(state) != simdjson::SUCCESS) {
      return Garbage("GET", kPath, "field 'state' missing or not a string");
    }
    for (NodeState s :
         {NodeState::kInference, NodeState::kPow, NodeState::kTrain, NodeState::kStopped}) {
      if (absl::string_view(state.data(), state.size()) == NodeStateName(s)) return s;
    }
    return Garbage("GET", kPath,
                   absl::StrCat("field 'state': unknown value \"", Bounded(state),
                                "\" (want INFERENCE, POW, TRAIN or STOPPED)"));
  }

  absl::StatusOr<PowStatus> GetPowStatus(absl::Time deadline) override {
    constexpr char kPath[] = "/api/v1/inference/pow/status";
    ASSIGN_OR_RETURN(std::string body, Call("GET", options_.api_url, kPath, "", nullptr, deadline));
    dom::parser parser;
    ASSIGN_OR_RETURN(dom::element root, ParseObject(parser, "GET", kPath, body));
    std::string_view status;
    if (root["status"].get_string().get(status) != simdjson::SUCCESS || status.empty()) {
      return Garbage("GET", kPath, "field 'status' missing or not a string");
    }
    return PowStatus{std::string(status)};
  }

  absl::Status InferenceHealth(absl::Time deadline) override {
    RETURN_IF_ERROR(RequireInferenceUrl("/health"));
    return Call("GET", options_.inference_url, "/health", "", nullptr, deadline).status();
  }

  absl::StatusOr<std::vector<std::string>> Models(absl::Time deadline) override {
    constexpr char kPath[] = "/v1/models";
    RETURN_IF_ERROR(RequireInferenceUrl(kPath));
    ASSIGN_OR_RETURN(std::string body,
                     Call("GET", options_.inference_url, kPath, "", nullptr, deadline));
    dom::parser parser;
    ASSIGN_OR_RETURN(dom::element root, ParseObject(parser, "GET", kPath, body));
    dom::array data;
    if (root["data"].get_array().get(data) != simdjson::SUCCESS) {
      return Garbage("GET", kPath, "field 'data' missing or not an array");
    }
    std::vector<std::string> ids;
    for (dom::element model : data) {
      std::string_view id;
      if (model["id"].get_string().get(id) != simdjson::SUCCESS) {
        return Garbage("GET", kPath, "field 'data[].id' missing or not a string");
      }
      ids.emplace_back(id);
    }
    return ids;
  }

  absl::StatusOr<InitGenerateResponse> InitGenerate(const InitGenerateRequest& request,
                                                    const Fence& fence,
                                                    absl::Time deadline) override {
    constexpr char kPath[] = "/api/v1/inference/pow/init/generate";
    ASSIGN_OR_RETURN(std::string body, Call("POST", options_.api_url, kPath,
                                            InitGenerateJson(request), &fence, deadline));
    dom::parser parser;
    ASSIGN_OR_RETURN(dom::element root, ParseObject(parser, "POST", kPath, body));
    std::string_view status;
    if (root["status"].get_string().get(status) != simdjson::SUCCESS) {
      return Garbage("POST", kPath, "field 'status' missing or not a string");
    }
    return InitGenerateResponse{std::string(status)};
  }

  absl::StatusOr<GenerateResponse> Generate(const GenerateRequest& request, const Fence& fence,
                                            absl::Time deadline) override {
    constexpr char kPath[] = "/api/v1/inference/pow/generate";
    ASSIGN_OR_RETURN(std::string body, Call("POST", options_.api_url, kPath, GenerateJson(request),
                                            &fence, deadline));
    dom::parser parser;
    ASSIGN_OR_RETURN(dom::element root, ParseObject(parser, "POST", kPath, body));
    GenerateResponse out;
    std::string_view text;
    if (root["status"].get_string().get(text) != simdjson::SUCCESS) {
      return Garbage("POST", kPath, "field 'status' missing or not a string");
    }
    out.status = std::string(text);
    if (root["request_id"].get_string().get(text) == simdjson::SUCCESS) {
      out.request_id = std::string(text);
    }
    return out;
  }

  absl::Status StopPow(const Fence& fence, absl::Time deadline) override {
    constexpr char kPath[] = "/api/v1/inference/pow/stop";
    ASSIGN_OR_RETURN(std::string body,
                     Call("POST", options_.api_url, kPath, "{}", &fence, deadline));
    dom::parser parser;
    return ParseObject(parser, "POST", kPath, body).status();
  }

  absl::Status InferenceUp(const InferenceUpRequest& request, const Fence& fence,
                           absl::Time deadline) override {
    constexpr char kPath[] = "/api/v1/inference/up";
    ASSIGN_OR_RETURN(std::string body, Call("POST", options_.api_url, kPath,
                                            InferenceUpJson(request), &fence, deadline));
    dom::parser parser;
    ASSIGN_OR_RETURN(dom::element root, ParseObject(parser, "POST", kPath, body));
    // Gonka's ML node answers a failed start with 200 {"status":"ERROR","message":...}
    // (mlnode/packages/api/src/api/inference/routes.py).
    std::string_view status;
    if (root["status"].get_string().get(status) == simdjson::SUCCESS && status == "ERROR") {
      std::string detail = ErrorDetail(body);
      return absl::UnavailableError(absl::StrCat("ml node POST ", kPath,
                                                 ": the node could not start the model",
                                                 detail.empty() ? "" : ": ", detail));
    }
    return absl::OkStatus();
  }

  absl::Status Stop(const Fence& fence, absl::Time deadline) override {
    constexpr char kPath[] = "/api/v1/stop";
    ASSIGN_OR_RETURN(std::string body,
                     Call("POST", options_.api_url, kPath, "{}", &fence, deadline));
    dom::parser parser;
    return ParseObject(parser, "POST", kPath, body).status();
  }

 private:
  absl::Status RequireInferenceUrl(absl::string_view path) const {
    if (!options_.inference_url.empty()) return absl::OkStatus();
    return absl::FailedPreconditionError(
        absl::StrCat("ml node GET ", path, ": no inference_url configured"));
  }

  static absl::Status Garbage(absl::string_view method, absl::string_view path,
                              absl::string_view what) {
    return absl::InternalError(absl::StrCat("ml node ", method, " ", path, ": ", what));
  }

  static absl::StatusOr<dom::element> ParseObject(dom::parser& parser, absl::string_view method,
                                                  absl::string_view path, const std::string& body) {
    dom::element root;
    if (simdjson::error_code e = parser.parse(body).get(root); e != simdjson::SUCCESS) {
      return Garbage(method, path,
                     absl::StrCat("answer is not JSON (", simdjson::error_message(e), ")"));
    }
    if (root.type() != dom::element_type::OBJECT) {
      return Garbage(method, path, "answer is not a JSON object");
    }
    return root;
  }

  // One request; the 2xx body or the error of the header contract.
  absl::StatusOr<std::string> Call(absl::string_view method, const std::string& base,
                                   absl::string_view path, std::string body, const Fence* fence,
                                   absl::Time deadline) {
    std::string where = absl::StrCat("ml node ", method, " ", path);
    net::HttpCallOptions call = net::HttpCallOptions::Deadline(deadline);
    if (fence != nullptr) {
      if (fence->token == 0) {
        return absl::InvalidArgumentError(absl::StrCat(where, ": fence token is 0 (required)"));
      }
      if (fence->idempotency_key.empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": fence idempotency_key is empty (required)"));
      }
      call.headers.Set(kFencingTokenHeader, absl::StrCat(fence->token));
      call.headers.Set(kIdempotencyKeyHeader, fence->idempotency_key);
    }
    if (!token_.empty()) call.headers.Set("Authorization", absl::StrCat("Bearer ", token_));
    std::string url = absl::StrCat(absl::StripSuffix(base, "/"), path);
    absl::StatusOr<net::HttpResponse> res =
        method == "GET" ? http_.Get(url, call)
                        : http_.Post(url, std::move(body), "application/json", call);
    if (!res.ok()) {
      // gonka/net's message names the method and URL already; keep its code (DeadlineExceeded,
      // Unavailable, ...), put the endpoint first.
      return absl::Status(res.status().code(), absl::StrCat(where, ": ", res.status().message()));
    }
    if (res->status >= 200 && res->status < 300) return std::move(res->body);
    std::string detail = ErrorDetail(res->body);
    std::string tail = detail.empty() ? "" : absl::StrCat(": ", detail);
    if (res->status >= 500) {
      return absl::UnavailableError(absl::StrCat(where, ": answered ", res->status, tail));
    }
    if (res->status == 409) {
      return absl::FailedPreconditionError(absl::StrCat(where, ": refused (409)", tail));
    }
    if (res->status == 401 || res->status == 403) {
      return absl::PermissionDeniedError(
          absl::StrCat(where, ": not authorized (", res->status, ")", tail));
    }
    return absl::InvalidArgumentError(absl::StrCat(where, ": rejected (", res->status, ")", tail));
  }

  const MlNodeClientOptions options_;
  const std::string token_;
  net::HttpClient http_;
};

absl::Status CheckUrl(const std::string& url, absl::string_view what) {
  absl::StatusOr<net::Url> parsed = net::ParseUrl(url);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("MlNodeClientOptions.", what, ": ", parsed.status().message()));
  }
  return absl::OkStatus();
}

// The stage fields both PoC requests start with (InitGenerateRequest, GenerateRequest).
template <typename StageRequest>
void WriteStage(JsonWriter& w, const StageRequest& r) {
  w.Key("block_hash")
      .String(r.block_hash)
      .Key("block_height")
      .Int(r.block_height)
      .Key("public_key")
      .String(r.public_key)
      .Key("node_id")
      .Int(r.node_id)
      .Key("node_count")
      .Int(r.node_count);
}

}  // namespace

absl::string_view NodeStateName(NodeState state) {
  switch (state) {
    case NodeState::kInference:
      return "INFERENCE";
    case NodeState::kPow:
      return "POW";
    case NodeState::kTrain:
      return "TRAIN";
    case NodeState::kStopped:
      return "STOPPED";
  }
  return "STOPPED";
}

std::string PocCallbackUrl(absl::string_view callback_base, absl::string_view model) {
  // Go's url.PathEscape leaves $ & + : = @ unescaped where net::UrlEncode escapes them; both
  // unescape to the same id, which is all the receiver looks at.
  return absl::StrCat(absl::StripSuffix(callback_base, "/"), "/v2/poc-batches/",
                      net::UrlEncode(net::UrlEncode(model)));
}

std::string InitGenerateJson(const InitGenerateRequest& r) {
  JsonWriter w;
  w.BeginObject();
  WriteStage(w, r);
  WriteParams(w, r.params);
  if (!r.url.empty()) w.Key("url").String(r.url);
  if (r.poc_stronger_rng) w.Key("poc_stronger_rng").Bool(true);
  return w.EndObject().Take();
}

std::string GenerateJson(const GenerateRequest& r) {
  JsonWriter w;
  w.BeginObject();
  WriteStage(w, r);
  w.Key("nonces").BeginArray();
  for (int64_t nonce : r.nonces) w.Int(nonce);
  w.EndArray();
  WriteParams(w, r.params);
  if (r.wait) w.Key("wait").Bool(true);
  if (!r.url.empty()) w.Key("url").String(r.url);
  if (r.validation.has_value()) {
    w.Key("validation").BeginObject().Key("artifacts").BeginArray();
    for (const Artifact& a : *r.validation) {
      w.BeginObject().Key("nonce").Int(a.nonce).Key("vector_b64").String(a.vector_b64).EndObject();
    }
    w.EndArray().EndObject();
  }
  if (r.stat_test.has_value()) {
    w.Key("stat_test")
        .BeginObject()
        .Key("dist_threshold")
        .Raw(Number(r.stat_test->dist_threshold))
        .Key("p_mismatch")
        .Raw(Number(r.stat_test->p_mismatch))
        .Key("p_value_threshold")
        .Raw(Number(r.stat_test->p_value_threshold))
        .EndObject();
  }
  if (r.poc_stronger_rng) w.Key("poc_stronger_rng").Bool(true);
  return w.EndObject().Take();
}

std::string InferenceUpJson(const InferenceUpRequest& r) {
  JsonWriter w;
  w.BeginObject().Key("model").String(r.model).Key("dtype").String(r.dtype);
  w.Key("additional_args").BeginArray();
  for (const std::string& arg : r.additional_args) w.String(arg);
  return w.EndArray().EndObject().Take();
}

absl::StatusOr<std::unique_ptr<MlNodeClient>> MlNodeClient::Create(MlNodeClientOptions options) {
  if (options.api_url.empty()) {
    return absl::InvalidArgumentError("MlNodeClientOptions.api_url: required");
  }
  RETURN_IF_ERROR(CheckUrl(options.api_url, "api_url"));
  if (!options.inference_url.empty()) {
    RETURN_IF_ERROR(CheckUrl(options.inference_url, "inference_url"));
  }
  std::string token;
  if (!options.auth_token_file.empty()) {
    ASSIGN_OR_RETURN(token, ReadSecretFile(options.auth_token_file, "ML node auth token file"));
  }
  return std::unique_ptr<MlNodeClient>(new HttpMlNodeClient(std::move(options), std::move(token)));
}

}  // namespace mlnode
}  // namespace gonka
