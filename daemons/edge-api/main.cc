// edge-api: the chain-facing tier. N replicas follow the chain; the one holding the lease emits
// each block once, in order, into the JetStream block stream; every replica serves that stream
// to dashboards as Server-Sent Events (gonka/eventhub/event_hub_service.h, docs/eventhub.md).
// Leases and the cursor live on Redis or, with --coordination=nats, in JetStream KV (no Redis).
// Every replica also serves Gonka's public read routes (/v1/models, /v1/participants, ...) from a
// ChainCache over the chain's gRPC (--chain-grpc-address) with the abci_query fallback
// (gonka/cache/chain_routes.h, docs/cache.md).
//
//   edge-api --chain-id=gonka-mainnet --chain-rpc-url=http://node:26657
//            (or https://node --chain-ca-file=/etc/gonka/chain-ca.pem)
//            --nats-url=nats://nats:4222 [--coordination=nats | --redis-url=redis://redis:6379]
//            [--status-services-file=/etc/gonka/status-services.json]
// Every replica also serves the operator's status page of the whole node at /status, its JSON at
// /v1/node/status and live events at /v1/node/events (gonka/nodestatus, docs/status-page.md).
#include <unistd.h>

#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gonka/base/log.h"
#include "gonka/cache/chain_routes.h"
#include "gonka/cache/read_service.h"
#include "gonka/chain/chain_flags.h"
#include "gonka/chain/comet_client.h"
#include "gonka/drain/connection_flags.h"
#include "gonka/drain/daemon.h"
#include "gonka/election/coordination.h"
#include "gonka/eventhub/event_hub_service.h"
#include "gonka/nats/jetstream.h"
#include "gonka/net/tls_flags.h"
#include "gonka/nodestatus/node_status.h"
#include "gonka/redis/redis_client.h"

int main(int argc, char** argv) {
  gonka::Daemon daemon({.name = "edge-api", .default_port = 8080});
  gonka::Config& config = daemon.config();
  gonka::ConnectionFlags connections;
  connections.Register(&config, {.coordination = true});
  gonka::eventhub::EventHubServiceOptions options;
  gonka::eventhub::EmitterOptions& emitter = options.emitter;
  std::string archive_url;
  config.AddString("chain-id", &emitter.chain_id, "", "the chain's id (every block is checked)")
      .Required();
  gonka::chain::ChainFlags chain;  // its gRPC address is the read routes' (ReadServiceFlags)
  chain.Register(&config, {.grpc = "", .tls_upstream = "--chain-rpc-url and --chain-ws-url"});
  config.AddString("chain-ws-url", &options.ws_url, "",
                   "CometBFT WebSocket URL (default: the RPC URL's /websocket)");
  config.AddString("archive-rpc-url", &archive_url, "",
                   "CometBFT RPC of an archive node: heights the chain node pruned are fetched "
                   "there instead of stalling (empty = none)");
  gonka::net::TlsClientFlags archive_tls;
  archive_tls.Register(&config, "archive", "--archive-rpc-url");
  config.AddString("identity", &options.identity, "", "this replica's name (default host:pid)");
  config.AddString("stream", &emitter.stream, "BLOCKS", "JetStream stream of BlockEvents");
  config
      .AddInt("stream-replicas", &emitter.stream_replicas, 1,
              "replicas of the stream (3 in a cluster)")
      .Range(1, 5);
  config
      .AddInt("start-height", &emitter.start_height, 0,
              "first height when the stream is empty (0 = the chain's current height)")
      .NonNegative();
  config
      .AddInt("epoch-length", &emitter.epochs.epoch_length, 0,
              "Gonka epoch length in blocks (0 = off)")
      .NonNegative();
  config
      .AddInt("fetch-batch", &emitter.fetch_batch, 4,
              "heights per JSON-RPC batch request while catching up (1 = plain GETs)")
      .Range(1, 100);
  config
      .AddInt("max-inflight", &emitter.max_inflight, 16,
              "block publishes awaiting their JetStream ack")
      .Range(1, 1024);
  gonka::cache::ReadService reads;
  reads.RegisterFlags(&config);
  bool expose_optional_routes = false;
  config.AddBool("expose-optional-routes", &expose_optional_routes, false,
                 "also serve Gonka's optional routes (/v1/debug/pubkey-to-addr, /v1/verify-*; "
                 "private upstream unless EDGE_API_EXPOSE_OPTIONAL_ROUTES)");
  std::string status_services_file;
  config.AddString("status-services-file", &status_services_file, "",
                   "JSON list of the node's services the /status page polls "
                   "({\"services\":[{\"name\",\"kind\",\"url\"}]}; empty = this replica only)");
  gonka::nodestatus::NodeStatusOptions status_options;
  config.AddDuration("status-poll-interval", &status_options.poll_interval, absl::Seconds(1),
                     "how often the /status page polls the services");
  if (std::optional<int> exit = daemon.Init(argc, argv)) return *exit;
  if (!status_services_file.empty()) {
    absl::StatusOr<std::vector<gonka::nodestatus::ServiceEndpoint>> services =
        gonka::nodestatus::LoadServicesFile(status_services_file);
    if (!services.ok()) return daemon.Fail(services.status());
    status_options.services = std::move(*services);
  }
  if (absl::Status s = gonka::nodestatus::NodeStatus::Validate(status_options); !s.ok()) {
    return daemon.Fail(s);
  }
  if (options.ws_url.empty()) {
    options.ws_url = absl::StrCat(
        absl::StrReplaceAll(chain.rpc_url(), {{"http://", "ws://"}, {"https://", "wss://"}}),
        "/websocket");
  }
  if (options.identity.empty()) {
    char host[256] = {0};
    gethostname(host, sizeof(host) - 1);
    options.identity = absl::StrCat(host, ":", getpid());
  }

  options.ws_tls = chain.tls();
  gonka::chain::CometClient comet(chain.Comet());
  std::optional<gonka::chain::CometClient> archive;
  if (!archive_url.empty()) {
    archive.emplace(
        gonka::chain::CometClientOptions{.rpc_url = archive_url, .tls = archive_tls.options()});
    emitter.archive = &*archive;
  }
  const std::string client_name = absl::StrCat("edge-api ", options.identity);
  absl::StatusOr<gonka::nats::NatsOptions> nats_options = connections.Nats(client_name);
  if (!nats_options.ok()) return daemon.Fail(nats_options.status());
  absl::StatusOr<std::unique_ptr<gonka::nats::JetStream>> js =
      gonka::nats::JetStream::Connect(*nats_options);
  if (!js.ok()) return daemon.Fail(js.status());
  absl::StatusOr<gonka::election::CoordinationOptions> coordination_options =
      connections.Coordination(client_name);
  if (!coordination_options.ok()) return daemon.Fail(coordination_options.status());
  gonka::election::LeaderElectorOptions elector_options;
  elector_options.identity = options.identity;
  elector_options.on_elected = [](gonka::election::FencingToken token) {
    GONKA_LOG_INFO("edge-api elected: emitting", {"token", static_cast<int64_t>(token)});
  };
  elector_options.on_revoked = [](absl::string_view reason) {
    GONKA_LOG_WARN("edge-api leadership revoked", {"reason", std::string(reason)});
  };
  absl::StatusOr<std::unique_ptr<gonka::election::Coordination>> coordination =
      gonka::election::Coordination::Open(
          *coordination_options, absl::StrCat("edge-api/", emitter.chain_id), elector_options);
  if (!coordination.ok()) return daemon.Fail(coordination.status());

  // One epoch schedule for the stream's EpochPosition and the cache's boundaries: the chain's
  // Params, else --epoch-length.
  emitter.epochs =
      reads.EpochParams(chain.rpc_url(), chain.tls(), emitter.epochs).value_or(emitter.epochs);
  gonka::eventhub::EventHubService hub(options, &comet, js->get(), coordination->get());
  hub.AddRoutes(&daemon.server());

  // The read routes: every replica, leader or follower, moves its cache to each height and
  // phase/epoch boundary as the block stream carries it (the node's /status until then).
  gonka::cache::ReadServiceWiring wiring{.rpc_url = chain.rpc_url(),
                                         .rpc_tls = chain.tls(),
                                         .comet = &comet,
                                         .js = js->get(),
                                         .stream = emitter.stream,
                                         .identity = options.identity};
  if (reads.wants_redis()) {
    absl::StatusOr<gonka::redis::RedisOptions> redis_options = connections.Redis();
    if (!redis_options.ok()) return daemon.Fail(redis_options.status());
    wiring.redis = *redis_options;
  }
  if (absl::Status s = reads.Start(std::move(wiring)); !s.ok()) return daemon.Fail(s);
  reads.AddRoutes(&daemon.server());
  if (expose_optional_routes) gonka::cache::AddOptionalRoutes(&daemon.server(), &comet);
  gonka::DrainController& drain = daemon.drain();
  drain.AddReadinessProbe("chain", [&comet] { return comet.Status().status(); });
  drain.AddReadinessProbe("nats", [&] { return (*js)->GetStreamInfo(emitter.stream).status(); });
  drain.AddReadinessProbe(gonka::election::CoordinationBackendName((*coordination)->backend()),
                          [&coordination] { return (*coordination)->Ping(); });
  drain.AddReadinessProbe("eventhub", [&hub] { return hub.health(); });
  std::optional<gonka::nodestatus::NodeStatus> node_status;
  drain.OnStateChange([&hub, &node_status](gonka::DrainController::State state) {
    if (state != gonka::DrainController::State::kDraining) return;
    hub.BeginDrain();
    if (node_status) node_status->CloseStreams();
  });
  drain.AddShutdownHook("status page", [&node_status] {
    if (node_status) node_status->Stop();
  });
  drain.AddShutdownHook("event hub", [&hub] { hub.Stop(); });
  drain.AddShutdownHook("read routes", [&reads] { reads.Stop(); });

  if (absl::Status s = hub.Start(); !s.ok()) return daemon.Fail(s);
  if (absl::Status s = daemon.Start(); !s.ok()) {
    hub.Stop();
    return daemon.Fail(s);
  }
  // The status page (after Start: without a services file it polls this replica's own port).
  if (status_options.services.empty()) {
    status_options.services = {
        {options.identity, "edge-api", absl::StrCat("http://127.0.0.1:", daemon.port())}};
  }
  status_options.js = js->get();
  status_options.stream = emitter.stream;
  node_status.emplace(std::move(status_options));
  node_status->AddRoutes(&daemon.server());
  if (absl::Status s = node_status->Start(); !s.ok()) return daemon.Fail(s);
  return daemon.Run();
}
