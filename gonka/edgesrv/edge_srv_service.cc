#include "gonka/edgesrv/edge_srv_service.h"

#include <fstream>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gonka/cache/chain_routes.h"
#include "gonka/chain/comet_client.h"
#include "gonka/chain/inference_query_client.h"
#include "gonka/crypto/bech32.h"
#include "gonka/drain/drain_controller.h"
#include "gonka/edgesrv/admin_api.h"
#include "gonka/edgesrv/poc_callbacks.h"
#include "gonka/edgesrv/setup_report.h"
#include "gonka/edgesrv/stage_gate.h"
#include "gonka/edgesrv/validation_sink.h"
#include "gonka/nats/jetstream.h"
#include "gonka/net/http_client.h"
#include "gonka/nodemanager/node_manager_service.h"
#include "gonka/nodemanager/node_store.h"
#include "gonka/nodemanager/seed_store.h"
#include "gonka/pocstore/artifact_store.h"
#include "gonka/signer/ledger.h"
#include "gonka/signer/reconciler.h"
#include "gonka/txqueue/txqueue.h"

namespace gonka {
namespace edgesrv {

struct EdgeSrvService::Parts {
  EdgeSrvOptions options;
  std::unique_ptr<nats::JetStream> js;
  std::unique_ptr<StreamStageGate> gate;
  std::unique_ptr<chain::CometClient> comet;
  // The admin price query (gRPC, abci_query fallback); null without a chain address.
  std::unique_ptr<chain::InferenceQueryClient> chain_query;
  StageFn stage;
  std::unique_ptr<pg::Pool> pool;
  std::unique_ptr<pocstore::ArtifactStore> store;
  std::unique_ptr<nodemanager::NodeStore> node_store;
  std::unique_ptr<nodemanager::PgSeedStore> seeds;
  std::unique_ptr<signer::Ledger> ledger;
  std::unique_ptr<txqueue::TxQueue> queue;
  std::unique_ptr<QueueValidationSink> sink;
  std::unique_ptr<PocCallbacks> callbacks;
  int64_t epoch_length = 0;  // admin poc/timing; 0: unknown
  int64_t epoch_shift = 0;   // admin poc/timing before the first PoC
  // The admin setup/report's checks: each daemon's /ready and the chain's /status.
  std::vector<ReadyTarget> ready;
  std::unique_ptr<net::HttpClient> report_http;
  std::unique_ptr<chain::CometClient> report_comet;
};

namespace {

absl::Status Flag(absl::string_view flag, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat("--", flag, ": ", message));
}

// node_id must be below the number of entries of the node-manager's ML node file.
absl::StatusOr<NodeCountFn> NodesFromFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Flag("ml-nodes-file", absl::StrCat("cannot read ", path));
  std::stringstream text;
  text << in.rdbuf();
  absl::StatusOr<std::vector<nodemanager::MlNodeConfig>> nodes =
      nodemanager::ParseMlNodes(text.str());
  if (!nodes.ok()) return Flag("ml-nodes-file", nodes.status().message());
  const int count = static_cast<int>(nodes->size());
  return NodeCountFn([count]() -> absl::StatusOr<int> { return count; });
}

// node_id must be below the number of enabled ML nodes in the node store, read at most once a
// second (the node-manager applies changes on that cadence too).
NodeCountFn NodesFromStore(nodemanager::NodeStore* nodes) {
  struct Cache {
    absl::Mutex mu;
    absl::Time read ABSL_GUARDED_BY(mu) = absl::InfinitePast();
    int count ABSL_GUARDED_BY(mu) = 0;
  };
  auto cache = std::make_shared<Cache>();
  return [cache, nodes]() -> absl::StatusOr<int> {
    absl::MutexLock lock(&cache->mu);
    if (absl::Now() - cache->read >= absl::Seconds(1)) {
      absl::StatusOr<nodemanager::NodeSnapshot> snapshot = nodes->Snapshot();
      if (!snapshot.ok()) return snapshot.status();
      cache->count = static_cast<int>(nodemanager::EnabledMlNodes(*snapshot).size());
      cache->read = absl::Now();
    }
    return cache->count;
  };
}

}  // namespace

absl::StatusOr<std::unique_ptr<EdgeSrvService>> EdgeSrvService::Start(EdgeSrvOptions options) {
  auto p = std::make_unique<Parts>();
  p->options = std::move(options);
  const EdgeSrvOptions& o = p->options;
  if (!o.participant.empty() && !crypto::DecodeAddress(o.participant, o.prefix).ok()) {
    return Flag("participant",
                absl::StrCat("\"", o.participant, "\" is not a ", o.prefix, " address"));
  }
  if (o.ml_nodes_from_store && !o.ml_nodes_file.empty()) {
    return absl::InvalidArgumentError(
        "give at most one of --ml-nodes-file and --ml-nodes-from-store");
  }
  absl::StatusOr<pocstore::Accumulator> accumulator = pocstore::ParseAccumulator(o.accumulator);
  if (!accumulator.ok()) return Flag("accumulator", accumulator.status().message());
  if (o.phase_source != "stream" && o.phase_source != "chain") {
    return Flag("phase-source", absl::StrCat("\"", o.phase_source, "\" is not stream or chain"));
  }

  // NATS: the block stream and the tx queue.
  if (o.phase_source == "stream" || !o.participant.empty()) {
    if (!o.nats.has_value()) return Flag("nats-url", "required");
    absl::StatusOr<std::unique_ptr<nats::JetStream>> connected = nats::JetStream::Connect(*o.nats);
    if (!connected.ok()) return connected.status();
    p->js = *std::move(connected);
  }

  // The admin setup/report.
  if (!o.participant.empty()) {
    absl::StatusOr<std::vector<ReadyTarget>> ready = ParseReadyTargets(o.setup_report_ready);
    if (!ready.ok()) return Flag("setup-report-ready", ready.status().message());
    p->ready = *std::move(ready);
    p->report_http = std::make_unique<net::HttpClient>();
    if (!o.chain_rpc_url.empty()) {
      p->report_comet = std::make_unique<chain::CometClient>(chain::CometClientOptions{
          .rpc_url = o.chain_rpc_url, .timeout = absl::Seconds(5), .tls = o.chain_tls});
    }
  }

  // The phase gate.
  if (!o.participant.empty() && (!o.chain_grpc_address.empty() || !o.chain_rpc_url.empty())) {
    p->chain_query = std::make_unique<chain::InferenceQueryClient>(
        chain::InferenceQueryClientOptions{.grpc_address = o.chain_grpc_address,
                                           .rpc_url = o.chain_rpc_url,
                                           .rpc_tls = o.chain_tls,
                                           .timeout = absl::Seconds(5)});
  }
  if (o.phase_source == "stream") {
    p->gate = std::make_unique<StreamStageGate>(
        p->js.get(), StreamStageGateOptions{
                         .stream = o.stream, .subject = o.subject, .stale_after = o.stale_after});
    if (absl::Status s = p->gate->Start(); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("--stream ", o.stream, ": ", s.message()));
    }
    p->stage = p->gate->AsStageFn();
    // The epoch length for poc/timing: the chain's Params when a gRPC address is given, else
    // --epoch-length (the stream carries the phase, not the schedule).
    p->epoch_length = o.fallback_epochs.epoch_length;
    p->epoch_shift = o.fallback_epochs.epoch_shift;
    if (!o.chain_grpc_address.empty()) {
      chain::InferenceQueryClient probe({.grpc_address = o.chain_grpc_address,
                                         .rpc_url = o.chain_rpc_url,
                                         .rpc_tls = o.chain_tls,
                                         .timeout = absl::Seconds(3)});
      std::optional<chain::EpochParams> epochs = cache::ChainEpochParams(probe, o.fallback_epochs);
      if (epochs.has_value()) {
        p->epoch_length = epochs->epoch_length;
        p->epoch_shift = epochs->epoch_shift;
      }
    }
  } else {
    p->comet = std::make_unique<chain::CometClient>(
        chain::CometClientOptions{.rpc_url = o.chain_rpc_url, .tls = o.chain_tls});
    chain::InferenceQueryClient probe({.grpc_address = o.chain_grpc_address,
                                       .rpc_url = o.chain_rpc_url,
                                       .rpc_tls = o.chain_tls,
                                       .timeout = absl::Seconds(3)});
    std::optional<chain::EpochParams> epochs = cache::ChainEpochParams(probe, o.fallback_epochs);
    if (!epochs.has_value()) {
      return Flag("epoch-length", "the chain has no epoch Params and none was given");
    }
    p->stage = ChainStageFn(p->comet.get(), *epochs, o.stage_poll);
    p->epoch_length = epochs->epoch_length;
    p->epoch_shift = epochs->epoch_shift;
  }

  absl::StatusOr<std::unique_ptr<pg::Pool>> pool = pg::Pool::Open(o.pg);
  if (!pool.ok()) return pool.status();
  p->pool = *std::move(pool);
  absl::StatusOr<std::unique_ptr<pocstore::ArtifactStore>> store =
      pocstore::OpenPgArtifactStore(p->pool.get(), *accumulator);
  if (!store.ok()) return store.status();
  p->store = *std::move(store);

  PocCallbacksOptions callbacks;
  callbacks.vector_bytes = o.vector_bytes;
  callbacks.prefix = o.prefix;
  callbacks.public_key = o.public_key;
  callbacks.check_block_hash = o.check_block_hash;
  if (!o.ml_nodes_file.empty()) {
    absl::StatusOr<NodeCountFn> count = NodesFromFile(o.ml_nodes_file);
    if (!count.ok()) return count.status();
    callbacks.node_count = *std::move(count);
  } else if (o.ml_nodes_from_store) {
    absl::StatusOr<std::unique_ptr<nodemanager::NodeStore>> opened =
        nodemanager::NodeStore::Open(p->pool.get());
    if (!opened.ok()) return opened.status();
    p->node_store = *std::move(opened);
    callbacks.node_count = NodesFromStore(p->node_store.get());
  }

  // /validated → MsgSubmitPocValidationsV2 on the tx queue, recorded in the signer ledger first.
  if (!o.participant.empty()) {
    absl::StatusOr<std::unique_ptr<signer::Ledger>> ledger = signer::Ledger::Open(p->pool.get());
    if (!ledger.ok()) return ledger.status();
    p->ledger = *std::move(ledger);
    absl::StatusOr<std::unique_ptr<nodemanager::PgSeedStore>> seeds =
        nodemanager::PgSeedStore::Open(p->pool.get());
    if (!seeds.ok()) return seeds.status();
    p->seeds = *std::move(seeds);
    p->queue = std::make_unique<txqueue::TxQueue>(p->js.get());
    p->sink = std::make_unique<QueueValidationSink>(
        nodemanager::MessageContext{.creator = o.participant, .prefix = o.prefix}, p->ledger.get(),
        p->queue.get());
    QueueValidationSink* sink = p->sink.get();
    callbacks.validations = [sink](const ValidationResult& r) { return sink->Send(r); };
  }
  p->callbacks = std::make_unique<PocCallbacks>(p->store.get(), p->stage, std::move(callbacks));
  return std::unique_ptr<EdgeSrvService>(new EdgeSrvService(std::move(p)));
}

EdgeSrvService::EdgeSrvService(std::unique_ptr<Parts> parts) : parts_(std::move(parts)) {}

EdgeSrvService::~EdgeSrvService() { Stop(); }

namespace {

// Gonka's GetUnitOfComputePriceProposal through the chain query client, or none without one.
PriceQueryFn MakePriceQuery(chain::InferenceQueryClient* client) {
  if (client == nullptr) return nullptr;
  return [client](const std::string& participant)
             -> absl::StatusOr<::inference::inference::QueryGetUnitOfComputePriceProposalResponse> {
    ::inference::inference::QueryGetUnitOfComputePriceProposalRequest request;
    request.set_participant(participant);
    ::inference::inference::QueryGetUnitOfComputePriceProposalResponse response;
    if (absl::Status s = client->Call("/inference.inference.Query/GetUnitOfComputePriceProposal",
                                      request, &response);
        !s.ok()) {
      return s;
    }
    return response;
  };
}

}  // namespace

void EdgeSrvService::AddRoutes(net::HttpServer* server) {
  Parts* p = parts_.get();
  if (!p->options.participant.empty()) {
    signer::Ledger* ledger = p->ledger.get();
    txqueue::TxQueue* queue = p->queue.get();
    nodemanager::PgSeedStore* seeds = p->seeds.get();
    const std::string participant = p->options.participant;
    AddEdgeAdminRoutes(
        server,
        {.authenticate = p->options.admin_authenticate,
         .creator = participant,
         .enqueue =
             [ledger, queue](txqueue::ChainTx tx) {
               return signer::EnqueueRecorded(ledger, queue, std::move(tx));
             },
         .seed = [seeds, participant](uint64_t epoch) { return seeds->Get(participant, epoch); },
         .stage = p->stage,
         .epoch_length = p->epoch_length,
         .epoch_shift = p->epoch_shift,
         .node_manager_url = p->options.node_manager_admin_url,
         .price_query = MakePriceQuery(p->chain_query.get()),
         .lookup = [ledger](const std::string& key) { return ledger->Get(key); },
         .setup_report =
             [p, participant](absl::Time now) {
               SetupReportOptions r{.participant = participant, .ready = p->ready};
               if (p->report_comet) r.chain_status = [p] { return p->report_comet->Status(); };
               r.get_status = [p](const std::string& url) -> absl::StatusOr<int> {
                 absl::StatusOr<net::HttpResponse> got =
                     p->report_http->Get(url, net::HttpCallOptions::Timeout(absl::Seconds(5)));
                 if (!got.ok()) return got.status();
                 return got->status;
               };
               return SetupReportJson(r, now);
             }});
  }
  p->callbacks->AddRoutes(server);
}

void EdgeSrvService::AddProbes(DrainController* drain) {
  Parts* p = parts_.get();
  drain->AddReadinessProbe("phase", [p] { return p->stage().status(); });
  drain->AddReadinessProbe("postgres", [p] { return p->pool->Exec("SELECT 1").status(); });
  if (p->js) {
    drain->AddReadinessProbe("nats",
                             [p] { return p->js->GetStreamInfo(p->options.stream).status(); });
  }
  drain->AddShutdownHook("stage gate", [this] { Stop(); });
}

void EdgeSrvService::Stop() {
  if (parts_ && parts_->gate) parts_->gate->Stop();
}

}  // namespace edgesrv
}  // namespace gonka
