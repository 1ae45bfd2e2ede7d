// edge-srv: the ML-node-facing PoC callbacks and the admin routes as N stateless replicas behind a
// balancer. Each replica writes the artifacts ML nodes POST into the shared PostgreSQL artifact
// store and sends validation results and admin chain messages through the tx queue; the phase
// comes from the event hub's block stream (gonka/edgesrv/edge_srv_service.h, docs/edge-srv.md).
// This file is flags and wiring only.
//
//   edge-srv --pg-url-file=/etc/gonka/pg-url --nats-url=nats://nats:4222
//            --participant=gonka1... --ml-nodes-from-store
#include <optional>
#include <string>

#include "gonka/chain/chain_flags.h"
#include "gonka/drain/bearer_auth.h"
#include "gonka/drain/connection_flags.h"
#include "gonka/drain/daemon.h"
#include "gonka/edgesrv/edge_srv_service.h"

int main(int argc, char** argv) {
  gonka::Daemon daemon({.name = "edge-srv", .default_port = 9100});
  gonka::Config& config = daemon.config();
  gonka::ConnectionFlags connections;
  connections.Register(&config, {.nats = true, .pg = true});
  gonka::edgesrv::EdgeSrvOptions o;
  int64_t vector_bytes = 0;
  config
      .AddString("phase-source", &o.phase_source, "stream",
                 "where the PoC phase comes from: stream (the event hub's block stream on "
                 "--nats-url) or chain (poll --chain-rpc-url; development only)")
      .OneOf({"stream", "chain"});
  config
      .AddString("accumulator", &o.accumulator, "smst",
                 "the artifact store's commitment: mmr or smst (the node-manager's must match: "
                 "each has its own tables)")
      .OneOf({"mmr", "smst"});
  config.AddString("stream", &o.stream, "BLOCKS", "the event hub's JetStream stream");
  config.AddString("subject", &o.subject, "blocks", "its block subject");
  config.AddDuration("stale-after", &o.stale_after, absl::Seconds(60),
                     "no block for this long: the phase is unknown (callbacks 503)");
  config.AddString("participant", &o.participant, "",
                   "this participant's address: /validated results become "
                   "MsgSubmitPocValidationsV2 on the tx queue, and the admin API is served "
                   "(empty: /validated answers 503)");
  config.AddString("address-prefix", &o.prefix, "gonka", "bech32 prefix of account addresses");
  config.AddString("ml-nodes-file", &o.ml_nodes_file, "",
                   "the node-manager's ML node file: node_id must be below its node count");
  config.AddBool("ml-nodes-from-store", &o.ml_nodes_from_store, false,
                 "node_id must be below the number of enabled ML nodes in the node-manager's "
                 "PostgreSQL node store");
  config
      .AddInt("vector-bytes", &vector_bytes, 0,
              "required vector length in bytes (0: any; a batch's f16 encoding k_dim still "
              "applies)")
      .NonNegative();
  config.AddString("public-key", &o.public_key, "",
                   "a generated batch's public_key must be this (the node-manager's "
                   "--public-key; empty: not checked, as Gonka's dapi)");
  config.AddBool("check-block-hash", &o.check_block_hash, false,
                 "a generated batch's block_hash must be the stage's PoC start block hash (when "
                 "this replica saw that block on the stream; Gonka's dapi does not check it)");
  config.AddString("node-manager-admin-url", &o.node_manager_admin_url, "",
                   "the node-manager's admin API (http://host:port): /admin/v1/nodes* redirect "
                   "there (empty: 404 naming the node-manager)");
  config.AddString("setup-report-ready", &o.setup_report_ready, "",
                   "the admin setup/report's readiness checks: name=http://host:port,... (each "
                   "daemon's /ready, e.g. signerd=http://127.0.0.1:8081)");
  gonka::HttpAuthFlags admin_auth("admin", "admin API");
  admin_auth.Register(&config);
  // The development fallback's settings (--phase-source=chain).
  gonka::chain::ChainFlags chain;
  chain.Register(&config,
                 {.rpc = "CometBFT RPC URL (--phase-source=chain; with --participant also the "
                         "admin chain queries' abci_query fallback)",
                  .grpc = "Cosmos gRPC host:port for the epoch parameters (--phase-source=chain; "
                          "with the stream, for the admin poc/timing's epoch length) and the admin "
                          "chain queries"});
  config
      .AddInt("epoch-length", &o.fallback_epochs.epoch_length, 0,
              "epoch length when the chain does not answer Params (--phase-source=chain); with "
              "the stream, the admin poc/timing's (or the chain's with --chain-grpc-address)")
      .NonNegative();
  config
      .AddInt("epoch-shift", &o.fallback_epochs.epoch_shift, 0,
              "blocks every PoC start is moved earlier, with --epoch-length (the chain's with "
              "--chain-grpc-address): the admin poc/timing's countdown to the first PoC")
      .NonNegative();
  config.AddDuration("stage-poll", &o.stage_poll, absl::Milliseconds(500),
                     "how often the chain's height is read (--phase-source=chain)");
  if (std::optional<int> exit = daemon.Init(argc, argv)) return *exit;

  o.vector_bytes = static_cast<size_t>(vector_bytes);
  if (o.fallback_epochs.epoch_shift > 0 &&
      o.fallback_epochs.epoch_shift >= o.fallback_epochs.epoch_length) {
    return daemon.ConfigError("--epoch-shift must be less than --epoch-length");
  }
  o.chain_rpc_url = chain.rpc_url();
  o.chain_grpc_address = chain.grpc_address();
  o.chain_tls = chain.tls();
  absl::StatusOr<gonka::pg::PgOptions> pg = connections.Pg();
  if (!pg.ok()) return daemon.ConfigError(std::string(pg.status().message()));
  o.pg = *pg;
  if (o.phase_source == "stream" || !o.participant.empty()) {
    absl::StatusOr<gonka::nats::NatsOptions> nats = connections.Nats("edge-srv");
    if (!nats.ok()) return daemon.ConfigError(std::string(nats.status().message()));
    o.nats = *nats;
  }
  if (!o.participant.empty()) {
    absl::StatusOr<gonka::HttpAuthenticator> authenticate = admin_auth.Build();
    if (!authenticate.ok()) return daemon.ConfigError(std::string(authenticate.status().message()));
    o.admin_authenticate = *authenticate;
  }

  absl::StatusOr<std::unique_ptr<gonka::edgesrv::EdgeSrvService>> srv =
      gonka::edgesrv::EdgeSrvService::Start(std::move(o));
  if (absl::IsInvalidArgument(srv.status())) {
    return daemon.ConfigError(std::string(srv.status().message()));
  }
  if (!srv.ok()) return daemon.Fail(srv.status());
  (*srv)->AddRoutes(&daemon.server());
  (*srv)->AddProbes(&daemon.drain());
  if (absl::Status s = daemon.Start(); !s.ok()) return daemon.Fail(s);
  return daemon.Run();
}
