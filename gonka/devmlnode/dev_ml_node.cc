#include "gonka/devmlnode/dev_ml_node.h"

#include <simdjson.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "gonka/base/json.h"
#include "gonka/base/log.h"
#include "gonka/base/metrics.h"
#include "gonka/crypto/hash.h"
#include "gonka/net/http_client.h"

namespace gonka {
namespace devmlnode {
namespace {

namespace dom = simdjson::dom;
using net::HttpRequest;
using net::HttpResponse;

constexpr char kFencingTokenHeader[] = "X-Gonka-Fencing-Token";
constexpr char kIdempotencyKeyHeader[] = "X-Gonka-Idempotency-Key";
constexpr size_t kMaxRecords = 10000;
constexpr size_t kMaxIdempotencyKeys = 10000;
constexpr int64_t kMaxNonces = 100000;

HttpResponse Detail(int status, absl::string_view detail) {
  return HttpResponse::Json(status, absl::StrCat("{\"detail\":", JsonQuote(detail), "}"));
}

// A field error: 400 {"detail":"<field>: <what>"}.
struct FieldError {
  std::string field;
  std::string what;
};

// Typed reads of one JSON object's fields; the first failure is kept and names the field.
class Fields {
 public:
  Fields(dom::object object, std::string prefix) : object_(object), prefix_(std::move(prefix)) {}

  std::string String(const char* key, bool required) {
    dom::element e;
    if (object_[key].get(e) != simdjson::SUCCESS || e.is_null()) {
      if (required) Fail(key, "required string");
      return "";
    }
    std::string_view s;
    if (e.get_string().get(s) != simdjson::SUCCESS) {
      Fail(key, "must be a string");
      return "";
    }
    if (required && s.empty()) Fail(key, "must not be empty");
    return std::string(s);
  }

  int64_t Int(const char* key, bool required, int64_t min, int64_t max, int64_t fallback = 0) {
    dom::element e;
    if (object_[key].get(e) != simdjson::SUCCESS || e.is_null()) {
      if (required) Fail(key, absl::StrCat("required integer in [", min, ", ", max, "]"));
      return fallback;
    }
    int64_t v = 0;
    if (e.get_int64().get(v) != simdjson::SUCCESS || v < min || v > max) {
      Fail(key, absl::StrCat("must be an integer in [", min, ", ", max, "]"));
      return fallback;
    }
    return v;
  }

  double Double(const char* key, double fallback) {
    dom::element e;
    if (object_[key].get(e) != simdjson::SUCCESS || e.is_null()) return fallback;
    double v = 0;
    if (e.get_double().get(v) != simdjson::SUCCESS) {
      Fail(key, "must be a number");
      return fallback;
    }
    return v;
  }

  bool Bool(const char* key) {
    dom::element e;
    if (object_[key].get(e) != simdjson::SUCCESS || e.is_null()) return false;
    bool v = false;
    if (e.get_bool().get(v) != simdjson::SUCCESS) Fail(key, "must be true or false");
    return v;
  }

  std::optional<dom::object> Object(const char* key, bool required) {
    dom::element e;
    if (object_[key].get(e) != simdjson::SUCCESS || e.is_null()) {
      if (required) Fail(key, "required object");
      return std::nullopt;
    }
    dom::object o;
    if (e.get_object().get(o) != simdjson::SUCCESS) {
      Fail(key, "must be an object");
      return std::nullopt;
    }
    return o;
  }

  std::optional<dom::array> Array(const char* key, bool required) {
    dom::element e;
    if (object_[key].get(e) != simdjson::SUCCESS || e.is_null()) {
      if (required) Fail(key, "required array");
      return std::nullopt;
    }
    dom::array a;
    if (e.get_array().get(a) != simdjson::SUCCESS) {
      Fail(key, "must be an array");
      return std::nullopt;
    }
    return a;
  }

  void Fail(absl::string_view key, absl::string_view what) {
    if (!error_) error_ = FieldError{absl::StrCat(prefix_, key), std::string(what)};
  }
  void Absorb(const Fields& inner) {
    if (!error_ && inner.error_) error_ = inner.error_;
  }
  const std::optional<FieldError>& error() const { return error_; }

 private:
  dom::object object_;
  std::string prefix_;
  std::optional<FieldError> error_;
};

struct Stage {
  std::string block_hash;
  int64_t block_height = 0;
  std::string public_key;
  int64_t node_id = 0;
  int64_t node_count = 1;
  std::string model;
  std::string url;
  bool operator==(const Stage& o) const {
    return block_hash == o.block_hash && block_height == o.block_height &&
           public_key == o.public_key && node_id == o.node_id;
  }
};

struct ParsedArtifact {
  int64_t nonce = 0;
  std::string vector_b64;
};

// One unit of callback work for the worker thread.
struct Job {
  enum Kind { kGenerateStage, kGenerateNonces, kValidate } kind = kGenerateStage;
  uint64_t run = 0;  // the run it belongs to; a newer run cancels it
  Stage stage;
  std::vector<int64_t> nonces;            // kGenerateNonces
  std::vector<ParsedArtifact> artifacts;  // kValidate
  double p_mismatch = 0.1;
  std::string request_id;
};

// Parses the fields init/generate and generate share. The error names the field.
Stage ParseStage(Fields& f) {
  Stage s;
  s.block_hash = f.String("block_hash", true);
  s.block_height = f.Int("block_height", true, 1, int64_t{1} << 62);
  s.public_key = f.String("public_key", true);
  s.node_id = f.Int("node_id", true, 0, 1 << 20);
  s.node_count = f.Int("node_count", true, 1, 1 << 20, 1);
  if (!f.error() && s.node_id >= s.node_count) f.Fail("node_id", "must be below node_count");
  if (std::optional<dom::object> params = f.Object("params", true)) {
    Fields p(*params, "params.");
    s.model = p.String("model", true);
    p.Int("seq_len", true, 1, int64_t{1} << 30);
    p.Bool("decode");
    p.Int("max_tokens", false, 0, int64_t{1} << 30);
    f.Absorb(p);
  }
  s.url = f.String("url", false);
  f.Bool("poc_stronger_rng");
  return s;
}

enum class Pow { kIdle, kGenerating, kValidating };

std::string NowText() {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone());
}

bool IsLoopback(const std::string& remote) {
  return absl::StartsWith(remote, "127.") || absl::StartsWith(remote, "[::1]") ||
         absl::StartsWith(remote, "::1");
}

}  // namespace

std::string StandInArtifact(absl::string_view block_hash, absl::string_view public_key,
                            int64_t nonce, int k_dim) {
  std::string bytes;
  std::string input = absl::StrCat("gonka-devmlnode-poc|", block_hash, "|", public_key, "|", nonce);
  const size_t want = static_cast<size_t>(k_dim) * 2;  // fp16: 2 bytes per value
  while (bytes.size() < want) {
    crypto::Sha256Digest d = crypto::Sha256(input);
    bytes.append(reinterpret_cast<const char*>(d.data()), d.size());
    input.assign(reinterpret_cast<const char*>(d.data()), d.size());
  }
  bytes.resize(want);
  return absl::Base64Escape(bytes);
}

class DevMlNode::Impl {
 public:
  explicit Impl(DevMlNodeOptions options)
      : options_(std::move(options)),
        faults_(options_.faults),
        callbacks_http_({.name = "devmlnode-callbacks"}),
        commands_total_(prometheus::BuildCounter()
                            .Name("gonka_devmlnode_commands_total")
                            .Help("ML-node API commands by endpoint and outcome")
                            .Register(metrics::Registry())),
        callbacks_total_(prometheus::BuildCounter()
                             .Name("gonka_devmlnode_callbacks_total")
                             .Help("PoC callback POSTs by kind and result")
                             .Register(metrics::Registry())) {
    if (!options_.crash) options_.crash = [] { _exit(kCrashExitCode); };
    if (!options_.auth_token.empty()) auth_digest_ = crypto::Sha256(options_.auth_token);
    worker_ = std::thread([this] { WorkerLoop(); });
  }

  ~Impl() { Shutdown(); }

  void Shutdown() {
    {
      absl::MutexLock lock(&mu_);
      if (shutdown_) return;
      shutdown_ = true;
      ++run_;
    }
    worker_.join();
  }

  void RegisterApi(net::HttpServer& server) {
    Route(server, "GET", "/api/v1/state", false, [this](const HttpRequest&) {
      absl::MutexLock lock(&mu_);
      return HttpResponse::Json(200, absl::StrCat("{\"state\":\"", StateName(), "\"}"));
    });
    for (const std::string& version : options_.versions) {
      Route(server, "GET", absl::StrCat("/", version, "/api/v1/state"), false,
            [this](const HttpRequest&) {
              absl::MutexLock lock(&mu_);
              return HttpResponse::Json(200, absl::StrCat("{\"state\":\"", StateName(), "\"}"));
            });
    }
    Route(server, "GET", "/api/v1/inference/pow/status", false, [this](const HttpRequest&) {
      absl::MutexLock lock(&mu_);
      return HttpResponse::Json(200, absl::StrCat("{\"status\":\"", PowName(), "\"}"));
    });
    Route(server, "POST", "/api/v1/inference/pow/init/generate", true,
          [this](const HttpRequest& r) { return InitGenerate(r); });
    Route(server, "POST", "/api/v1/inference/pow/generate", true,
          [this](const HttpRequest& r) { return Generate(r); });
    Route(server, "POST", "/api/v1/inference/pow/stop", true, [this](const HttpRequest&) {
      absl::MutexLock lock(&mu_);
      if (pow_ != Pow::kIdle) {
        pow_ = Pow::kIdle;
        stage_.reset();
        ++run_;
      }
      return HttpResponse::Json(200, "{\"status\":\"OK\"}");
    });
    Route(server, "POST", "/api/v1/inference/up", true,
          [this](const HttpRequest& r) { return InferenceUp(r); });
    Route(server, "POST", "/api/v1/stop", true, [this](const HttpRequest&) {
      absl::MutexLock lock(&mu_);
      ResetLocked();
      return HttpResponse::Json(200, "{\"status\":\"OK\"}");
    });
    server.Handle("GET", "/debug/commands", [this](const HttpRequest& r) {
      if (!IsLoopback(r.remote_address)) return Detail(403, "/debug is served to loopback only");
      return Commands();
    });
    server.Handle("POST", "/debug/faults", [this](const HttpRequest& r) {
      if (!IsLoopback(r.remote_address)) return Detail(403, "/debug is served to loopback only");
      return SetFaults(r);
    });
  }

  void RegisterInference(net::HttpServer& server) {
    Route(server, "GET", "/health", false, [this](const HttpRequest&) {
      absl::MutexLock lock(&mu_);
      if (model_.empty()) return Detail(503, "no model is loaded");
      return HttpResponse::Json(200, "{}");
    });
    Route(server, "GET", "/v1/models", false, [this](const HttpRequest&) {
      absl::MutexLock lock(&mu_);
      if (model_.empty()) return Detail(503, "no model is loaded");
      JsonWriter w;
      w.BeginObject().Key("object").String("list").Key("data").BeginArray();
      w.BeginObject().Key("id").String(model_).Key("object").String("model").EndObject();
      return HttpResponse::Json(200, w.EndArray().EndObject().Take());
    });
    Route(server, "POST", "/v1/chat/completions", false,
          [this](const HttpRequest& r) { return ChatCompletion(r); });
  }

 private:
  struct Record {
    uint64_t seq = 0;
    std::string time;
    std::string endpoint;
    std::optional<uint64_t> token;
    std::string idempotency_key;
    std::string outcome;  // accepted, refused, duplicate, fault
    int status = 0;
    std::string reason;
  };

  using Handler = std::function<HttpResponse(const HttpRequest&)>;

  // Wraps an ML-node route with auth, faults, fencing, idempotency and the command record.
  void Route(net::HttpServer& server, const char* method, const std::string& path, bool mutating,
             Handler handler) {
    std::string endpoint = absl::StrCat(method, " ", path);
    server.Handle(method, path, [this, endpoint, mutating, handler](const HttpRequest& r) {
      return Serve(endpoint, mutating, handler, r);
    });
  }

  HttpResponse Serve(const std::string& endpoint, bool mutating, const Handler& handler,
                     const HttpRequest& r) {
    Record rec;
    rec.endpoint = endpoint;
    rec.idempotency_key = r.headers.Get(kIdempotencyKeyHeader);
    std::string token_text = r.headers.Get(kFencingTokenHeader);
    auto finish = [&](std::string outcome, HttpResponse res, std::string reason) {
      commands_total_.Add({{"endpoint", endpoint}, {"outcome", outcome}}).Increment();
      if (mutating) {
        rec.outcome = std::move(outcome);
        rec.status = res.status;
        rec.reason = std::move(reason);
        absl::MutexLock lock(&mu_);
        Append(std::move(rec));
      }
      return res;
    };
    if (auth_digest_.has_value()) {
      std::string presented(absl::StripPrefix(r.headers.Get("Authorization"), "Bearer "));
      crypto::Sha256Digest d = crypto::Sha256(presented);
      if (!r.headers.Has("Authorization") ||
          !crypto::ConstantTimeEquals(crypto::AsStringView(d),
                                      crypto::AsStringView(*auth_digest_))) {
        return finish("refused", Detail(401, "missing or wrong bearer token"), "unauthorized");
      }
    }
    Faults faults;
    bool crash = false;
    {
      absl::MutexLock lock(&mu_);
      faults = faults_;
      if (faults_.crash_after > 0 && --faults_.crash_after == 0) crash = true;
    }
    if (crash) {
      GONKA_LOG_WARN("devmlnode crash fault: exiting", {"endpoint", endpoint});
      options_.crash();
    }
    if (faults.slow > absl::ZeroDuration()) absl::SleepFor(faults.slow);
    if (faults.refuse_status != 0) {
      return finish("fault", Detail(faults.refuse_status, "fault injected: refuse"),
                    "fault refuse");
    }
    if (faults.garbage) {
      return finish("fault", HttpResponse::Json(200, "<<devmlnode garbage: not json"),
                    "fault garbage");
    }
    if (!mutating) return handler(r);
    // Fence check, execution and record happen as one step: a command that passed the check
    // cannot run after a newer leader's command (the deposed leader's would land last otherwise).
    absl::MutexLock command_lock(&command_mu_);

    // Fencing.
    if (!token_text.empty()) {
      uint64_t token = 0;
      if (!absl::SimpleAtoi(token_text, &token)) {
        return finish("refused",
                      Detail(400, absl::StrCat(kFencingTokenHeader, ": not an unsigned integer")),
                      "malformed fencing token");
      }
      rec.token = token;
    }
    std::optional<HttpResponse> replay;
    std::string fence_refusal;
    {
      absl::MutexLock lock(&mu_);
      if (!rec.token.has_value() && options_.require_fencing) {
        fence_refusal = absl::StrCat("missing ", kFencingTokenHeader,
                                     " (required); highest fencing token seen is ", highest_token_);
      } else if (rec.token.has_value() && *rec.token < highest_token_) {
        fence_refusal = absl::StrCat("fencing token ", *rec.token,
                                     " is lower than the highest seen, ", highest_token_);
      } else {
        if (rec.token.has_value()) highest_token_ = std::max(highest_token_, *rec.token);
        if (!rec.idempotency_key.empty()) {
          auto it = answered_.find(rec.idempotency_key);
          if (it != answered_.end()) replay = it->second;
        }
      }
    }
    if (!fence_refusal.empty()) {
      return finish("refused", Detail(409, fence_refusal), fence_refusal);
    }
    if (replay.has_value()) return finish("duplicate", *replay, "idempotency key seen: replayed");
    HttpResponse res = handler(r);
    if (res.status >= 200 && res.status < 300 && !rec.idempotency_key.empty()) {
      absl::MutexLock lock(&mu_);
      if (answered_.emplace(rec.idempotency_key, res).second) {
        answered_order_.push_back(rec.idempotency_key);
        if (answered_order_.size() > kMaxIdempotencyKeys) {
          answered_.erase(answered_order_.front());
          answered_order_.pop_front();
        }
      }
    }
    std::string reason;
    if (res.status >= 300) {
      dom::parser parser;
      std::string_view detail;
      dom::element root;
      if (parser.parse(res.body).get(root) == simdjson::SUCCESS &&
          root["detail"].get_string().get(detail) == simdjson::SUCCESS) {
        reason = std::string(detail);
      }
    }
    return finish(res.status < 300 ? "accepted" : "refused", std::move(res), std::move(reason));
  }

  void Append(Record rec) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    rec.seq = ++seq_;
    rec.time = NowText();
    records_.push_back(std::move(rec));
    if (records_.size() > kMaxRecords) {
      records_.pop_front();
      ++records_dropped_;
    }
  }

  // Parses a JSON object body; on failure `error` holds the 400 answer.
  static std::optional<dom::object> ParseBody(dom::parser& parser, const HttpRequest& r,
                                              HttpResponse* error) {
    dom::element root;
    if (simdjson::error_code e = parser.parse(r.body).get(root); e != simdjson::SUCCESS) {
      *error = Detail(400, absl::StrCat("body: not JSON (", simdjson::error_message(e), ")"));
      return std::nullopt;
    }
    dom::object o;
    if (root.get_object().get(o) != simdjson::SUCCESS) {
      *error = Detail(400, "body: must be a JSON object");
      return std::nullopt;
    }
    return o;
  }

  static HttpResponse FieldFailure(const FieldError& e) {
    return Detail(400, absl::StrCat(e.field, ": ", e.what));
  }

  HttpResponse InitGenerate(const HttpRequest& r) {
    dom::parser parser;
    HttpResponse error;
    std::optional<dom::object> body = ParseBody(parser, r, &error);
    if (!body) return error;
    Fields f(*body, "");
    Stage stage = ParseStage(f);
    if (f.error()) return FieldFailure(*f.error());
    absl::MutexLock lock(&mu_);
    if (pow_ == Pow::kValidating) {
      return Detail(409, "validating: POST /api/v1/inference/pow/stop first");
    }
    if (pow_ == Pow::kGenerating) {
      if (stage_.has_value() && *stage_ == stage) {
        return HttpResponse::Json(200, "{\"status\":\"OK\",\"backends\":1,\"n_groups\":1}");
      }
      return Detail(409, absl::StrCat("already generating for block_height ",
                                      stage_ ? stage_->block_height : 0,
                                      ": POST /api/v1/inference/pow/stop first"));
    }
    pow_ = Pow::kGenerating;
    stage_ = stage;
    ++run_;
    if (!stage.url.empty()) {
      Job job;
      job.kind = Job::kGenerateStage;
      job.run = run_;
      job.stage = stage;
      jobs_.push_back(std::move(job));
    }
    return HttpResponse::Json(200, "{\"status\":\"OK\",\"backends\":1,\"n_groups\":1}");
  }

  HttpResponse Generate(const HttpRequest& r) {
    dom::parser parser;
    HttpResponse error;
    std::optional<dom::object> body = ParseBody(parser, r, &error);
    if (!body) return error;
    Fields f(*body, "");
    Job job;
    job.stage = ParseStage(f);
    if (std::optional<dom::array> nonces = f.Array("nonces", true)) {
      for (dom::element n : *nonces) {
        int64_t v = 0;
        if (n.get_int64().get(v) != simdjson::SUCCESS || v < 0) {
          f.Fail("nonces", "must be an array of non-negative integers");
          break;
        }
        job.nonces.push_back(v);
      }
      if (job.nonces.size() > kMaxNonces) f.Fail("nonces", "more than 100000");
    }
    if (f.Bool("wait")) f.Fail("wait", "true is not supported by devmlnode (results go to url)");
    std::optional<dom::object> validation = f.Object("validation", false);
    if (validation) {
      Fields v(*validation, "validation.");
      if (std::optional<dom::array> artifacts = v.Array("artifacts", true)) {
        for (dom::element a : *artifacts) {
          dom::object o;
          if (a.get_object().get(o) != simdjson::SUCCESS) {
            v.Fail("artifacts", "must be an array of objects");
            break;
          }
          Fields af(o, "validation.artifacts[].");
          ParsedArtifact pa;
          pa.nonce = af.Int("nonce", true, 0, int64_t{1} << 62);
          pa.vector_b64 = af.String("vector_b64", true);
          v.Absorb(af);
          if (v.error()) break;
          job.artifacts.push_back(std::move(pa));
        }
        if (job.artifacts.size() > kMaxNonces) v.Fail("artifacts", "more than 100000");
      }
      f.Absorb(v);
    }
    if (std::optional<dom::object> stat = f.Object("stat_test", false)) {
      Fields s(*stat, "stat_test.");
      s.Double("dist_threshold", 0.4);
      job.p_mismatch = s.Double("p_mismatch", 0.1);
      s.Double("p_value_threshold", 0.05);
      f.Absorb(s);
    }
    if (!f.error() && job.stage.url.empty())
      f.Fail("url", "required (devmlnode delivers results there)");
    if (f.error()) return FieldFailure(*f.error());
    absl::MutexLock lock(&mu_);
    if (pow_ == Pow::kGenerating) {
      return Detail(409, "generating: POST /api/v1/inference/pow/stop first");
    }
    job.request_id = absl::StrCat("devmlnode-", ++request_seq_);
    if (validation) {
      job.kind = Job::kValidate;
      if (pow_ != Pow::kValidating) {
        pow_ = Pow::kValidating;
        ++run_;
      }
    } else {
      job.kind = Job::kGenerateNonces;
    }
    job.run = run_;
    std::string answer =
        absl::StrCat("{\"status\":\"queued\",\"request_id\":", JsonQuote(job.request_id), "}");
    jobs_.push_back(std::move(job));
    return HttpResponse::Json(200, answer);
  }

  HttpResponse InferenceUp(const HttpRequest& r) {
    dom::parser parser;
    HttpResponse error;
    std::optional<dom::object> body = ParseBody(parser, r, &error);
    if (!body) return error;
    Fields f(*body, "");
    std::string model = f.String("model", true);
    f.String("dtype", false);
    if (std::optional<dom::array> args = f.Array("additional_args", false)) {
      for (dom::element a : *args) {
        if (!a.is_string()) {
          f.Fail("additional_args", "must be an array of strings");
          break;
        }
      }
    }
    if (f.error()) return FieldFailure(*f.error());
    absl::MutexLock lock(&mu_);
    ResetLocked();
    model_ = model;
    return HttpResponse::Json(200, "{\"status\":\"OK\"}");
  }

  // OpenAI's chat completion, as vLLM answers it: the loaded model gives one stand-in choice;
  // another model is vLLM's 404, no model a 503 (as /health).
  HttpResponse ChatCompletion(const HttpRequest& r) {
    dom::parser parser;
    HttpResponse error;
    std::optional<dom::object> body = ParseBody(parser, r, &error);
    if (!body) return error;
    Fields f(*body, "");
    std::string model = f.String("model", true);
    f.Array("messages", true);
    if (f.error()) return FieldFailure(*f.error());
    absl::MutexLock lock(&mu_);
    if (model_.empty()) return Detail(503, "no model is loaded");
    if (model != model_) {
      return Detail(404, absl::StrCat("The model `", model, "` does not exist."));
    }
    ++completions_;
    JsonWriter w;
    w.BeginObject()
        .Key("id")
        .String(absl::StrCat("chatcmpl-devmlnode-", completions_))
        .Key("object")
        .String("chat.completion")
        .Key("created")
        .Int(absl::ToUnixSeconds(absl::Now()))
        .Key("model")
        .String(model_)
        .Key("choices")
        .BeginArray()
        .BeginObject()
        .Key("index")
        .Int(0)
        .Key("message")
        .BeginObject()
        .Key("role")
        .String("assistant")
        .Key("content")
        .String("ready")
        .EndObject()
        .Key("finish_reason")
        .String("stop")
        .EndObject()
        .EndArray()
        .Key("usage")
        .BeginObject()
        .Key("prompt_tokens")
        .Int(1)
        .Key("completion_tokens")
        .Int(1)
        .Key("total_tokens")
        .Int(2)
        .EndObject()
        .EndObject();
    return HttpResponse::Json(200, w.Take());
  }

  HttpResponse SetFaults(const HttpRequest& r) {
    dom::parser parser;
    HttpResponse error;
    std::optional<dom::object> body = ParseBody(parser, r, &error);
    if (!body) return error;
    Fields f(*body, "");
    dom::element e;
    std::optional<Faults> next;
    bool lose_state = false;
    {
      absl::MutexLock lock(&mu_);
      next = faults_;
    }
    if ((*body)["slow_ms"].get(e) == simdjson::SUCCESS) {
      next->slow = absl::Milliseconds(f.Int("slow_ms", true, 0, 600000));
    }
    if ((*body)["refuse_status"].get(e) == simdjson::SUCCESS) {
      next->refuse_status = static_cast<int>(f.Int("refuse_status", true, 0, 599));
      if (next->refuse_status != 0 && next->refuse_status < 500) {
        f.Fail("refuse_status", "must be 0 (off) or in [500, 599]");
      }
    }
    if ((*body)["garbage"].get(e) == simdjson::SUCCESS) next->garbage = f.Bool("garbage");
    if ((*body)["crash_after"].get(e) == simdjson::SUCCESS) {
      next->crash_after = f.Int("crash_after", true, 0, int64_t{1} << 40);
    }
    lose_state = f.Bool("lose_state");
    if (f.error()) return FieldFailure(*f.error());
    absl::MutexLock lock(&mu_);
    faults_ = *next;
    if (lose_state) {
      GONKA_LOG_WARN("devmlnode lose-state fault: back to STOPPED");
      ResetLocked();
      answered_.clear();
      answered_order_.clear();
    }
    JsonWriter w;
    w.BeginObject()
        .Key("slow_ms")
        .Int(absl::ToInt64Milliseconds(faults_.slow))
        .Key("refuse_status")
        .Int(faults_.refuse_status)
        .Key("garbage")
        .Bool(faults_.garbage)
        .Key("crash_after")
        .Int(faults_.crash_after)
        .Key("state")
        .String(StateName());
    return HttpResponse::Json(200, w.EndObject().Take());
  }

  HttpResponse Commands() {
    absl::MutexLock lock(&mu_);
    JsonWriter w;
    w.BeginObject()
        .Key("highest_fencing_token")
        .Uint(highest_token_)
        .Key("dropped")
        .Uint(records_dropped_)
        .Key("callbacks")
        .BeginObject()
        .Key("generated_batches")
        .Uint(generated_batches_)
        .Key("generated_artifacts")
        .Uint(generated_artifacts_)
        .Key("validated")
        .Uint(validated_sent_)
        .Key("failed")
        .Uint(callbacks_failed_)
        .EndObject()
        .Key("commands")
        .BeginArray();
    for (const Record& rec : records_) {
      w.BeginObject().Key("seq").Uint(rec.seq).Key("time").String(rec.time);
      w.Key("endpoint").String(rec.endpoint).Key("fencing_token");
      if (rec.token.has_value()) {
        w.Uint(*rec.token);
      } else {
        w.Null();
      }
      w.Key("idempotency_key").String(rec.idempotency_key).Key("outcome").String(rec.outcome);
      w.Key("status").Int(rec.status).Key("reason").String(rec.reason).EndObject();
    }
    return HttpResponse::Json(200, w.EndArray().EndObject().Take());
  }

  void ResetLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    pow_ = Pow::kIdle;
    stage_.reset();
    model_.clear();
    ++run_;
  }

  const char* StateName() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (pow_ != Pow::kIdle) return "POW";
    return model_.empty() ? "STOPPED" : "INFERENCE";
  }
  const char* PowName() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    switch (pow_) {
      case Pow::kGenerating:
        return "GENERATING";
      case Pow::kValidating:
        return "VALIDATING";
      case Pow::kIdle:
        break;
    }
    return model_.empty() ? "NO_BACKENDS" : "IDLE";
  }

  bool Current(uint64_t run) {
    absl::MutexLock lock(&mu_);
    return run == run_ && !shutdown_;
  }

  // Waits up to `d` or until `run` is superseded; false when it was.
  bool WaitWhileCurrent(uint64_t run, absl::Duration d) {
    absl::MutexLock lock(&mu_);
    auto superseded = [this, run]()
                          ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return run != run_ || shutdown_; };
    mu_.AwaitWithTimeout(absl::Condition(&superseded), d);
    return !superseded();
  }

  // POSTs `body` until a 2xx, `callback_attempts` tries, or the run is superseded.
  bool Deliver(const std::string& url, const std::string& body, uint64_t run,
               absl::string_view kind) {
    absl::Duration backoff = absl::Milliseconds(50);
    for (int attempt = 1; attempt <= options_.callback_attempts; ++attempt) {
      if (!Current(run)) return false;
      absl::StatusOr<net::HttpResponse> res = callbacks_http_.Post(
          url, body, "application/json", net::HttpCallOptions::Timeout(options_.callback_timeout));
      if (res.ok() && res->status >= 200 && res->status < 300) {
        callbacks_total_.Add({{"kind", std::string(kind)}, {"result", "ok"}}).Increment();
        return true;
      }
      GONKA_LOG_WARN("devmlnode callback failed", {"kind", kind}, {"attempt", attempt},
                     {"error", res.ok() ? absl::StrCat("HTTP ", res->status)
                                        : std::string(res.status().message())});
      if (!WaitWhileCurrent(run, backoff)) return false;
      backoff = std::min(backoff * 2, absl::Seconds(2));
    }
    callbacks_total_.Add({{"kind", std::string(kind)}, {"result", "failed"}}).Increment();
    absl::MutexLock lock(&mu_);
    ++callbacks_failed_;
    return false;
  }

  std::string BatchJson(const Stage& s, const std::vector<int64_t>& nonces) const {
    JsonWriter w;
    w.BeginObject()
        .Key("block_hash")
        .String(s.block_hash)
        .Key("block_height")
        .Int(s.block_height)
        .Key("public_key")
        .String(s.public_key)
        .Key("node_id")
        .Int(s.node_id)
        .Key("artifacts")
        .BeginArray();
    for (int64_t nonce : nonces) {
      w.BeginObject().Key("nonce").Int(nonce).Key("vector_b64");
      w.String(StandInArtifact(s.block_hash, s.public_key, nonce, options_.k_dim)).EndObject();
    }
    w.EndArray().Key("encoding").BeginObject().Key("dtype").String("f16");
    w.Key("k_dim").Int(options_.k_dim).Key("endian").String("le").EndObject();
    return w.EndObject().Take();
  }

  void SendBatch(const Job& job, const std::vector<int64_t>& nonces) {
    if (Deliver(absl::StrCat(job.stage.url, "/generated"), BatchJson(job.stage, nonces), job.run,
                "generated")) {
      absl::MutexLock lock(&mu_);
      ++generated_batches_;
      generated_artifacts_ += nonces.size();
    }
  }

  void RunJob(const Job& job) {
    switch (job.kind) {
      case Job::kGenerateStage: {
        const int64_t n = options_.nonces_per_stage;
        for (int64_t i = 0; i < n; i += options_.batch_size) {
          if (i > 0 && !WaitWhileCurrent(job.run, options_.batch_interval)) return;
          std::vector<int64_t> nonces;
          for (int64_t k = i; k < std::min<int64_t>(n, i + options_.batch_size); ++k) {
            nonces.push_back(job.stage.node_id + k * job.stage.node_count);
          }
          SendBatch(job, nonces);
          if (!Current(job.run)) return;
        }
        return;
      }
      case Job::kGenerateNonces:
        SendBatch(job, job.nonces);
        return;
      case Job::kValidate: {
        std::vector<int64_t> mismatches;
        for (const ParsedArtifact& a : job.artifacts) {
          if (a.vector_b64 != StandInArtifact(job.stage.block_hash, job.stage.public_key, a.nonce,
                                              options_.k_dim)) {
            mismatches.push_back(a.nonce);
          }
        }
        const int64_t total = static_cast<int64_t>(job.artifacts.size());
        // Stand-in for Gonka's binomial test: fraud when the mismatch share exceeds p_mismatch.
        const bool fraud = total > 0 && static_cast<double>(mismatches.size()) >
                                            job.p_mismatch * static_cast<double>(total);
        JsonWriter w;
        w.BeginObject()
            .Key("request_id")
            .String(job.request_id)
            .Key("block_hash")
            .String(job.stage.block_hash)
            .Key("block_height")
            .Int(job.stage.block_height)
            .Key("public_key")
            .String(job.stage.public_key)
            .Key("node_id")
            .Int(job.stage.node_id)
            .Key("n_total")
            .Int(total)
            .Key("n_mismatch")
            .Int(static_cast<int64_t>(mismatches.size()))
            .Key("mismatch_nonces")
            .BeginArray();
        for (int64_t nonce : mismatches) w.Int(nonce);
        w.EndArray().Key("p_value").Raw(fraud ? "0.0" : "1.0").Key("fraud_detected").Bool(fraud);
        if (Deliver(absl::StrCat(job.stage.url, "/validated"), w.EndObject().Take(), job.run,
                    "validated")) {
          absl::MutexLock lock(&mu_);
          ++validated_sent_;
        }
        return;
      }
    }
  }

  void WorkerLoop() {
    while (true) {
      Job job;
      {
        absl::MutexLock lock(&mu_);
        auto ready = [this]()
                         ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return shutdown_ || !jobs_.empty(); };
        mu_.Await(absl::Condition(&ready));
        if (shutdown_) return;
        job = std::move(jobs_.front());
        jobs_.pop_front();
        if (job.run != run_) continue;
      }
      RunJob(job);
    }
  }

  DevMlNodeOptions options_;
  std::optional<crypto::Sha256Digest> auth_digest_;

  // Serializes mutating commands (held across the fence check and the handler).
  absl::Mutex command_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  absl::Mutex mu_;
  Faults faults_ ABSL_GUARDED_BY(mu_);
  Pow pow_ ABSL_GUARDED_BY(mu_) = Pow::kIdle;
  std::string model_ ABSL_GUARDED_BY(mu_);
  uint64_t completions_ ABSL_GUARDED_BY(mu_) = 0;
  std::optional<Stage> stage_ ABSL_GUARDED_BY(mu_);
  uint64_t run_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t highest_token_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t request_seq_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t seq_ ABSL_GUARDED_BY(mu_) = 0;
  std::deque<Record> records_ ABSL_GUARDED_BY(mu_);
  uint64_t records_dropped_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, HttpResponse> answered_ ABSL_GUARDED_BY(mu_);
  std::deque<std::string> answered_order_ ABSL_GUARDED_BY(mu_);
  std::deque<Job> jobs_ ABSL_GUARDED_BY(mu_);
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t generated_batches_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t generated_artifacts_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t validated_sent_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t callbacks_failed_ ABSL_GUARDED_BY(mu_) = 0;

  net::HttpClient callbacks_http_;
  prometheus::Family<prometheus::Counter>& commands_total_;
  prometheus::Family<prometheus::Counter>& callbacks_total_;
  std::thread worker_;
};

DevMlNode::DevMlNode(DevMlNodeOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}
DevMlNode::~DevMlNode() = default;

absl::Status DevMlNode::Validate(const DevMlNodeOptions& o) {
  if (o.nonces_per_stage < 0 || o.nonces_per_stage > kMaxNonces) {
    return absl::InvalidArgumentError("nonces_per_stage: must be in [0, 100000]");
  }
  if (o.batch_size < 1 || o.batch_size > 10000) {
    return absl::InvalidArgumentError("batch_size: must be in [1, 10000]");
  }
  if (o.k_dim < 1 || o.k_dim > 4096)
    return absl::InvalidArgumentError("k_dim: must be in [1, 4096]");
  if (o.batch_interval < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("batch_interval: must not be negative");
  }
  if (o.callback_attempts < 1) return absl::InvalidArgumentError("callback_attempts: must be >= 1");
  if (o.faults.refuse_status != 0 &&
      (o.faults.refuse_status < 500 || o.faults.refuse_status > 599)) {
    return absl::InvalidArgumentError("refuse_status: must be 0 (off) or in [500, 599]");
  }
  if (o.faults.crash_after < 0) return absl::InvalidArgumentError("crash_after: must be >= 0");
  for (const std::string& v : o.versions) {
    const bool ok = !v.empty() && v.size() <= 64 && std::all_of(v.begin(), v.end(), [](char c) {
      return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' ||
             c == '-' || c == '+';
    });
    if (!ok) {
      return absl::InvalidArgumentError(
          absl::StrCat("versions: \"", v, "\" is not one URL path segment of A-Z a-z 0-9 . _ - +"));
    }
  }
  return absl::OkStatus();
}

void DevMlNode::RegisterApi(net::HttpServer& server) { impl_->RegisterApi(server); }
void DevMlNode::RegisterInference(net::HttpServer& server) { impl_->RegisterInference(server); }
void DevMlNode::Shutdown() { impl_->Shutdown(); }

}  // namespace devmlnode
}  // namespace gonka
