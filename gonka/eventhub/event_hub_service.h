// EventHubService: the whole chain-facing event hub of one replica, as edge-api runs it, so a
// second daemon can embed it:
//   - the Emitter (only the leader emits; every replica follows the chain and the stream),
//   - a CometSubscriber on the node's WebSocket that wakes the emitter on each new block,
//   - the per-event-type views (EventViews) kept running on the leader only, for strict order,
//   - the SSE block stream for dashboards (BlockStreamServer),
//   - GET /v1/status: {"status": "ok" (Gonka's edge-api's constant), "chain_id", "identity",
//   "coordination", "leader", "last_emitted_height"
//     (the stream's last height as this replica sees it), "chain_height" (the chain's latest as
//     this replica sees it, leader or follower), "lag" (chain_height - last_emitted_height),
//     "healthy", "error" (when not healthy)}.
// Leadership and the cursor live on one election::Coordination backend (Redis or JetStream KV).
//
// Lifecycle: AddRoutes → Start (emitter, wake-up socket, views watcher, then the election) →
// on drain BeginDrain (ends SSE streams; clients resume elsewhere with Last-Event-ID) → Stop
// (releases leadership first so a standby takes over at once, then stops the loops).
//
// Thread-safety: Start/BeginDrain/Stop from one thread; routes and accessors are thread-safe.
//
// Example (edge-api):
//   EventHubService hub(options, &comet, js.get(), coordination.get());
//   hub.AddRoutes(&daemon.server());
//   daemon.drain().AddReadinessProbe("eventhub", [&] { return hub.health(); });
//   RETURN_IF_ERROR(hub.Start());
#ifndef GONKA_EVENTHUB_EVENT_HUB_SERVICE_H_
#define GONKA_EVENTHUB_EVENT_HUB_SERVICE_H_

#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gonka/chain/comet_client.h"
#include "gonka/chain/comet_subscriber.h"
#include "gonka/election/coordination.h"
#include "gonka/eventhub/block_stream_server.h"
#include "gonka/eventhub/emitter.h"
#include "gonka/eventhub/event_views.h"
#include "gonka/nats/jetstream.h"
#include "gonka/net/http_server.h"

namespace gonka {
namespace eventhub {

struct EventHubServiceOptions {
  EmitterOptions emitter;        // chain_id (required), stream, replicas, epochs, catch-up tuning
  std::string ws_url;            // the node's CometBFT WebSocket ("" = no wake-ups, polling only)
  net::TlsClientOptions ws_tls;  // whom to trust when ws_url is wss:// (gonka/net/tls.h)
  std::string identity;          // this replica's name, shown in /v1/status
  // How often a replica checks whether it should run the event views (it leads) or not.
  absl::Duration views_check_interval = absl::Milliseconds(500);
  absl::Duration stream_inactive_threshold = absl::Seconds(30);  // SSE consumers
};

class EventHubService {
 public:
  // None of the pointers is owned; all must outlive the service.
  EventHubService(EventHubServiceOptions options, chain::CometClient* comet, nats::JetStream* js,
                  election::Coordination* coordination);
  ~EventHubService();  // Stop()
  EventHubService(const EventHubService&) = delete;
  EventHubService& operator=(const EventHubService&) = delete;

  // GET /v1/blocks/stream and GET /v1/status.
  void AddRoutes(net::HttpServer* server);

  // Starts the emitter (creating the stream: InvalidArgument naming a conflicting setting), the
  // wake-up subscription, the views watcher and the election. On error nothing is left running.
  absl::Status Start();
  // Drain: ends every SSE stream cleanly.
  void BeginDrain();
  // Releases leadership, then stops everything. Idempotent.
  void Stop();

  // OK while emission is not stuck (Emitter::health).
  absl::Status health() const { return emitter_.health(); }
  const Emitter& emitter() const { return emitter_; }
  BlockStreamServer& streams() { return streams_; }

 private:
  void WatchViews();

  const EventHubServiceOptions options_;
  election::Coordination* const coordination_;
  Emitter emitter_;
  std::unique_ptr<chain::CometSubscriber> wake_;
  EventViews views_;
  BlockStreamServer streams_;
  absl::Mutex stop_mu_;
  bool stopping_ ABSL_GUARDED_BY(stop_mu_) = false;
  std::thread views_watcher_;
  bool stopped_ = false;
};

}  // namespace eventhub
}  // namespace gonka

#endif  // GONKA_EVENTHUB_EVENT_HUB_SERVICE_H_
