// DevMlNode: the development ML node — Gonka's ML-node HTTP API with its state machine, stand-in
// PoC artifacts delivered to the callback URL in Gonka's v2 shapes, fencing-token checks, a
// command log and fault knobs (docs/devmlnode.md). It is to node-manager what devchain is to the
// event hub: a real server to test against. Nothing it computes is real PoC.
//
// Contract:
//   - State machine (GET /api/v1/state, GET /api/v1/inference/pow/status):
//       STOPPED/NO_BACKENDS --inference/up--> INFERENCE/IDLE --pow/init/generate--> POW/GENERATING
//       POW/GENERATING --pow/stop--> INFERENCE/IDLE (STOPPED/NO_BACKENDS when no model is up)
//       INFERENCE|STOPPED --pow/generate(validation)--> POW/VALIDATING --pow/stop--> as above
//       any --inference/up--> INFERENCE/IDLE (PoC stopped);  any --/api/v1/stop--> STOPPED
//     init/generate again with the same stage (block_hash, block_height, public_key, node_id) is
//     a no-op 200; another stage while GENERATING, or any init/generate while VALIDATING, is 409;
//     pow/generate while GENERATING is 409 (stop first, as Gonka's orchestrator does).
//   - init/generate with a `url` POSTs GeneratedArtifactBatchV2 bodies to `url + "/generated"`:
//     `nonces_per_stage` artifacts with nonces node_id, node_id + node_count, ... in batches of
//     `batch_size`, one batch per `batch_interval`; each nonce once. A stopped or superseded stage
//     sends no further batch. Delivery is retried (`callback_attempts`, then counted as failed).
//   - pow/generate with `validation` recomputes each nonce's stand-in artifact, compares, and
//     POSTs one ValidatedResultV2 to `url + "/validated"`.
//   - Fencing: every mutating command's X-Gonka-Fencing-Token is compared with the highest seen;
//     a lower one is refused with 409 naming both, a missing one with 409 when `require_fencing`
//     (else accepted; its record shows no token); a malformed one with 400. A command repeating an
//     accepted command's idempotency key gets the first answer again without being re-executed.
//     Mutating commands are serialized (check, execute, record as one step), so a command that
//     passed the check can never take effect after a newer token's command.
//   - Every mutating command is recorded (endpoint, token, key, outcome, status, reason, time):
//     GET /debug/commands (loopback peers only).
//   - Bad JSON or a bad field → 400 {"detail": "<field>: <what>"}.
//   - Inference port: GET /health, GET /v1/models and POST /v1/chat/completions (OpenAI shape;
//     answers a stand-in completion for the loaded model, 404 for another model, 503 with none).
//   - GET /<version>/api/v1/state for each of `versions` (the same state).
//
// Thread-safety: thread-safe; handlers run on the HTTP servers' threads, deliveries on one
// worker thread owned by DevMlNode (joined by Shutdown() or the destructor).
//
// Example (daemons/devmlnode/main.cc):
//   DevMlNode node(options);
//   node.RegisterApi(daemon.server());
//   node.RegisterInference(inference_server);
//   daemon.drain().AddShutdownHook("devmlnode", [&] { node.Shutdown(); });
#ifndef GONKA_DEVMLNODE_DEV_ML_NODE_H_
#define GONKA_DEVMLNODE_DEV_ML_NODE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gonka/net/http_server.h"

namespace gonka {
namespace devmlnode {

// Fault knobs (flags at start, POST /debug/faults at run time).
struct Faults {
  // Delay before answering each ML-node request (management and inference ports).
  absl::Duration slow = absl::ZeroDuration();
  // 0 = off; 500..599: answer every ML-node request with this status, without executing it.
  int refuse_status = 0;
  // Answer every ML-node request with 200 and a body that is not JSON, without executing it.
  bool garbage = false;
  // 0 = off; N: the Nth ML-node request from now exits the process (kCrashExitCode) unanswered.
  int64_t crash_after = 0;
};

struct DevMlNodeOptions {
  int64_t nonces_per_stage = 64;  // artifacts one init/generate produces for this node
  int batch_size = 16;            // artifacts per callback POST
  absl::Duration batch_interval = absl::Milliseconds(20);
  int k_dim = 12;                // fp16 values per artifact vector
  bool require_fencing = false;  // refuse mutating commands without a fencing token
  std::string auth_token;        // "" = none; else `Authorization: Bearer <token>` required
  int callback_attempts = 5;
  absl::Duration callback_timeout = absl::Seconds(5);
  // ML-node versions this node also answers GET /<version>/api/v1/state for, as a node behind
  // Gonka's versioned URLs does (node-manager's version-status probes them). Each one URL path
  // segment ([A-Za-z0-9._+-]).
  std::vector<std::string> versions;
  Faults faults;
  // Called by the crash fault (default: _exit(kCrashExitCode)).
  std::function<void()> crash;
};

inline constexpr int kCrashExitCode = 86;

// The stand-in artifact of `nonce`: base64 of k_dim fp16-sized values (2 bytes each) taken from
// SHA-256("gonka-devmlnode-poc|" block_hash "|" public_key "|" nonce), extended by re-hashing.
// Not real PoC: a pure function any devmlnode can recompute to validate.
std::string StandInArtifact(absl::string_view block_hash, absl::string_view public_key,
                            int64_t nonce, int k_dim);

class DevMlNode {
 public:
  explicit DevMlNode(DevMlNodeOptions options);
  ~DevMlNode();
  DevMlNode(const DevMlNode&) = delete;
  DevMlNode& operator=(const DevMlNode&) = delete;

  // InvalidArgument naming the option (batch_size, nonces_per_stage, k_dim, refuse_status,
  // versions...).
  static absl::Status Validate(const DevMlNodeOptions& options);

  // The management API (/api/v1/...) and /debug/commands, /debug/faults on `server`.
  void RegisterApi(net::HttpServer& server);
  // GET /health, GET /v1/models and POST /v1/chat/completions on the inference server.
  void RegisterInference(net::HttpServer& server);

  // Stops delivering and joins the worker. Idempotent.
  void Shutdown();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace devmlnode
}  // namespace gonka

#endif  // GONKA_DEVMLNODE_DEV_ML_NODE_H_
