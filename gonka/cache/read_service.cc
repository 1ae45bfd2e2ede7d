#include "gonka/cache/read_service.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "gonka/base/config.h"
#include "gonka/base/log.h"
#include "gonka/cache/chain_cache.h"
#include "gonka/cache/chain_routes.h"
#include "gonka/cache/stream_feed.h"
#include "gonka/chain/comet_client.h"
#include "gonka/chain/inference_query_client.h"
#include "gonka/net/http_server.h"

namespace gonka {
namespace cache {

ReadService::ReadService() = default;
ReadService::~ReadService() { Stop(); }

void ReadService::RegisterFlags(Config* config) {
  config->AddString("chain-grpc-address", &grpc_address_, "",
                    "Cosmos gRPC host:port for the read routes' queries (empty = CometBFT "
                    "abci_query only)");
  config
      ->AddInt("cache-max-bytes", &max_bytes_, int64_t{256} << 20,
               "bound of the chain query cache in bytes")
      .Range(1 << 20, int64_t{1} << 40);
  config->AddDuration("cache-max-stale", &max_stale_, absl::Seconds(60),
                      "oldest cached answer served while the chain does not answer");
  config->AddDuration("cache-height-poll", &height_poll_, absl::Seconds(1),
                      "how often the cache asks the node for its latest height (at most) "
                      "while the block stream does not feed it");
  config->AddBool("cache-redis", &shared_tier_, false,
                  "share cached answers between replicas in Redis (--redis-url)");
  config->AddBool("cache-follow-stream", &follow_stream_, true,
                  "move the cache to each new height and phase/epoch boundary as the block "
                  "stream carries it (false: poll the node's /status)");
}

std::optional<chain::EpochParams> ReadService::EpochParams(const std::string& rpc_url,
                                                           const net::TlsClientOptions& rpc_tls,
                                                           const chain::EpochParams& fallback) {
  chain::InferenceQueryClient probe({.grpc_address = grpc_address_,
                                     .rpc_url = rpc_url,
                                     .rpc_tls = rpc_tls,
                                     .timeout = absl::Seconds(3)});
  epoch_params_ = ChainEpochParams(probe, fallback);
  probed_ = true;
  return epoch_params_;
}

absl::Status ReadService::Start(ReadServiceWiring wiring) {
  if (wiring.comet == nullptr) return absl::InvalidArgumentError("ReadService: no CometClient");
  if (shared_tier_ && !wiring.redis.has_value()) {
    return absl::InvalidArgumentError("cache-redis: needs --redis-url");
  }
  wiring_ = std::move(wiring);
  if (!probed_) EpochParams(wiring_.rpc_url, wiring_.rpc_tls, chain::EpochParams());
  queries_ = std::make_unique<chain::InferenceQueryClient>(chain::InferenceQueryClientOptions{
      .grpc_address = grpc_address_, .rpc_url = wiring_.rpc_url, .rpc_tls = wiring_.rpc_tls});

  ChainCacheOptions options;
  options.name = "edge";
  options.max_bytes = static_cast<size_t>(max_bytes_);
  options.max_stale = max_stale_;
  options.height_poll_interval = height_poll_;
  chain::CometClient* comet = wiring_.comet;
  options.height_source = [comet]() -> absl::StatusOr<int64_t> {
    absl::StatusOr<chain::CometStatus> status = comet->Status();
    if (!status.ok()) return status.status();
    return status->latest_height;
  };
  options.epoch_params = epoch_params_;
  const bool follow = follow_stream_ && wiring_.js != nullptr;
  options.event_feed = follow;
  if (shared_tier_) {
    redis_ = std::make_unique<redis::RedisClient>(*wiring_.redis);
    options.redis = redis_.get();
  }
  cache_ = std::make_unique<ChainCache>(options);
  routes_ = std::make_unique<ChainRoutes>(
      cache_.get(), queries_.get(),
      ChainRoutesOptions{.serve_status = false, .block_max_age = options.block_max_age});
  if (absl::Status s = routes_->Register(); !s.ok()) return s;
  if (follow) {
    feed_ = std::make_unique<StreamFeed>(
        cache_.get(), wiring_.js,
        StreamFeedOptions{.stream = wiring_.stream,
                          .consumer = absl::StrCat("cache-", wiring_.identity),
                          .cache_name = options.name});
    if (absl::Status s = feed_->Start(); !s.ok()) return s;
  }
  return absl::OkStatus();
}

void ReadService::AddRoutes(net::HttpServer* server) {
  if (routes_) routes_->AddRoutes(server);
}

void ReadService::Stop() {
  if (feed_) feed_->Stop();
}

}  // namespace cache
}  // namespace gonka
