// embedded_miss: the miss-path overhead of ChainCache itself, used in-process as a dashboard
// embeds it (docs/cache.md, "Embedding it in a dashboard"), for bench/cache/run.
//
// Per transport (Cosmos gRPC, CometBFT abci_query), interleaved request by request from one
// thread of one process, each with a distinct key (so every cache request is a miss and the node
// does the same work for both):
//   direct   the route's fetch function called straight: the upstream query pinned to a height
//            and the JSON the route renders from it (what a dashboard without the cache does);
//   miss     ChainCache::Begin() + Snapshot::Get() of a key it does not hold: the same fetch plus
//            the cache's lookup, single-flight bookkeeping, ETag (SHA-256) and store;
//   hit      the same Get() again (a lookup in the store).
// The order of direct and miss alternates per request so neither always runs on a warmer path.
//
//   embedded_miss --grpc-address=127.0.0.1:9090 --rpc-url=http://127.0.0.1:26657 --requests=2000
//
// Prints, per transport, one human line and one `RESULT transport=.. direct_p50_us=.. ...` line.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gonka/base/config.h"
#include "gonka/base/json.h"
#include "gonka/cache/chain_cache.h"
#include "gonka/chain/inference_query_client.h"

namespace {

using Clock = std::chrono::steady_clock;
using gonka::cache::ChainCache;
using gonka::cache::ChainCacheOptions;
using gonka::cache::Freshness;
using gonka::cache::Query;

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p / 100.0 * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

double Mean(const std::vector<double>& v) {
  double sum = 0;
  for (double x : v) sum += x;
  return v.empty() ? 0 : sum / static_cast<double>(v.size());
}

double MicrosSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
}

// The body of edge-api's /v1/bridge/addresses?chain=X (gonka/cache/chain_routes.cc).
absl::StatusOr<std::string> BridgeJson(gonka::chain::InferenceQueryClient& chain, const Query& q,
                                       int64_t height) {
  absl::StatusOr<::inference::inference::QueryBridgeAddressesByChainResponse> answer =
      chain.BridgeAddressesByChain(q.key, height);
  if (!answer.ok()) return answer.status();
  gonka::JsonWriter w;
  w.BeginObject().Key("chain_name").String(q.key).Key("chain_id").String(q.key).Key("addresses");
  w.BeginArray();
  for (const auto& address : answer->addresses()) w.String(address.address());
  w.EndArray().EndObject();
  return w.Take();
}

int RunTransport(const char* transport, gonka::chain::InferenceQueryClientOptions client_options,
                 int requests, int warmup) {
  gonka::chain::InferenceQueryClient chain(client_options);
  absl::StatusOr<::inference::inference::QueryEpochInfoResponse> info = chain.EpochInfo();
  if (!info.ok()) {
    std::fprintf(stderr, "embedded_miss: EpochInfo over %s: %s\n", transport,
                 info.status().ToString().c_str());
    return 1;
  }
  const int64_t height = static_cast<int64_t>(info->block_height());

  ChainCacheOptions options;
  options.name = absl::StrCat("embedded_", transport);
  options.max_bytes = size_t{256} << 20;
  // One height for the whole run, as a dashboard between two polls: every request is a miss
  // because its key is new, not because the height moved.
  options.height_source = [height]() -> absl::StatusOr<int64_t> { return height; };
  options.height_poll_interval = absl::Hours(1);
  ChainCache cache(options);
  absl::Status added =
      cache.AddRoute({"bridge_addresses", Freshness::kBlock,
                      [&chain](const Query& q, int64_t h) { return BridgeJson(chain, q, h); }});
  if (!added.ok()) {
    std::fprintf(stderr, "embedded_miss: %s\n", added.ToString().c_str());
    return 1;
  }

  std::vector<double> direct_us, miss_us, hit_us;
  for (int i = 0; i < warmup + requests; ++i) {
    const Query direct_query{"bridge_addresses", absl::StrCat("direct-", transport, "-", i)};
    const Query cached_query{"bridge_addresses", absl::StrCat("cached-", transport, "-", i)};
    double direct = 0, miss = 0, hit = 0;
    auto run_direct = [&]() -> bool {
      const Clock::time_point t0 = Clock::now();
      absl::StatusOr<std::string> body = BridgeJson(chain, direct_query, height);
      direct = MicrosSince(t0);
      if (!body.ok()) std::fprintf(stderr, "direct: %s\n", body.status().ToString().c_str());
      return body.ok();
    };
    auto run_miss = [&]() -> bool {
      const Clock::time_point t0 = Clock::now();
      absl::StatusOr<gonka::cache::Snapshot> snap = cache.Begin();
      if (!snap.ok()) {
        std::fprintf(stderr, "Begin: %s\n", snap.status().ToString().c_str());
        return false;
      }
      absl::StatusOr<gonka::cache::CachedResponse> answer = snap->Get(cached_query);
      miss = MicrosSince(t0);
      if (!answer.ok()) {
        std::fprintf(stderr, "miss: %s\n", answer.status().ToString().c_str());
        return false;
      }
      const Clock::time_point t1 = Clock::now();
      absl::StatusOr<gonka::cache::Snapshot> again = cache.Begin();
      if (!again.ok() || !again->Get(cached_query).ok()) return false;
      hit = MicrosSince(t1);
      return true;
    };
    const bool ok = (i % 2 == 0) ? (run_direct() && run_miss()) : (run_miss() && run_direct());
    if (!ok) return 1;
    if (i < warmup) continue;
    direct_us.push_back(direct);
    miss_us.push_back(miss);
    hit_us.push_back(hit);
  }
  gonka::cache::CacheStats stats = cache.Stats();
  const double direct_p50 = Percentile(direct_us, 50), miss_p50 = Percentile(miss_us, 50);
  std::printf(
      "embedded ChainCache miss over %s: miss p50 %.1f us p99 %.1f us mean %.1f us; the same "
      "query direct p50 %.1f us p99 %.1f us mean %.1f us; ratio of medians %.3f (goal <= 1.1), of "
      "means %.3f; overhead %.1f us at the median; hit p50 %.2f us; %d requests each at height "
      "%lld, %llu cache misses\n",
      transport, miss_p50, Percentile(miss_us, 99), Mean(miss_us), direct_p50,
      Percentile(direct_us, 99), Mean(direct_us), miss_p50 / direct_p50,
      Mean(miss_us) / Mean(direct_us), miss_p50 - direct_p50, Percentile(hit_us, 50), requests,
      static_cast<long long>(height),
      static_cast<unsigned long long>(stats.routes.empty() ? 0 : stats.routes[0].misses));
  std::printf(
      "RESULT transport=%s direct_p50_us=%.1f direct_p99_us=%.1f miss_p50_us=%.1f "
      "miss_p99_us=%.1f hit_p50_us=%.2f ratio=%.4f\n",
      transport, direct_p50, Percentile(direct_us, 99), miss_p50, Percentile(miss_us, 99),
      Percentile(hit_us, 50), miss_p50 / direct_p50);
  std::fflush(stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string grpc_address, rpc_url, transports;
  int requests = 0, warmup = 0;
  gonka::Config config("embedded_miss");
  config.AddString("grpc-address", &grpc_address, "", "the node's Cosmos gRPC, host:port");
  config.AddString("rpc-url", &rpc_url, "", "the node's CometBFT RPC, http://host:port");
  config.AddString("transports", &transports, "grpc,abci", "grpc, abci or both (comma-separated)");
  config.AddInt("requests", &requests, 2000, "measured requests per side and transport")
      .Range(1, 10000000);
  config.AddInt("warmup", &warmup, 100, "unmeasured requests first").Range(0, 10000000);
  if (absl::Status parsed = config.Parse(argc, argv); !parsed.ok()) {
    std::fprintf(stderr, "%s\n", parsed.ToString().c_str());
    return 2;
  }
  if (transports.find("grpc") != std::string::npos) {
    if (grpc_address.empty()) {
      std::fprintf(stderr, "embedded_miss: --grpc-address is required for grpc\n");
      return 2;
    }
    gonka::chain::InferenceQueryClientOptions o;
    o.grpc_address = grpc_address;  // no fallback: a gRPC failure must not turn into abci_query
    if (int rc = RunTransport("grpc", o, requests, warmup); rc != 0) return rc;
  }
  if (transports.find("abci") != std::string::npos) {
    if (rpc_url.empty()) {
      std::fprintf(stderr, "embedded_miss: --rpc-url is required for abci\n");
      return 2;
    }
    gonka::chain::InferenceQueryClientOptions o;
    o.rpc_url = rpc_url;
    if (int rc = RunTransport("abci", o, requests, warmup); rc != 0) return rc;
  }
  return 0;
}
