// EdgeSrvService: one edge-srv replica assembled from its settings — the phase gate (the event
// hub's block stream, or the chain in development), the shared artifact store, the ML node list,
// the /validated sink and the admin routes — so the daemon's main is flags and wiring only, and a
// test or another daemon can embed a replica the same way (docs/edge-srv.md).
//
//   EdgeSrvOptions options;
//   options.pg = *pg_options;
//   options.nats = *nats_options;
//   options.participant = "gonka1...";
//   ASSIGN_OR_RETURN(std::unique_ptr<EdgeSrvService> srv, EdgeSrvService::Start(options));
//   srv->AddRoutes(&daemon.server());
//   srv->AddProbes(&daemon.drain());   // /ready: phase, postgres, nats; stops the gate on drain
//
// Contract:
//   - Start() checks the options, connects (NATS when the phase comes from the stream or a
//     participant is set; PostgreSQL always) and starts the phase gate. InvalidArgument with a
//     message that starts with the flag's name ("--participant: ...") for a bad setting — the
//     daemon stops at start naming it; Unavailable (or the cause's code) when a server cannot be
//     reached.
//   - The routes are PocCallbacks' (gonka/edgesrv/poc_callbacks.h) and, with a participant and an
//     admin authenticator, the admin API (gonka/edgesrv/admin_api.h).
//   - Stop() (and the destructor) stops the gate; the routes must not be called afterwards.
//
// Thread-safety: Start/AddRoutes/AddProbes/Stop from one thread; the routes and probes are
// thread-safe.
#ifndef GONKA_EDGESRV_EDGE_SRV_SERVICE_H_
#define GONKA_EDGESRV_EDGE_SRV_SERVICE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gonka/chain/epoch.h"
#include "gonka/drain/bearer_auth.h"
#include "gonka/nats/options.h"
#include "gonka/net/tls.h"
#include "gonka/pg/pg.h"

namespace gonka {
class DrainController;
namespace net {
class HttpServer;
}  // namespace net

namespace edgesrv {

struct EdgeSrvOptions {
  pg::PgOptions pg;                       // the artifact, node, seed stores and the signer ledger
  std::optional<nats::NatsOptions> nats;  // the block stream and the tx queue
  std::string accumulator = "smst";       // "smst" or "mmr" (the node-manager's must match)

  // The phase gate: "stream" (the event hub's JetStream stream) or "chain" (development).
  std::string phase_source = "stream";
  std::string stream = "BLOCKS";
  std::string subject = "blocks";
  absl::Duration stale_after = absl::Seconds(60);
  std::string chain_rpc_url = "http://127.0.0.1:26657";  // phase_source "chain"
  std::string chain_grpc_address;
  net::TlsClientOptions chain_tls;
  // When the chain answers no epoch Params (phase_source "chain"); its epoch_length also serves
  // the admin poc/timing in stream mode, unless chain_grpc_address is set (then the chain's).
  chain::EpochParams fallback_epochs;
  absl::Duration stage_poll = absl::Milliseconds(500);

  // This participant: enables /validated and the admin API.
  std::string participant;
  std::string prefix = "gonka";
  // Which node ids exist: the node-manager's ML node file, or its PostgreSQL node store (at most
  // one; neither: [0, 65536)).
  std::string ml_nodes_file;
  bool ml_nodes_from_store = false;
  size_t vector_bytes = 0;  // > 0: required vector length

  // Batch identity checks (PocCallbacksOptions::public_key, check_block_hash).
  std::string public_key;
  bool check_block_hash = false;

  // The admin API: none → it answers 403.
  HttpAuthenticator admin_authenticate;
  std::string node_manager_admin_url;  // the admin API's nodes routes redirect there
  // The admin setup/report's /ready checks: "name=http://host:port,..." (ParseReadyTargets).
  std::string setup_report_ready;
};

class EdgeSrvService {
 public:
  static absl::StatusOr<std::unique_ptr<EdgeSrvService>> Start(EdgeSrvOptions options);
  ~EdgeSrvService();

  void AddRoutes(net::HttpServer* server);
  void AddProbes(DrainController* drain);
  void Stop();

  struct Parts;  // what Start() assembled (edge_srv_service.cc)

 private:
  explicit EdgeSrvService(std::unique_ptr<Parts> parts);
  std::unique_ptr<Parts> parts_;
};

}  // namespace edgesrv
}  // namespace gonka

#endif  // GONKA_EDGESRV_EDGE_SRV_SERVICE_H_
