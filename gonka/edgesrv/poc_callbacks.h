// PocCallbacks: edge-srv's ML-node-facing PoC routes — N stateless replicas behind a balancer, each
// writing the artifacts ML nodes POST into the shared artifact store (gonka/pocstore) and turning
// validation results into chain messages, so no replica owns a PoC cycle (docs/edge-srv.md).
//
// Contract (Gonka's callback endpoints, docs/reference/ml-node-api.md):
//   POST /v2/poc-batches/<model, path-escaped twice>/generated with a GeneratedArtifactBatchV2
//   {block_hash, block_height, public_key, node_id, artifacts[{nonce, vector_b64}], encoding?}:
//     200 (empty body)  the artifacts are durable in the store (a nonce already stored for the
//                       stage and model is ignored, as Gonka's store ignores it);
//     503               not in the stage's generation window, the phase is unknown (StageFn
//                       Unavailable), or the store cannot be written — the ML node retries;
//     400               a malformed body, block_height not the active stage's PoC start, a
//                       public_key not `public_key` or a block_hash not the stage's start
//                       block (only when those options are set), a node_id this participant
//                       does not have, a nonce outside int32, a vector
//                       that is not base64, empty, or not k_dim·2 bytes when `encoding` says
//                       f16 with k_dim (or not `vector_bytes` when that option is set);
//     404               `/v2/poc-batches/generated` without a model (Gonka answers 404 too).
//   POST /v2/poc-batches/<model>/validated with a ValidatedResultV2 {block_height, public_key (hex
//   of the validated participant's 33-byte key), node_id?, n_total, n_mismatch?,
//   mismatch_nonces?, p_value?, fraud_detected, n_nan_steps?, n_excluded?}:
//     200 (empty body)  the vote is recorded for the tx queue (ValidationFn OK): weight n_total
//                       when not fraud and n_total > 0, else -1 (Gonka's ToValidatedWeight);
//     200 (empty body)  abstained, nothing sent: in the validation phase and the result is
//                       incomplete (n_nan_steps > 0 or n_excluded > 0; AbstainReason), as
//                       Gonka abstains — checked right after the phase gate;
//     503               not in PoCValidate / PoCValidateWindDown, the phase is unknown, no
//                       ValidationFn is configured, or it failed Unavailable;
//     400               a malformed body, block_height not the active stage, a public_key that is
//                       not a secp256k1 key in hex, a node_id this participant does not have.
//   Every 4xx/5xx body is {"error": "<field or cause>: ..."}; nothing is stored or sent for one.
//
// Metrics: gonka_edgesrv_requests_total{route, code}; gonka_edgesrv_rejections_total{route,
// reason} (reason one of kReason* below); gonka_edgesrv_artifacts_stored_total;
// gonka_edgesrv_validations_total{result=sent|duplicate};
// gonka_edgesrv_abstentions_total{reason} (reason one of kAbstain* below);
// gonka_edgesrv_batch_duration_seconds{route} (request parsed to answer).
//
// Thread-safety: thread-safe (handlers run concurrently).
//
// Example (daemons/edge-srv):
//   PocCallbacks callbacks(store.get(), gate.AsStageFn(), {.node_count = nodes_fn});
//   callbacks.AddRoutes(&daemon.server());
#ifndef GONKA_EDGESRV_POC_CALLBACKS_H_
#define GONKA_EDGESRV_POC_CALLBACKS_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "gonka/edgesrv/stage_gate.h"
#include "gonka/edgesrv/validation_sink.h"
#include "gonka/net/http_message.h"
#include "gonka/pocstore/artifact_store.h"

namespace gonka {
namespace net {
class HttpServer;
}  // namespace net

namespace edgesrv {

// Rejection reasons (the `reason` label; the error message names the field).
inline constexpr char kReasonBody[] = "body";                   // not JSON / missing field
inline constexpr char kReasonStage[] = "block_height";          // not the active stage
inline constexpr char kReasonNode[] = "node_id";                // not one of our ML nodes
inline constexpr char kReasonNonce[] = "nonce";                 // not an int32
inline constexpr char kReasonVector[] = "vector";               // not base64, empty
inline constexpr char kReasonVectorLength[] = "vector_length";  // wrong length for its encoding
inline constexpr char kReasonTooMany[] = "too_many_artifacts";
inline constexpr char kReasonPublicKey[] = "public_key";          // /generated: not ours
inline constexpr char kReasonBlockHash[] = "block_hash";          // not the stage's start block
inline constexpr char kReasonOutOfPhase[] = "out_of_phase";       // 503
inline constexpr char kReasonPhaseUnknown[] = "phase_unknown";    // 503
inline constexpr char kReasonStore[] = "store_unavailable";       // 503
inline constexpr char kReasonQueue[] = "queue_unavailable";       // 503
inline constexpr char kReasonNotConfigured[] = "not_configured";  // 503 (/validated)
inline constexpr char kReasonNotFound[] = "not_found";            // 404

// Why a validation result was not sent (the `reason` label of gonka_edgesrv_abstentions_total).
inline constexpr char kAbstainNanSteps[] = "n_nan_steps";  // NaN steps, nothing excluded
inline constexpr char kAbstainExcluded[] = "n_excluded";   // nonces excluded, no NaN steps
inline constexpr char kAbstainBoth[] = "n_nan_steps_and_n_excluded";

// Gonka's abstention rule for a ValidatedResultV2: the validation is incomplete when the ML node
// reports NaN steps or excluded nonces. The reason (one of kAbstain*), or nullptr to vote.
const char* AbstainReason(int64_t n_nan_steps, int64_t n_excluded);

// How many ML nodes this participant has: node ids are [0, count) (the node-manager's node
// order). Unavailable → 503.
using NodeCountFn = std::function<absl::StatusOr<int>()>;
// Records one validation vote (QueueValidationSink::Send). Unavailable → 503; InvalidArgument →
// 400.
using ValidationFn = std::function<absl::StatusOr<ValidationSendResult>(const ValidationResult&)>;

struct PocCallbacksOptions {
  int max_node_id = 1 << 16;       // without node_count: node_id must be in [0, max_node_id)
  size_t max_artifacts = 1 << 16;  // per batch
  NodeCountFn node_count;          // optional: node_id must be below it
  size_t vector_bytes = 0;         // > 0: every vector must be this long
  ValidationFn validations;        // optional: /validated answers 503 without it
  std::string prefix = "gonka";    // bech32 prefix of participant addresses
  // Non-empty: a generated batch's public_key must be this (compared ignoring case), the value
  // the node-manager gives its ML nodes in init/generate. Gonka's dapi does not check it.
  std::string public_key;
  // A generated batch's block_hash must be the stage's PoC start block hash (ignoring case) when
  // the StageFn knows that hash (StageWindow::poc_start_hash non-empty). Gonka does not check it.
  bool check_block_hash = false;
};

class PocCallbacks {
 public:
  // The store is not owned and must outlive this object.
  PocCallbacks(pocstore::ArtifactStore* store, StageFn stage, PocCallbacksOptions options = {});

  // POST /v2/poc-batches/* (the contract above).
  void AddRoutes(net::HttpServer* server);
  net::HttpResponse Handle(const net::HttpRequest& request);

  // Artifacts newly stored since start (also a metric).
  int64_t stored() const { return stored_.load(); }

 private:
  net::HttpResponse Generated(const std::string& model, const net::HttpRequest& request);
  net::HttpResponse Validated(const std::string& model, const net::HttpRequest& request);
  // 400 naming node_id unless `node_id` is one of this participant's ML nodes; empty when it is.
  std::optional<net::HttpResponse> CheckNode(const char* route, int64_t node_id);

  pocstore::ArtifactStore* const store_;
  const StageFn stage_;
  const PocCallbacksOptions options_;
  std::atomic<int64_t> stored_{0};
};

}  // namespace edgesrv
}  // namespace gonka

#endif  // GONKA_EDGESRV_POC_CALLBACKS_H_
