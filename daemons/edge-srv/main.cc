// edge-srv: the ML-node-facing PoC callbacks as N stateless replicas behind a balancer. Each
// replica writes the artifacts ML nodes POST into the shared PostgreSQL artifact store; the
// node-manager leader computes the stage's commitment from it once (gonka/edgesrv/poc_callbacks.h,
// docs/edge-srv.md).
//
//   edge-srv --pg-url-file=/etc/gonka/pg-url --chain-rpc-url=http://node:26657
//            --chain-grpc-address=node:9090
#include <memory>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "gonka/cache/chain_routes.h"
#include "gonka/chain/comet_client.h"
#include "gonka/chain/inference_query_client.h"
#include "gonka/drain/connection_flags.h"
#include "gonka/drain/daemon.h"
#include "gonka/edgesrv/poc_callbacks.h"
#include "gonka/net/tls_flags.h"
#include "gonka/pg/pg.h"
#include "gonka/pocstore/artifact_store.h"

int main(int argc, char** argv) {
  gonka::Daemon daemon({.name = "edge-srv", .default_port = 9100});
  gonka::Config& config = daemon.config();
  gonka::ConnectionFlags connections;
  connections.Register(&config, {.pg = true});
  std::string rpc_url, grpc_address;
  gonka::chain::EpochParams fallback;
  config.AddString("chain-rpc-url", &rpc_url, "http://127.0.0.1:26657", "CometBFT RPC URL");
  config.AddString("chain-grpc-address", &grpc_address, "",
                   "Cosmos gRPC host:port (the epoch parameters; empty = abci_query)");
  gonka::net::TlsClientFlags chain_tls;
  chain_tls.Register(&config, "chain", "--chain-rpc-url");
  config
      .AddInt("epoch-length", &fallback.epoch_length, 0,
              "epoch length when the chain does not answer Params (0 = ask the chain)")
      .NonNegative();
  absl::Duration stage_poll;
  config.AddDuration("stage-poll", &stage_poll, absl::Milliseconds(500),
                     "how often the chain's height is read for the PoC window (at most)");
  if (std::optional<int> exit = daemon.Init(argc, argv)) return *exit;

  gonka::chain::CometClient comet({.rpc_url = rpc_url, .tls = chain_tls.options()});
  gonka::chain::InferenceQueryClient probe({.grpc_address = grpc_address,
                                            .rpc_url = rpc_url,
                                            .rpc_tls = chain_tls.options(),
                                            .timeout = absl::Seconds(3)});
  std::optional<gonka::chain::EpochParams> epochs = gonka::cache::ChainEpochParams(probe, fallback);
  if (!epochs.has_value()) {
    return daemon.ConfigError("--epoch-length: the chain has no epoch Params and none was given");
  }
  absl::StatusOr<gonka::pg::PgOptions> pg = connections.Pg();
  if (!pg.ok()) return daemon.ConfigError(std::string(pg.status().message()));
  absl::StatusOr<std::unique_ptr<gonka::pg::Pool>> pool = gonka::pg::Pool::Open(*pg);
  if (!pool.ok()) return daemon.Fail(pool.status());
  absl::StatusOr<std::unique_ptr<gonka::pocstore::PgArtifactStore>> store =
      gonka::pocstore::PgArtifactStore::Open(pool->get());
  if (!store.ok()) return daemon.Fail(store.status());

  gonka::edgesrv::PocCallbacks callbacks(store->get(),
                                         gonka::edgesrv::ChainStageFn(&comet, *epochs, stage_poll));
  callbacks.AddRoutes(&daemon.server());
  gonka::DrainController& drain = daemon.drain();
  drain.AddReadinessProbe("chain", [&comet] { return comet.Status().status(); });
  drain.AddReadinessProbe("postgres", [&pool] { return (*pool)->Exec("SELECT 1").status(); });
  if (absl::Status s = daemon.Start(); !s.ok()) return daemon.Fail(s);
  return daemon.Run();
}
