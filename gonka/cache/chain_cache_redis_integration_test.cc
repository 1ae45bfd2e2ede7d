// ChainCache's shared tier against a real redis-server: replicas share what one of them fetched.
#include <prometheus/registry.h>

#include <atomic>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gonka/base/clock.h"
#include "gonka/cache/chain_cache.h"
#include "gonka/redis/redis_client.h"
#include "gonka/testing/process.h"
#include "gonka/testing/servers.h"

namespace gonka {
namespace cache {
namespace {

struct CountingUpstream {
  FetchFn Fn() {
    return [this](const Query& query, int64_t height) -> absl::StatusOr<std::string> {
      calls.fetch_add(1);
      return absl::StrCat("{\"route\":\"", query.route, "\",\"key\":\"", query.key,
                          "\",\"height\":", height, "}");
    };
  }
  std::atomic<int> calls{0};
};

redis::RedisOptions RedisAt(int port) {
  redis::RedisOptions options;
  options.host = "127.0.0.1";
  options.port = port;
  return options;
}

// One replica: its own Redis connection, store, upstream and metrics registry.
struct Replica {
  Replica(const std::string& name, int redis_port, Clock* clock, bool tell_boundaries)
      : redis(RedisAt(redis_port)) {
    ChainCacheOptions options;
    options.name = name;
    options.clock = clock;
    options.event_feed = true;
    options.redis = &redis;
    options.redis_ttl = absl::Minutes(5);
    options.registry = &registry;
    cache = std::make_unique<ChainCache>(options);
    EXPECT_TRUE(cache->AddRoute({"balance", Freshness::kBlock, upstream.Fn()}).ok());
    EXPECT_TRUE(cache->AddRoute({"epoch_info", Freshness::kPhase, upstream.Fn()}).ok());
    EXPECT_TRUE(cache->AddRoute({"past_epoch", Freshness::kNever, upstream.Fn()}).ok());
    if (tell_boundaries) {
      // What the event hub feeder does on start: the current phase's and epoch's start.
      cache->OnEpochChange(100, 5);
      cache->OnPhaseChange(110, "Inference");
    }
  }

  absl::StatusOr<CachedResponse> Get(const Query& query) {
    absl::StatusOr<Snapshot> snap = cache->Begin();
    if (!snap.ok()) return snap.status();
    return snap->Get(query);
  }

  redis::RedisClient redis;
  prometheus::Registry registry;
  CountingUpstream upstream;
  std::unique_ptr<ChainCache> cache;
};

const Query kBalance{"balance", "addr=gonka1abc"};
const Query kEpochInfo{"epoch_info", ""};
const Query kPastEpoch{"past_epoch", "epoch=3"};

TEST(ChainCacheRedisTest, ASecondReplicaServesFromTheSharedTierWithNoUpstreamCalls) {
  gonka::testing::RedisServer server;
  ASSERT_TRUE(server.Start().ok());
  FakeClock clock;

  Replica first("first", server.port(), &clock, true);
  first.cache->OnBlock(120, clock.Now());
  for (const Query& query : {kBalance, kEpochInfo, kPastEpoch}) {
    auto answer = first.Get(query);
    ASSERT_TRUE(answer.ok()) << answer.status();
    EXPECT_EQ(answer->source(), Source::kUpstream);
  }
  EXPECT_EQ(first.upstream.calls.load(), 3);

  // Written once per height under gonka:cache:<route>:<key>:<height>, with a TTL; the height is
  // the snapshot's for kBlock, the phase start for kPhase, 0 for kNever.
  for (const std::string& key : {std::string("gonka:cache:balance:addr=gonka1abc:120"),
                                 std::string("gonka:cache:epoch_info::110"),
                                 std::string("gonka:cache:past_epoch:epoch=3:0")}) {
    auto ttl = server.Command({"PTTL", key});
    ASSERT_TRUE(ttl.ok()) << key << ": " << ttl.status();
    int64_t ms = 0;
    ASSERT_TRUE(absl::SimpleAtoi(*ttl, &ms)) << key << ": " << *ttl;
    EXPECT_GT(ms, 0) << key;
    EXPECT_LE(ms, 5 * 60 * 1000) << key;
  }

  // A replica that just started: everything from Redis, no upstream call.
  clock.Advance(absl::Seconds(2));
  Replica second("second", server.port(), &clock, true);
  second.cache->OnBlock(120, clock.Now());
  for (const Query& query : {kBalance, kEpochInfo, kPastEpoch}) {
    auto mine = second.Get(query);
    auto theirs = first.Get(query);
    ASSERT_TRUE(mine.ok() && theirs.ok()) << mine.status() << " " << theirs.status();
    EXPECT_EQ(mine->source(), Source::kShared) << query.route;
    EXPECT_EQ(mine->body(), theirs->body());
    EXPECT_EQ(mine->etag(), theirs->etag());
    EXPECT_EQ(mine->height(), 120);
    EXPECT_EQ(mine->age(), absl::Seconds(2));  // the first fetch's time travels with the entry
  }
  EXPECT_EQ(second.upstream.calls.load(), 0);
  // Then from its own store.
  EXPECT_EQ(second.Get(kEpochInfo)->source(), Source::kLocal);
  uint64_t shared_hits = 0;
  for (const RouteStats& route : second.cache->Stats().routes) shared_hits += route.shared_hits;
  EXPECT_EQ(shared_hits, 3u);

  // Later heights of the same phase reuse the shared phase entry; kBlock needs the new height.
  Replica third("third", server.port(), &clock, true);
  third.cache->OnBlock(125, clock.Now());
  auto phase = third.Get(kEpochInfo);
  ASSERT_TRUE(phase.ok());
  EXPECT_EQ(phase->source(), Source::kShared);
  EXPECT_EQ(phase->height(), 120);
  EXPECT_EQ(third.Get(kBalance)->source(), Source::kUpstream);
  EXPECT_EQ(third.upstream.calls.load(), 1);
}

TEST(ChainCacheRedisTest, AReplicaThatDoesNotKnowThePhaseStartDoesNotTrustOlderSharedEntries) {
  gonka::testing::RedisServer server;
  ASSERT_TRUE(server.Start().ok());
  FakeClock clock;
  Replica first("first", server.port(), &clock, true);
  first.cache->OnBlock(120, clock.Now());
  ASSERT_TRUE(first.Get(kEpochInfo).ok());

  // Started at 125 with no boundary told: 125 is its implicit phase start, so the entry fetched
  // at 120 (maybe before a boundary it never heard of) is not used.
  Replica blind("blind", server.port(), &clock, false);
  blind.cache->OnBlock(125, clock.Now());
  auto answer = blind.Get(kEpochInfo);
  ASSERT_TRUE(answer.ok());
  EXPECT_EQ(answer->source(), Source::kUpstream);
  EXPECT_EQ(answer->height(), 125);
}

TEST(ChainCacheRedisTest, RedisDownCostsOnlyTheSharedTier) {
  gonka::testing::RedisServer server;
  ASSERT_TRUE(server.Start().ok());
  FakeClock clock;
  Replica replica("down", server.port(), &clock, true);
  replica.cache->OnBlock(120, clock.Now());
  ASSERT_TRUE(server.Stop().ok());
  auto answer = replica.Get(kBalance);
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_EQ(answer->source(), Source::kUpstream);
  EXPECT_EQ(replica.upstream.calls.load(), 1);
  EXPECT_EQ(replica.cache->Stats().redis_errors, 1u);  // then skipped for redis_retry_after
  EXPECT_EQ(replica.Get(kBalance)->source(), Source::kLocal);
  EXPECT_TRUE(replica.Get(kPastEpoch).ok());
  EXPECT_EQ(replica.cache->Stats().redis_errors, 1u);

  // Redis back and the retry period over: shared again.
  ASSERT_TRUE(server.Start().ok());
  clock.Advance(absl::Seconds(6));
  ASSERT_TRUE(replica.Get(kEpochInfo).ok());
  EXPECT_EQ(replica.cache->Stats().redis_errors, 1u);
  auto written = server.Command({"EXISTS", "gonka:cache:epoch_info::110"});
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(*written, "1");
}

}  // namespace
}  // namespace cache
}  // namespace gonka
