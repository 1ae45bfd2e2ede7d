// PocCallbacks: edge-srv's ML-node-facing PoC routes — N stateless replicas behind a balancer, each
// writing the artifacts ML nodes POST into the shared artifact store (gonka/pocstore), so no
// replica owns a PoC cycle (docs/edge-srv.md).
//
// Contract (Gonka's callback endpoint, docs/reference/ml-node-api.md):
//   POST /v2/poc-batches/<model, path-escaped twice>/generated with a GeneratedArtifactBatchV2
//   {block_hash, block_height, public_key, node_id, artifacts[{nonce, vector_b64}]}:
//     200 (empty body)  the artifacts are durable in the store (a nonce already stored for the
//                       stage and model is ignored, as Gonka's store ignores it);
//     503               not in the stage's generation window (StartOfPoC up to and including the
//                       PoCExchangeDeadline), or the stage is unknown (the chain cannot be read);
//     400               block_height is not the active stage's PoC start, node_id outside
//                       [0, max_node_id), a vector that is not base64, a nonce outside int32, or
//                       a malformed body — the message names the field;
//     404               `/v2/poc-batches/generated` without a model (Gonka answers 404 too).
//   The store's error (PostgreSQL down) is a 503: the ML node retries the batch.
//
// Thread-safety: thread-safe (handlers run concurrently).
//
// Example (daemons/edge-srv):
//   PocCallbacks callbacks(store.get(), ChainStageFn(&comet, epochs, absl::Seconds(1)));
//   callbacks.AddRoutes(&daemon.server());
#ifndef GONKA_EDGESRV_POC_CALLBACKS_H_
#define GONKA_EDGESRV_POC_CALLBACKS_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gonka/chain/epoch.h"
#include "gonka/net/http_message.h"
#include "gonka/pocstore/artifact_store.h"

namespace gonka {
namespace chain {
class CometClient;
}  // namespace chain
namespace net {
class HttpServer;
}  // namespace net

namespace edgesrv {

// Where the chain is in its PoC schedule.
struct StageWindow {
  int64_t height = 0;
  int64_t poc_start = 0;   // the latest PoC start at or before `height` (0: none yet)
  bool accepting = false;  // generated artifacts are accepted (the generation window)
};

// The window at `height` for `params`: accepting from StartOfPoC to PoCExchangeDeadline.
StageWindow WindowAt(const chain::EpochParams& params, int64_t height);

// The current window, asked from the chain node's /status at most once per `interval` (the last
// answer is reused meanwhile). Unavailable while the node cannot be read.
using StageFn = std::function<absl::StatusOr<StageWindow>()>;
StageFn ChainStageFn(chain::CometClient* comet, chain::EpochParams params, absl::Duration interval);

struct PocCallbacksOptions {
  int max_node_id = 1 << 16;       // node_id must be in [0, max_node_id)
  size_t max_artifacts = 1 << 16;  // per batch
};

class PocCallbacks {
 public:
  // Neither is owned; the store must outlive this object.
  PocCallbacks(pocstore::ArtifactStore* store, StageFn stage, PocCallbacksOptions options = {});

  // POST /v2/poc-batches/* (the contract above).
  void AddRoutes(net::HttpServer* server);
  net::HttpResponse Handle(const net::HttpRequest& request);

  // Artifacts stored / batches accepted / refused since start (also as metrics).
  int64_t stored() const { return stored_.load(); }

 private:
  pocstore::ArtifactStore* const store_;
  const StageFn stage_;
  const PocCallbacksOptions options_;
  std::atomic<int64_t> stored_{0};
};

}  // namespace edgesrv
}  // namespace gonka

#endif  // GONKA_EDGESRV_POC_CALLBACKS_H_
