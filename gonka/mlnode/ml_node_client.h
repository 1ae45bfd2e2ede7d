// MlNodeClient: typed calls to one Gonka ML node over its HTTP API — the management API (PoC v2
// generation and validation, inference up, stop, state) and the inference server's health and
// model list — as Gonka's node broker makes them (docs/reference/ml-node-api.md).
//
// Contract:
//   - One call = one HTTP request with its own deadline (`deadline`; the call never blocks past
//     it; absl::InfiniteFuture() means gonka/net's default of 30 s). No call is retried here: the
//     caller (node-manager's reconciler) decides when to try again, with the same Fence so a
//     retried command is recognisably the same one.
//   - Every mutating command (InitGenerate, Generate, StopPow, InferenceUp, Stop) carries the
//     caller's fencing token in `X-Gonka-Fencing-Token` and its idempotency key in
//     `X-Gonka-Idempotency-Key`. A Fence with token 0 or an empty key is refused before sending
//     (InvalidArgument): a command without a token could not be told apart from a deposed
//     leader's.
//   - With `auth_token_file`, every request carries `Authorization: Bearer <token>` (the file is
//     read once, by Create(), and must be mode 0600 or stricter — gonka/base/secret_file.h).
//   - Errors name the endpoint ("ml node POST /api/v1/stop: ...") and what was wrong; they never
//     contain the token, and never the raw body: at most the `detail` (or `error`/`message`)
//     string of a JSON error answer, cut to 200 characters.
//       deadline passed, or the node is paused/slow  → DeadlineExceeded
//       connection refused/reset, node crashed       → Unavailable
//       HTTP 5xx                                      → Unavailable ("answered 503: <detail>")
//       HTTP 409 (a lower fencing token, a conflict)  → FailedPrecondition ("refused (409): ...")
//       HTTP 401/403                                  → PermissionDenied
//       other HTTP 4xx                                → InvalidArgument ("rejected (400): ...")
//       2xx whose body is not the documented JSON     → Internal ("answer is not JSON", "field
//                                                        'state': ..." naming the field)
//       2xx {"status":"ERROR"} from inference/up      → Unavailable with the node's message
//
// Thread-safety: thread-safe; concurrent calls use separate pooled connections.
//
// Example:
//   ASSIGN_OR_RETURN(std::unique_ptr<MlNodeClient> node,
//                    MlNodeClient::Create({.api_url = "http://10.0.0.7:8080",
//                                          .inference_url = "http://10.0.0.7:5000"}));
//   absl::Time deadline = absl::Now() + absl::Seconds(10);
//   ASSIGN_OR_RETURN(PowStatus pow, node->GetPowStatus(deadline));
//   Fence fence{.token = leader_token, .idempotency_key = "e12/poc/node-3/init"};
//   if (pow.status != "GENERATING") {
//     RETURN_IF_ERROR(node->InitGenerate(init, fence, deadline).status());
//   }
#ifndef GONKA_MLNODE_ML_NODE_CLIENT_H_
#define GONKA_MLNODE_ML_NODE_CLIENT_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace gonka {
namespace mlnode {

// Header names of the leader's fencing token and the command's idempotency key.
inline constexpr char kFencingTokenHeader[] = "X-Gonka-Fencing-Token";
inline constexpr char kIdempotencyKeyHeader[] = "X-Gonka-Idempotency-Key";

// What makes a command the current leader's and recognisably the same across retries.
struct Fence {
  uint64_t token = 0;           // the leader's fencing token (> 0)
  std::string idempotency_key;  // non-empty, e.g. "<epoch>/<stage>/<node>/<command>"
};

// GET /api/v1/state → {"state": ...}: which service the ML node runs.
enum class NodeState { kInference, kPow, kTrain, kStopped };
absl::string_view NodeStateName(NodeState state);  // "INFERENCE", "POW", "TRAIN", "STOPPED"

// `params` of a PoC v2 request (the chain's per-model PoC parameters).
struct PocParams {
  std::string model;
  int64_t seq_len = 0;
  bool decode = false;     // sent only when true (decode scheme)
  int64_t max_tokens = 0;  // sent only when > 0
};

// POST /api/v1/inference/pow/init/generate: start continuous artifact generation for a stage.
struct InitGenerateRequest {
  std::string block_hash;  // hash of the PoC stage's start block
  int64_t block_height = 0;
  std::string public_key;  // the participant's
  int node_id = 0;         // the node's number among the participant's nodes
  int node_count = 1;
  PocParams params;
  // Callback base; the node POSTs GeneratedArtifactBatchV2 bodies to `url + "/generated"`.
  // Gonka sends "<callback>/v2/poc-batches/<model, path-escaped twice>". Empty: not sent.
  std::string url;
  bool poc_stronger_rng = false;  // sent only when true
};

struct Artifact {
  int64_t nonce = 0;
  std::string vector_b64;  // base64 of the fp16 little-endian vector
};

// Statistical test settings of a validation (Gonka's defaults).
struct StatTest {
  double dist_threshold = 0.4;
  double p_mismatch = 0.1;
  double p_value_threshold = 0.05;
};

// POST /api/v1/inference/pow/generate: compute artifacts for `nonces`; with `validation`, compare
// them with the given ones and POST a ValidatedResultV2 to `url + "/validated"`.
struct GenerateRequest {
  std::string block_hash;
  int64_t block_height = 0;
  std::string public_key;  // the participant whose artifacts are checked
  int node_id = 0;
  int node_count = 1;
  std::vector<int64_t> nonces;
  PocParams params;
  bool wait = false;                                // sent only when true
  std::string url;                                  // "" = not sent
  std::optional<std::vector<Artifact>> validation;  // {"validation":{"artifacts":[...]}}
  std::optional<StatTest> stat_test;
  bool poc_stronger_rng = false;
};

struct InitGenerateResponse {
  std::string status;  // "OK"
};

struct GenerateResponse {
  std::string status;      // "queued", "completed", ...
  std::string request_id;  // "" when absent
};

// GET /api/v1/inference/pow/status.
struct PowStatus {
  // "IDLE", "GENERATING", "VALIDATING", "MIXED", "NO_BACKENDS", ... (passed through as sent).
  std::string status;
};

// POST /api/v1/inference/up.
struct InferenceUpRequest {
  std::string model;
  std::string dtype = "float16";
  std::vector<std::string> additional_args;
};

struct MlNodeClientOptions {
  // Base URL of the management API (Gonka's poc_host:poc_port + poc_segment), e.g.
  // "http://10.0.0.7:8080". Required.
  std::string api_url;
  // Base URL of the inference server (inference_host:inference_port + segment). Required for
  // InferenceHealth and Models only.
  std::string inference_url;
  // Optional bearer token file (0600).
  std::string auth_token_file;
  // Label `client` on gonka_http_client_* metrics.
  std::string name = "mlnode";
};

class MlNodeClient {
 public:
  // InvalidArgument naming the option for a missing/bad URL; the secret file's error for an
  // unreadable or too-open token file.
  static absl::StatusOr<std::unique_ptr<MlNodeClient>> Create(MlNodeClientOptions options);
  virtual ~MlNodeClient() = default;

  // Reads. Errors as in the header contract.
  virtual absl::StatusOr<NodeState> GetState(absl::Time deadline) = 0;
  virtual absl::StatusOr<PowStatus> GetPowStatus(absl::Time deadline) = 0;
  // OK when the inference server answers /health with 2xx.
  virtual absl::Status InferenceHealth(absl::Time deadline) = 0;
  // The model ids of GET /v1/models (OpenAI list: {"data":[{"id":...}]}).
  virtual absl::StatusOr<std::vector<std::string>> Models(absl::Time deadline) = 0;

  // Mutating commands; each carries `fence`. Errors as in the header contract.
  virtual absl::StatusOr<InitGenerateResponse> InitGenerate(const InitGenerateRequest& request,
                                                            const Fence& fence,
                                                            absl::Time deadline) = 0;
  virtual absl::StatusOr<GenerateResponse> Generate(const GenerateRequest& request,
                                                    const Fence& fence, absl::Time deadline) = 0;
  virtual absl::Status StopPow(const Fence& fence, absl::Time deadline) = 0;
  virtual absl::Status InferenceUp(const InferenceUpRequest& request, const Fence& fence,
                                   absl::Time deadline) = 0;
  // POST /api/v1/stop: stops whatever runs (the node reports STOPPED).
  virtual absl::Status Stop(const Fence& fence, absl::Time deadline) = 0;
};

// The callback `url` for `model`, as Gonka's node builds it: "<callback_base>/v2/poc-batches/"
// plus the model id percent-escaped twice, so that a "/" in the id survives the receiver's one
// unescaping of the path ("Qwen/Qwen3-32B" → "Qwen%252FQwen3-32B"). `callback_base` is the
// receiver's scheme://host:port ("http://api:9100"). The ML node appends "/generated" or
// "/validated".
std::string PocCallbackUrl(absl::string_view callback_base, absl::string_view model);

// JSON bodies exactly as sent (exposed for tests and for the development ML node's parser tests).
std::string InitGenerateJson(const InitGenerateRequest& request);
std::string GenerateJson(const GenerateRequest& request);
std::string InferenceUpJson(const InferenceUpRequest& request);

}  // namespace mlnode
}  // namespace gonka

#endif  // GONKA_MLNODE_ML_NODE_CLIENT_H_
