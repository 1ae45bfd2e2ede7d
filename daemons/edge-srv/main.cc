// edge-srv: the ML-node-facing PoC callbacks as N stateless replicas behind a balancer. Each
// replica writes the artifacts ML nodes POST into the shared PostgreSQL artifact store (the
// node-manager leader computes the stage's commitment from it once) and sends validation results
// as MsgSubmitPocValidationsV2 through the tx queue; the phase comes from the event hub's block
// stream (gonka/edgesrv/poc_callbacks.h, stage_gate.h, docs/edge-srv.md).
//
//   edge-srv --pg-url-file=/etc/gonka/pg-url --nats-url=nats://nats:4222 \
//            --participant=gonka1... --ml-nodes-from-store
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gonka/cache/chain_routes.h"
#include "gonka/chain/comet_client.h"
#include "gonka/chain/inference_query_client.h"
#include "gonka/crypto/bech32.h"
#include "gonka/drain/bearer_auth.h"
#include "gonka/drain/connection_flags.h"
#include "gonka/drain/daemon.h"
#include "gonka/edgesrv/admin_api.h"
#include "gonka/edgesrv/poc_callbacks.h"
#include "gonka/edgesrv/stage_gate.h"
#include "gonka/edgesrv/validation_sink.h"
#include "gonka/nats/jetstream.h"
#include "gonka/net/tls_flags.h"
#include "gonka/nodemanager/node_manager_service.h"
#include "gonka/nodemanager/node_store.h"
#include "gonka/pg/pg.h"
#include "gonka/pocstore/artifact_store.h"
#include "gonka/signer/ledger.h"
#include "gonka/signer/reconciler.h"
#include "gonka/txqueue/txqueue.h"

int main(int argc, char** argv) {
  gonka::Daemon daemon({.name = "edge-srv", .default_port = 9100});
  gonka::Config& config = daemon.config();
  gonka::ConnectionFlags connections;
  connections.Register(&config, {.nats = true, .pg = true});
  std::string phase_source, stream, subject, participant, prefix, nodes_file, accumulator;
  bool nodes_from_store = false;
  int64_t vector_bytes = 0;
  absl::Duration stale_after;
  config
      .AddString("phase-source", &phase_source, "stream",
                 "where the PoC phase comes from: stream (the event hub's block stream on "
                 "--nats-url) or chain (poll --chain-rpc-url; development only)")
      .OneOf({"stream", "chain"});
  config
      .AddString("accumulator", &accumulator, "smst",
                 "the artifact store's commitment: mmr or smst (the node-manager's must match: "
                 "each has its own tables)")
      .OneOf({"mmr", "smst"});
  config.AddString("stream", &stream, "BLOCKS", "the event hub's JetStream stream");
  config.AddString("subject", &subject, "blocks", "its block subject");
  config.AddDuration("stale-after", &stale_after, absl::Seconds(60),
                     "no block for this long: the phase is unknown (callbacks 503)");
  config.AddString("participant", &participant, "",
                   "this participant's address: /validated results become "
                   "MsgSubmitPocValidationsV2 on the tx queue (empty: /validated answers 503)");
  config.AddString("address-prefix", &prefix, "gonka", "bech32 prefix of account addresses");
  config.AddString("ml-nodes-file", &nodes_file, "",
                   "the node-manager's ML node file: node_id must be below its node count");
  config.AddBool("ml-nodes-from-store", &nodes_from_store, false,
                 "node_id must be below the number of enabled ML nodes in the node-manager's "
                 "PostgreSQL node store");
  config
      .AddInt("vector-bytes", &vector_bytes, 0,
              "required vector length in bytes (0: any; a batch's f16 encoding k_dim still "
              "applies)")
      .NonNegative();
  gonka::HttpAuthFlags admin_auth("admin", "admin API");
  admin_auth.Register(&config);
  // The development fallback's settings (--phase-source=chain).
  std::string rpc_url, grpc_address;
  gonka::chain::EpochParams fallback;
  config.AddString("chain-rpc-url", &rpc_url, "http://127.0.0.1:26657",
                   "CometBFT RPC URL (--phase-source=chain)");
  config.AddString("chain-grpc-address", &grpc_address, "",
                   "Cosmos gRPC host:port for the epoch parameters (--phase-source=chain)");
  gonka::net::TlsClientFlags chain_tls;
  chain_tls.Register(&config, "chain", "--chain-rpc-url");
  config
      .AddInt("epoch-length", &fallback.epoch_length, 0,
              "epoch length when the chain does not answer Params (--phase-source=chain)")
      .NonNegative();
  absl::Duration stage_poll;
  config.AddDuration("stage-poll", &stage_poll, absl::Milliseconds(500),
                     "how often the chain's height is read (--phase-source=chain)");
  if (std::optional<int> exit = daemon.Init(argc, argv)) return *exit;

  if (!participant.empty() && !gonka::crypto::DecodeAddress(participant, prefix).ok()) {
    return daemon.ConfigError(
        absl::StrCat("--participant: \"", participant, "\" is not a ", prefix, " address"));
  }
  if (nodes_from_store && !nodes_file.empty()) {
    return daemon.ConfigError("give at most one of --ml-nodes-file and --ml-nodes-from-store");
  }
  absl::StatusOr<gonka::pg::PgOptions> pg = connections.Pg();
  if (!pg.ok()) return daemon.ConfigError(std::string(pg.status().message()));

  // NATS: the block stream and the tx queue.
  std::unique_ptr<gonka::nats::JetStream> js;
  if (phase_source == "stream" || !participant.empty()) {
    absl::StatusOr<gonka::nats::NatsOptions> nats_options = connections.Nats("edge-srv");
    if (!nats_options.ok()) return daemon.ConfigError(std::string(nats_options.status().message()));
    absl::StatusOr<std::unique_ptr<gonka::nats::JetStream>> connected =
        gonka::nats::JetStream::Connect(*nats_options);
    if (!connected.ok()) return daemon.Fail(connected.status());
    js = *std::move(connected);
  }

  // The phase gate.
  std::unique_ptr<gonka::edgesrv::StreamStageGate> gate;
  std::unique_ptr<gonka::chain::CometClient> comet;
  gonka::edgesrv::StageFn stage;
  if (phase_source == "stream") {
    gate = std::make_unique<gonka::edgesrv::StreamStageGate>(
        js.get(), gonka::edgesrv::StreamStageGateOptions{
                      .stream = stream, .subject = subject, .stale_after = stale_after});
    if (absl::Status s = gate->Start(); !s.ok()) {
      return daemon.Fail(
          absl::Status(s.code(), absl::StrCat("--stream ", stream, ": ", s.message())));
    }
    stage = gate->AsStageFn();
  } else {
    comet = std::make_unique<gonka::chain::CometClient>(
        gonka::chain::CometClientOptions{.rpc_url = rpc_url, .tls = chain_tls.options()});
    gonka::chain::InferenceQueryClient probe({.grpc_address = grpc_address,
                                              .rpc_url = rpc_url,
                                              .rpc_tls = chain_tls.options(),
                                              .timeout = absl::Seconds(3)});
    std::optional<gonka::chain::EpochParams> epochs =
        gonka::cache::ChainEpochParams(probe, fallback);
    if (!epochs.has_value()) {
      return daemon.ConfigError("--epoch-length: the chain has no epoch Params and none was given");
    }
    stage = gonka::edgesrv::ChainStageFn(comet.get(), *epochs, stage_poll);
  }

  absl::StatusOr<std::unique_ptr<gonka::pg::Pool>> pool = gonka::pg::Pool::Open(*pg);
  if (!pool.ok()) return daemon.Fail(pool.status());
  absl::StatusOr<std::unique_ptr<gonka::pocstore::ArtifactStore>> store =
      gonka::pocstore::OpenPgArtifactStore(pool->get(),
                                           *gonka::pocstore::ParseAccumulator(accumulator));
  if (!store.ok()) return daemon.Fail(store.status());

  gonka::edgesrv::PocCallbacksOptions options;
  options.vector_bytes = static_cast<size_t>(vector_bytes);
  options.prefix = prefix;

  // Which node ids this participant has: the node-manager's node list.
  std::unique_ptr<gonka::nodemanager::NodeStore> node_store;
  if (!nodes_file.empty()) {
    std::ifstream in(nodes_file);
    if (!in) return daemon.ConfigError(absl::StrCat("--ml-nodes-file: cannot read ", nodes_file));
    std::stringstream text;
    text << in.rdbuf();
    absl::StatusOr<std::vector<gonka::nodemanager::MlNodeConfig>> nodes =
        gonka::nodemanager::ParseMlNodes(text.str());
    if (!nodes.ok()) {
      return daemon.ConfigError(absl::StrCat("--ml-nodes-file: ", nodes.status().message()));
    }
    const int count = static_cast<int>(nodes->size());
    options.node_count = [count]() -> absl::StatusOr<int> { return count; };
  } else if (nodes_from_store) {
    absl::StatusOr<std::unique_ptr<gonka::nodemanager::NodeStore>> opened =
        gonka::nodemanager::NodeStore::Open(pool->get());
    if (!opened.ok()) return daemon.Fail(opened.status());
    node_store = *std::move(opened);
    // Read at most once a second: the node-manager applies changes on that cadence too.
    struct Cache {
      absl::Mutex mu;
      absl::Time read ABSL_GUARDED_BY(mu) = absl::InfinitePast();
      int count ABSL_GUARDED_BY(mu) = 0;
    };
    auto cache = std::make_shared<Cache>();
    gonka::nodemanager::NodeStore* nodes = node_store.get();
    options.node_count = [cache, nodes]() -> absl::StatusOr<int> {
      absl::MutexLock lock(&cache->mu);
      if (absl::Now() - cache->read >= absl::Seconds(1)) {
        absl::StatusOr<gonka::nodemanager::NodeSnapshot> snapshot = nodes->Snapshot();
        if (!snapshot.ok()) return snapshot.status();
        cache->count = static_cast<int>(gonka::nodemanager::EnabledMlNodes(*snapshot).size());
        cache->read = absl::Now();
      }
      return cache->count;
    };
  }

  // /validated → MsgSubmitPocValidationsV2 on the tx queue, recorded in the signer ledger first.
  std::unique_ptr<gonka::signer::Ledger> ledger;
  std::unique_ptr<gonka::txqueue::TxQueue> queue;
  std::unique_ptr<gonka::edgesrv::QueueValidationSink> sink;
  if (!participant.empty()) {
    absl::StatusOr<std::unique_ptr<gonka::signer::Ledger>> opened =
        gonka::signer::Ledger::Open(pool->get());
    if (!opened.ok()) return daemon.Fail(opened.status());
    ledger = *std::move(opened);
    queue = std::make_unique<gonka::txqueue::TxQueue>(js.get());
    sink = std::make_unique<gonka::edgesrv::QueueValidationSink>(
        gonka::nodemanager::MessageContext{.creator = participant, .prefix = prefix}, ledger.get(),
        queue.get());
    gonka::edgesrv::QueueValidationSink* s = sink.get();
    options.validations = [s](const gonka::edgesrv::ValidationResult& r) { return s->Send(r); };
  }

  if (!participant.empty()) {
    absl::StatusOr<gonka::HttpAuthenticator> authenticate = admin_auth.Build();
    if (!authenticate.ok()) return daemon.ConfigError(std::string(authenticate.status().message()));
    gonka::signer::Ledger* l = ledger.get();
    gonka::txqueue::TxQueue* q = queue.get();
    gonka::edgesrv::AddEdgeAdminRoutes(
        &daemon.server(), {.authenticate = *authenticate,
                           .creator = participant,
                           .enqueue = [l, q](gonka::txqueue::ChainTx tx) {
                             return gonka::signer::EnqueueRecorded(l, q, std::move(tx));
                           }});
  }
  gonka::edgesrv::PocCallbacks callbacks(store->get(), stage, options);
  callbacks.AddRoutes(&daemon.server());
  gonka::DrainController& drain = daemon.drain();
  drain.AddReadinessProbe("phase", [&stage] { return stage().status(); });
  drain.AddReadinessProbe("postgres", [&pool] { return (*pool)->Exec("SELECT 1").status(); });
  if (js) {
    drain.AddReadinessProbe("nats", [&js, &stream] { return js->GetStreamInfo(stream).status(); });
  }
  drain.AddShutdownHook("stage gate", [&gate] {
    if (gate) gate->Stop();
  });
  if (absl::Status s = daemon.Start(); !s.ok()) return daemon.Fail(s);
  return daemon.Run();
}
