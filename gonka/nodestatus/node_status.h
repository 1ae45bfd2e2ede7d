// NodeStatus: the operator's view of a whole Gonka node in one place — who leads the event hub
// and the node-manager, how far the block stream is behind the chain, the current epoch and phase,
// the tx queue's depth and each signer's rates, dead letters by reason, the chain cache's hit rate,
// each ML node's intended vs actual state, and the last blocks — gathered server-side from the
// node's services, so a browser or a script talks to one edge-api only.
//
//   NodeStatusOptions options;
//   ASSIGN_OR_RETURN(options.services, LoadServicesFile("/etc/gonka/status-services.json"));
//   options.js = js.get();                 // optional: the last blocks, live (the block stream)
//   NodeStatus status(std::move(options));
//   status.AddRoutes(&daemon.server());    // /status page, /v1/node/status, /v1/node/events
//   RETURN_IF_ERROR(status.Start());       // polls every poll_interval until Stop()
//
// Sources, per service kind (docs/status-page.md): every service's GET /ready (up = it answered,
// ready = 200); "edge-api": GET /v1/status (leader, chain_height, last_emitted_height, lag) and
// GET /v1/cache/stats (hits, shared_hits, misses per route); "signerd": GET /metrics
// (gonka_signer_txs_signed_total, gonka_signer_requests_total, gonka_txqueue_backlog,
// gonka_txqueue_stream_messages, gonka_txqueue_dead_lettered_total{reason}); "node-manager":
// GET /v1/node-manager/status (leader, epoch, phase, nodes[] with intended/actual). Any other kind
// is only checked for /ready.
//
// Routes (AddRoutes):
//   GET /status, /status/app.js, /status/app.css   the page (embedded; no CDN, CSP 'self')
//   GET /v1/node/status                             the latest snapshot as JSON (below)
//   GET /v1/node/events                             Server-Sent Events: `snapshot` (the same JSON,
//       first at once, then after every poll round), `block` {height,time,hash,txs,epoch,phase},
//       `phase` {height,epoch,phase,previous}, `leader` {role,leader,previous},
//       `dead_letter` {reason,count,total}, `service` {name,up,ready,error}; ids increase.
//
// Snapshot JSON: {"generated_at", "poll_interval_ms", "services": [{name, kind, url, up, ready,
// error, latency_ms}], "eventhub": {leader, chain_height, last_emitted_height, lag, coordination},
// "node_manager": {leader, token, height, epoch, phase, nodes: [{id, intended, actual, last_error,
// manager}]}, "epoch", "phase", "txqueue": {backlog, stream_messages, dead_letters: {reason: n},
// dead_letters_total}, "signers": [{name, signed_total, signed_per_s, requests_per_s, up}],
// "cache": {hits, misses, hit_rate}, "blocks": [newest first], "events": [newest last]}.
// A value nobody reported is null. A service that does not answer is listed with up=false and the
// error that named it; it never fails the snapshot or the page.
//
// Thread-safety: thread-safe. Start/Stop from one thread. Polling runs on its own thread (each
// round checks the services in parallel); no lock is held across a network call.
#ifndef GONKA_NODESTATUS_NODE_STATUS_H_
#define GONKA_NODESTATUS_NODE_STATUS_H_

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gonka/chain/block_events.pb.h"
#include "gonka/nats/jetstream.h"
#include "gonka/net/http_client.h"
#include "gonka/net/http_server.h"

namespace gonka {
namespace nodestatus {

// One service of the node. `kind`: "edge-api", "signerd", "node-manager", or anything else
// (e.g. "devmlnode", "edge-srv": /ready only). `url`: its HTTP base, http:// or https://.
struct ServiceEndpoint {
  std::string name;
  std::string kind;
  std::string url;
};

// Parses `{"services": [{"name": ..., "kind": ..., "url": ...}, ...]}` (or the bare array).
// InvalidArgument naming the entry and field (e.g. "services[2].url: want http:// or https://"),
// also for a duplicate name or credentials in a URL (the URLs are shown on the page).
absl::StatusOr<std::vector<ServiceEndpoint>> ParseServices(absl::string_view json);
// ParseServices of the file's text; NotFound/InvalidArgument naming `path`.
absl::StatusOr<std::vector<ServiceEndpoint>> LoadServicesFile(const std::string& path);

struct NodeStatusOptions {
  std::vector<ServiceEndpoint> services;
  absl::Duration poll_interval = absl::Seconds(1);
  // Per request to a service; a round takes at most about twice this (each service's requests
  // run one after another, services in parallel).
  absl::Duration request_timeout = absl::Milliseconds(800);
  size_t max_blocks = 20;  // last blocks kept (and shown)
  size_t max_events = 50;  // last live events kept (sent in the snapshot)
  // Whom to trust for https:// service URLs.
  net::TlsClientOptions tls;
  // Optional: the block stream, for `block` and `phase` events (a temporary consumer starting
  // at the next block). Without it, blocks come only through RecordBlock().
  nats::JetStream* js = nullptr;
  std::string stream = "BLOCKS";
  std::string subject = "blocks";
};

class NodeStatus {
 public:
  explicit NodeStatus(NodeStatusOptions options);
  ~NodeStatus();  // Stop()
  NodeStatus(const NodeStatus&) = delete;
  NodeStatus& operator=(const NodeStatus&) = delete;

  // InvalidArgument naming the field (a bad service, a non-positive interval or timeout).
  static absl::Status Validate(const NodeStatusOptions& options);

  void AddRoutes(net::HttpServer* server);

  // Validates, polls once (so the first page load has data), starts the block subscriber (when
  // `js` is set; a failure there is logged and retried by the poll thread, never fatal) and the
  // poll thread.
  absl::Status Start();
  // Ends every event stream and refuses new ones with 503 (drain: browsers reconnect to another
  // replica; an open stream would otherwise hold the drain until its grace ran out).
  void CloseStreams();
  // Stops polling and the block subscriber, ends every stream. Idempotent.
  void Stop();

  // One poll round now (tests; the poll thread calls it every poll_interval).
  void PollOnce();
  // Adds a block to the last blocks; emits `block` and, when epoch or phase changed, `phase`.
  void RecordBlock(const chain::v1::BlockEvents& block);
  // The snapshot JSON (see above).
  std::string SnapshotJson() const;
  // Event streams open now.
  size_t open_streams() const;

 private:
  struct ServiceState;
  struct Block {
    int64_t height = 0;
    std::string time, hash, phase;
    int64_t txs = 0, epoch = -1;
  };
  struct LiveEvent {
    uint64_t id = 0;
    std::string type, json;
  };

  ServiceState Poll(const ServiceEndpoint& service);
  void Apply(std::vector<ServiceState> round);
  void Emit(const std::string& type, std::string json) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Broadcast(const std::string& chunk) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void NotePhase(int64_t height, int64_t epoch, const std::string& phase)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string SnapshotLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void StartBlocks();
  void Run();

  const NodeStatusOptions options_;
  net::HttpClient http_;
  class BlockFeed;
  std::unique_ptr<BlockFeed> blocks_feed_;

  mutable absl::Mutex mu_;
  std::vector<ServiceState> services_ ABSL_GUARDED_BY(mu_);
  std::deque<Block> blocks_ ABSL_GUARDED_BY(mu_);
  std::deque<LiveEvent> events_ ABSL_GUARDED_BY(mu_);
  uint64_t next_event_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::vector<std::shared_ptr<net::ResponseStream>> streams_ ABSL_GUARDED_BY(mu_);
  std::string hub_leader_ ABSL_GUARDED_BY(mu_);
  std::string manager_leader_ ABSL_GUARDED_BY(mu_);
  bool leaders_known_ ABSL_GUARDED_BY(mu_) = false;
  int64_t epoch_ ABSL_GUARDED_BY(mu_) = -1;
  std::string phase_ ABSL_GUARDED_BY(mu_);
  int64_t phase_height_ ABSL_GUARDED_BY(mu_) = 0;  // the height epoch_/phase_ are from
  std::map<std::string, double> dead_letters_ ABSL_GUARDED_BY(mu_);
  bool dead_letters_known_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time last_round_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool draining_ ABSL_GUARDED_BY(mu_) = false;

  std::thread poller_;
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace nodestatus
}  // namespace gonka

#endif  // GONKA_NODESTATUS_NODE_STATUS_H_
