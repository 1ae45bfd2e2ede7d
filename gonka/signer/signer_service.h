// SignerService: everything one signer process runs around the Signer pipeline, so signerd, the
// test workers and the tests share one run loop:
//   - `workers` signing loops, each with its own durable-consumer binding (bound at Start with
//     retry: replicas starting together race to create the shared durable, and NATS may be
//     restarting) and its own Signer;
//   - optionally the Reconciler (requests the queue lost come back from the ledger);
//   - a refresher for the queue gauges (gonka_txqueue_stream_messages, gonka_txqueue_backlog);
//   - the HTTP routes producers and operators use (AddRoutes): POST /v1/txs and GET /v1/ledger;
//   - drain: BeginStop() makes every loop finish (or hand back) the delivery it holds and take
//     no more; anything not acked is redelivered to another replica. Stop() joins everything.
//
// HTTP (AddRoutes). Every request is first authenticated by `authenticate` (no hook = the HTTP
// routes are off: 403): 401 with WWW-Authenticate: Bearer for a missing, malformed or unknown
// token, 403 when the caller may not enqueue (e.g. a non-loopback peer without a token), 503 when
// the credentials cannot be loaded. Then each credential has its own rate limit (`rate_limit`):
// 429 with Retry-After naming the credential and the limit. Error bodies name no secret.
//   POST /v1/txs   a gonka.txqueue.v1.ChainTx, serialized (Content-Type: application/x-protobuf;
//                  any message type) or as JSON ({"idempotency_key": "...", "messages":
//                  [{"@type": "/cosmos.bank.v1beta1.MsgSend", ...}]}; only message types linked
//                  into the process can be parsed from JSON). The request is recorded in the
//                  ledger before it is published (EnqueueRecorded), so once accepted it is sent
//                  even if the queue loses it. 202 {"idempotency_key", "duplicate": false,
//                  "sequence"}; 200 with "duplicate": true for a key already queued or settled;
//                  400 naming the problem for a malformed body or an invalid request; 403
//                  {"error", "reason": "type_not_allowed"} when the signer's MessagePolicy refuses
//                  a message type (nothing is recorded or queued); 503 when the ledger or the
//                  queue is unavailable.
//   GET /v1/ledger?key=K   the ledger row of K (state, tx_hash, height, attempts, reenqueues,
//                  last_error); 404 when unknown, 400 without key.
//
// Thread-safety: Start/BeginStop/Stop from one thread (main); the HTTP handlers are thread-safe.
//
// Example (signerd):
//   SignerService service(&key, js.get(), &queue, ledger.get(), &comet, options);
//   service.AddRoutes(&daemon.server());
//   RETURN_IF_ERROR(service.Start());
//   daemon.drain().OnStateChange([&](State s) { if (s == State::kDraining) service.BeginStop(); });
//   daemon.drain().AddShutdownHook("signing loops", [&] { service.Stop(); });
#ifndef GONKA_SIGNER_SIGNER_SERVICE_H_
#define GONKA_SIGNER_SIGNER_SERVICE_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gonka/base/clock.h"
#include "gonka/base/rate_limiter.h"
#include "gonka/chain/comet_client.h"
#include "gonka/crypto/key.h"
#include "gonka/election/leader_elector.h"
#include "gonka/nats/jetstream.h"
#include "gonka/net/http_server.h"
#include "gonka/signer/ledger.h"
#include "gonka/signer/reconciler.h"
#include "gonka/signer/sequencer.h"
#include "gonka/signer/signer.h"
#include "gonka/txqueue/txqueue.h"

namespace gonka {
namespace signer {

struct SignerServiceOptions {
  SignerOptions signer;  // per loop; mode/sequencer are set by the service from `sequence_lease`
  txqueue::ConsumerOptions consumer;  // dead_letter_expired is forced to false (the signer decides)
  int workers = 2;                    // signing loops, each its own consumer
  // How long Start keeps retrying a consumer binding that fails with Unavailable or
  // DeadlineExceeded.
  absl::Duration bind_retry_for = absl::Seconds(30);
  // How long one loop waits for a request per fetch (also bounds how fast BeginStop is seen).
  absl::Duration fetch_timeout = absl::Milliseconds(500);
  // > 0: run a Reconciler with this stale_after (ReconcilerOptions); 0 = off.
  absl::Duration reenqueue_after = absl::ZeroDuration();
  // How often the queue gauges are refreshed; 0 = never.
  absl::Duration queue_metrics_interval = absl::Seconds(5);
  // Sequenced mode: the per-key lease (not owned, already started or started by the caller). Set
  // = sequenced mode with a Sequencer on this lease; nullptr = signer.mode as given.
  election::LeaderElector* sequence_lease = nullptr;
  // Who may use the HTTP routes: the caller's credential name (for logs, metrics and the rate
  // limit), or Unauthenticated (401), PermissionDenied (403) or Unavailable (503). Unset = the
  // HTTP routes answer 403 (enqueue only through the queue). signerd builds it from
  // --enqueue-token-file / --enqueue-insecure-loopback (gonka/drain/bearer_auth.h).
  std::function<absl::StatusOr<std::string>(const net::HttpRequest&)> authenticate;
  // Per-credential limit of HTTP requests (rate_per_second <= 0: unlimited).
  RateLimiterOptions rate_limit = {.rate_per_second = 50, .burst = 100};
};

class SignerService {
 public:
  // None of the pointers is owned; all must outlive the service.
  SignerService(const crypto::SigningKey* key, nats::JetStream* js, txqueue::TxQueue* queue,
                Ledger* ledger, chain::CometClient* comet, SignerServiceOptions options);
  ~SignerService();  // Stop()
  SignerService(const SignerService&) = delete;
  SignerService& operator=(const SignerService&) = delete;

  // Registers POST /v1/txs, POST /v1/seed and GET /v1/ledger on `server` (before or after
  // Start). All three are admitted alike (`authenticate`, then the per-credential rate limit):
  // 401/403/429/503 as below. POST /v1/seed {"epoch": N} answers 200
  // {"epoch": "N", "seed": "<int64>", "signature": "<128 hex>", "public_key": "<66 hex>"}, the
  // warm key's GenerateSeed (epoch_seed.h; it signs nothing the caller chose), or 400 naming the
  // field for a bad body.
  void AddRoutes(net::HttpServer* server);

  // Binds the consumers (with retry, see bind_retry_for) and starts the loops, the Reconciler
  // and the gauge refresher. Errors: the binding's last error (nothing is left running);
  // FailedPrecondition when called twice.
  absl::Status Start();

  // Drain: each loop finishes the delivery it holds and takes no more. Non-blocking, idempotent.
  void BeginStop();
  // BeginStop, then joins every thread. Idempotent.
  void Stop();

  bool stopping() const;

 private:
  void Loop(Signer* signer);
  void RefreshQueueGauges();
  // Waits `d` unless the service stops first; true when stopping.
  bool WaitOrStop(absl::Duration d);

  const crypto::SigningKey* const key_;
  nats::JetStream* const js_;
  txqueue::TxQueue* const queue_;
  Ledger* const ledger_;
  chain::CometClient* const comet_;
  SignerServiceOptions options_;

  // The credential of an HTTP request, or the error response.
  absl::StatusOr<std::string> Admit(const net::HttpRequest& request, net::HttpResponse* refusal);

  std::unique_ptr<Sequencer> sequencer_;
  RateLimiter limiter_;
  std::vector<std::unique_ptr<txqueue::TxConsumer>> consumers_;
  std::vector<std::unique_ptr<Signer>> signers_;
  std::unique_ptr<Reconciler> reconciler_;
  std::vector<std::thread> threads_;
  Clock* const clock_;  // options.signer.clock, or the real one
  mutable absl::Mutex stop_mu_;
  bool stopping_ ABSL_GUARDED_BY(stop_mu_) = false;
  bool started_ = false;
};

}  // namespace signer
}  // namespace gonka

#endif  // GONKA_SIGNER_SIGNER_SERVICE_H_
