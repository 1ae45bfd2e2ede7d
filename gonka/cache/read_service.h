// ReadService: a daemon's chain read surface in one object — Gonka's public read routes
// (ChainRoutes) on a ChainCache over the chain's gRPC with the abci_query fallback, its heights
// and phase/epoch boundaries fed by the event hub's block stream (StreamFeed), and an optional
// Redis tier shared by replicas (docs/cache.md). edge-api wires it; so can any daemon that serves
// the routes.
//
// Contract:
//   - RegisterFlags() adds --chain-grpc-address, --cache-max-bytes, --cache-max-stale,
//     --cache-height-poll, --cache-redis and --cache-follow-stream.
//   - EpochParams() asks the chain's Params once (3 s timeout) and returns its epoch schedule,
//     else `fallback` when it has an epoch length, else nullopt (see ChainEpochParams). Call it
//     before building the event hub so the stream's EpochPosition and the cache's boundaries come
//     from one schedule; Start() reuses the answer.
//   - Start() builds the cache and routes. Heights come from the block stream (when
//     --cache-follow-stream and a JetStream connection are given), and from the node's /status
//     until the stream delivers (and always without one). With --cache-redis, `redis` must be
//     set (InvalidArgument naming the flag otherwise).
//
// Thread-safety: construction, RegisterFlags, EpochParams, Start, AddRoutes and Stop from the
// daemon's main thread; the routes serve concurrently.
//
// Example (edge-api's main):
//   cache::ReadService reads;
//   reads.RegisterFlags(&config);
//   ... daemon.Init(argc, argv) ...
//   emitter.epochs = reads.EpochParams(rpc_url, tls, emitter.epochs).value_or(emitter.epochs);
//   ... build the hub ...
//   RETURN_IF_ERROR(reads.Start({.rpc_url = rpc_url, .comet = &comet, .js = js, ...}));
//   reads.AddRoutes(&daemon.server());
#ifndef GONKA_CACHE_READ_SERVICE_H_
#define GONKA_CACHE_READ_SERVICE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gonka/chain/epoch.h"
#include "gonka/net/tls.h"
#include "gonka/redis/redis_client.h"

namespace gonka {
class Config;
namespace chain {
class CometClient;
class InferenceQueryClient;
}  // namespace chain
namespace nats {
class JetStream;
}  // namespace nats
namespace net {
class HttpServer;
}  // namespace net

namespace cache {

class ChainCache;
class ChainRoutes;
class StreamFeed;

struct ReadServiceWiring {
  std::string rpc_url;                  // CometBFT RPC (abci_query fallback)
  net::TlsClientOptions rpc_tls;        // for an https:// rpc_url
  chain::CometClient* comet = nullptr;  // the height source until the stream delivers; required
  nats::JetStream* js = nullptr;        // the block stream's connection (nullptr: poll only)
  std::string stream = "BLOCKS";
  std::string identity;                      // names this replica's stream consumer
  std::optional<redis::RedisOptions> redis;  // required with --cache-redis
};

class ReadService {
 public:
  ReadService();
  ~ReadService();
  ReadService(const ReadService&) = delete;
  ReadService& operator=(const ReadService&) = delete;

  void RegisterFlags(Config* config);
  // True when --cache-redis was given (the caller then passes ReadServiceWiring::redis).
  bool wants_redis() const { return shared_tier_; }

  std::optional<chain::EpochParams> EpochParams(const std::string& rpc_url,
                                                const net::TlsClientOptions& rpc_tls,
                                                const chain::EpochParams& fallback);

  absl::Status Start(ReadServiceWiring wiring);
  void AddRoutes(net::HttpServer* server);
  void Stop();

 private:
  // Flags.
  std::string grpc_address_;
  int64_t max_bytes_ = 0;
  absl::Duration max_stale_;
  absl::Duration height_poll_;
  bool shared_tier_ = false;
  bool follow_stream_ = true;

  bool probed_ = false;
  std::optional<chain::EpochParams> epoch_params_;
  ReadServiceWiring wiring_;
  std::unique_ptr<chain::InferenceQueryClient> queries_;
  std::unique_ptr<redis::RedisClient> redis_;
  std::unique_ptr<ChainCache> cache_;
  std::unique_ptr<ChainRoutes> routes_;
  std::unique_ptr<StreamFeed> feed_;
};

}  // namespace cache
}  // namespace gonka

#endif  // GONKA_CACHE_READ_SERVICE_H_
