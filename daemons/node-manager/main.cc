// node-manager: drives this participant's ML nodes through each epoch and sends the chain
// messages of the epoch's stages. N replicas run; the one holding the lease follows the block
// stream from the durable position "node-manager" and acts, every ML-node command carrying its
// fencing token (gonka/nodemanager/node_manager_service.h, docs/node-manager.md).
//
//   node-manager --participant=gonka1... --ml-nodes-file=/etc/gonka/ml-nodes.json
//                --chain-rpc-url=http://node:26657 --chain-grpc-address=node:9090
//                --nats-url=nats://nats:4222 [--coordination=nats | --redis-url=redis://...]
//   ML nodes from PostgreSQL instead, managed over Gonka's admin REST (docs/node-manager.md):
//     --ml-nodes-from-store --pg-url-file=/etc/gonka/pg-url --admin-token-file=/etc/gonka/admin
//   Chain messages (docs/node-manager.md): --key-file=/run/secrets/warm.key, or with no key here
//     --seed-signer-url=http://signerd:8081 --seed-signer-token-file=/run/secrets/seed-token
//     --seed-signer-public-key=<warm key's public key, hex or base64>
#include <unistd.h>

#include <memory>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "gonka/base/log.h"
#include "gonka/cache/chain_routes.h"
#include "gonka/chain/chain_flags.h"
#include "gonka/chain/comet_client.h"
#include "gonka/chain/inference_query_client.h"
#include "gonka/drain/connection_flags.h"
#include "gonka/drain/daemon.h"
#include "gonka/election/coordination.h"
#include "gonka/nats/jetstream.h"
#include "gonka/nodemanager/admin_api.h"
#include "gonka/nodemanager/node_manager_service.h"
#include "gonka/nodemanager/queue_chain_sink.h"
#include "gonka/nodemanager/seed_source.h"
#include "gonka/nodemanager/upgrade_plan.h"
#include "gonka/pocstore/artifact_store.h"

int main(int argc, char** argv) {
  gonka::Daemon daemon({.name = "node-manager", .default_port = 8090});
  gonka::Config& config = daemon.config();
  gonka::ConnectionFlags connections;
  connections.Register(&config, {.pg = true, .coordination = true});
  gonka::nodemanager::NodeManagerOptions options;
  std::string nodes_file, identity;
  config.AddString("participant", &options.participant, "", "this participant's account address")
      .Required();
  config.AddString("public-key", &options.public_key, "",
                   "the participant's public key, as sent to ML nodes in PoC requests");
  config.AddString("callback-url", &options.callback_url, "",
                   "PoC callback base ML nodes POST artifacts to, e.g. "
                   "http://edge-srv:9100/v2/poc-batches (empty: none)");
  config.AddString("ml-nodes-file", &nodes_file, "",
                   "JSON array of ML nodes: {id, api_url, inference_url, model[, seq_len, "
                   "auth_token_file]} (or --ml-nodes-from-store)");
  gonka::nodemanager::MlNodeAdminOptions admin;
  bool nodes_from_store = false;
  config.AddBool("ml-nodes-from-store", &nodes_from_store, false,
                 "ML nodes from PostgreSQL (--pg-url), managed through /admin/v1/nodes");
  config.AddString("admin-api-address", &admin.address, "127.0.0.1:9200",
                   "host:port of the ML-node admin REST API (/admin/v1/nodes)");
  config.AddString("admin-token-file", &admin.token_file, "",
                   "admin API bearer tokens (0600 file; none: the API answers 403)");
  gonka::nodemanager::SeedSourceFlags seeds;  // --key-file, --seed-signer-*
  seeds.Register(&config);
  std::string accumulator;
  config
      .AddString("accumulator", &accumulator, "smst",
                 "the PoC artifact store's commitment: mmr or smst (edge-srv's --accumulator: "
                 "each has its own tables)")
      .OneOf({"mmr", "smst"});
  gonka::chain::ChainFlags chain;
  chain.Register(&config, {.grpc = "Cosmos gRPC host:port (the epoch parameters; empty = "
                                   "abci_query)"});
  config.AddString("stream", &options.stream, "BLOCKS", "JetStream stream of BlockEvents");
  config.AddString("identity", &identity, "", "this replica's name (default host:pid)");
  config
      .AddInt("epoch-length", &options.epochs.epoch_length, 0,
              "epoch length when the chain does not answer Params (0 = ask the chain)")
      .NonNegative();
  config
      .AddDuration("command-timeout", &options.command_timeout, absl::Seconds(10),
                   "deadline of one ML-node call")
      .Positive();
  config
      .AddDuration("admin-test-timeout", &admin.test_timeout, absl::Minutes(5),
                   "deadline of one POST /admin/v1/nodes/<id>/test (a model load takes minutes)")
      .Positive();
  if (std::optional<int> exit = daemon.Init(argc, argv)) return *exit;
  if (identity.empty()) {
    char host[256] = {0};
    gethostname(host, sizeof(host) - 1);
    identity = absl::StrCat(host, ":", getpid());
  }

  if (absl::Status s = seeds.Validate(); !s.ok())
    return daemon.ConfigError(std::string(s.message()));
  if (nodes_from_store != nodes_file.empty()) {
    return daemon.ConfigError("give one of --ml-nodes-file and --ml-nodes-from-store");
  }
  absl::StatusOr<std::vector<gonka::nodemanager::MlNodeConfig>> nodes =
      nodes_from_store ? std::vector<gonka::nodemanager::MlNodeConfig>{}
                       : gonka::nodemanager::ReadMlNodesFile(nodes_file);
  if (!nodes.ok())
    return daemon.ConfigError(absl::StrCat("--ml-nodes-file: ", nodes.status().message()));

  gonka::chain::CometClient comet(chain.Comet());
  gonka::chain::InferenceQueryClient probe(chain.Queries(absl::Seconds(3)));
  std::optional<gonka::chain::EpochParams> epochs =
      gonka::cache::ChainEpochParams(probe, options.epochs);
  if (!epochs.has_value()) {
    return daemon.ConfigError("--epoch-length: the chain has no epoch Params and none was given");
  }
  options.epochs = *epochs;
  options.block_hash = [&comet](int64_t height) -> absl::StatusOr<std::string> {
    absl::StatusOr<gonka::chain::v1::BlockEvents> block = comet.FetchBlockEvents(height, {});
    if (!block.ok()) return block.status();
    return block->hash();
  };

  absl::StatusOr<gonka::nats::NatsOptions> nats_options =
      connections.Nats(absl::StrCat("node-manager ", identity));
  if (!nats_options.ok()) return daemon.Fail(nats_options.status());
  absl::StatusOr<std::unique_ptr<gonka::nats::JetStream>> js =
      gonka::nats::JetStream::Connect(*nats_options);
  if (!js.ok()) return daemon.Fail(js.status());
  absl::StatusOr<gonka::election::CoordinationOptions> coordination_options =
      connections.Coordination(absl::StrCat("node-manager ", identity));
  if (!coordination_options.ok()) return daemon.Fail(coordination_options.status());
  gonka::election::LeaderElectorOptions elector_options;
  elector_options.identity = identity;
  absl::StatusOr<std::unique_ptr<gonka::election::Coordination>> coordination =
      gonka::election::Coordination::Open(*coordination_options,
                                          absl::StrCat("node-manager/", options.participant),
                                          elector_options);
  if (!coordination.ok()) return daemon.Fail(coordination.status());
  gonka::election::LeaderElector* elector = (*coordination)->elector();

  std::unique_ptr<gonka::nodemanager::ChainMessaging> messaging;
  // Weights and store commits read the node set from the service built below.
  gonka::nodemanager::NodeManagerService* service_ptr = nullptr;
  if (seeds.enabled()) {
    absl::StatusOr<gonka::pg::PgOptions> pg = connections.Pg();
    if (!pg.ok()) return daemon.ConfigError(std::string(pg.status().message()));
    auto opened = gonka::nodemanager::ChainMessaging::Open(
        {.key_file = seeds.key_file(),
         .seed_signer = seeds.remote(),
         .participant = options.participant,
         .pg = *pg,
         .js = js->get(),
         .nodes = [&service_ptr] { return service_ptr->Nodes(); },
         .accumulator = *gonka::pocstore::ParseAccumulator(accumulator)});
    if (!opened.ok()) return daemon.ConfigError(std::string(opened.status().message()));
    messaging = std::move(*opened);
    GONKA_LOG_INFO("chain messages on", {"seed_source", seeds.Describe()});
    options.chain_sink = messaging->sink();
  }
  gonka::nodemanager::NodeManagerService service(options, js->get(), elector,
                                                 (*coordination)->store());
  service_ptr = &service;
  if (absl::Status s = service.SetNodes(*nodes); !s.ok()) {
    return daemon.ConfigError(absl::StrCat("--ml-nodes-file: ", s.message()));
  }
  service.AddRoutes(&daemon.server());
  std::unique_ptr<gonka::nodemanager::MlNodeAdmin> ml_node_admin;  // stops before `service`
  if (nodes_from_store) {
    absl::StatusOr<gonka::pg::PgOptions> pg = connections.Pg();
    if (!pg.ok()) return daemon.ConfigError(std::string(pg.status().message()));
    admin.pg = *pg;
    admin.chain = chain.Queries(absl::Seconds(10));  // governance models (test, launch-plan)
    admin.upgrade_plan = gonka::nodemanager::ChainUpgradePlan(  // upgrade-status
        std::make_shared<gonka::chain::InferenceQueryClient>(admin.chain));
    admin.ml_node_timeout = options.command_timeout;
    auto started = gonka::nodemanager::MlNodeAdmin::Start(
        admin, [&service](const auto& nodes) { return service.SetNodes(nodes); });
    if (!started.ok()) return daemon.Fail(started.status());
    ml_node_admin = std::move(*started);
    daemon.drain().AddShutdownHook("ml node admin", [&] { ml_node_admin->Stop(); });
  }
  gonka::DrainController& drain = daemon.drain();
  drain.AddReadinessProbe("nats", [&] { return (*js)->GetStreamInfo(options.stream).status(); });
  drain.AddReadinessProbe(gonka::election::CoordinationBackendName((*coordination)->backend()),
                          [&coordination] { return (*coordination)->Ping(); });
  // On drain the lease is released at once, so another replica leads without waiting for it to
  // expire; the stream position it resumes from is the durable consumer's.
  drain.OnStateChange([elector](gonka::DrainController::State state) {
    if (state == gonka::DrainController::State::kDraining) elector->Stop();
  });
  drain.AddShutdownHook("node manager", [&] {
    elector->Stop();
    service.Stop();
  });

  if (absl::Status s = elector->Start(); !s.ok()) return daemon.Fail(s);
  if (absl::Status s = service.Start(); !s.ok()) return daemon.Fail(s);
  if (absl::Status s = daemon.Start(); !s.ok()) return daemon.Fail(s);
  return daemon.Run();
}
