#include "gonka/cache/chain_cache.h"

#include <prometheus/registry.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gonka/base/clock.h"
#include "gonka/base/metrics.h"
#include "gonka/chain/epoch.h"
#include "gonka/testing/process.h"
#include "gtest/gtest.h"

namespace gonka {
namespace cache {
namespace {

using ::gonka::testing::WaitFor;

// A counting upstream. By default the body names the route, key and height it answers, so a
// test can check which height an answer belongs to.
class FakeUpstream {
 public:
  FetchFn Fn() {
    return [this](const Query& query, int64_t height) { return Fetch(query, height); };
  }

  absl::StatusOr<std::string> Fetch(const Query& query, int64_t height) {
    calls.fetch_add(1);
    {
      absl::MutexLock lock(&mu);
      heights.push_back(height);
    }
    if (before_return) before_return();
    {
      absl::MutexLock lock(&mu);
      if (!fail.ok()) return fail;
    }
    if (body) return body(query, height);
    return absl::StrCat("{\"route\":\"", query.route, "\",\"key\":\"", query.key,
                        "\",\"height\":", height, "}");
  }

  void Fail(absl::Status status) {
    absl::MutexLock lock(&mu);
    fail = std::move(status);
  }

  std::vector<int64_t> Heights() {
    absl::MutexLock lock(&mu);
    return heights;
  }

  std::atomic<int> calls{0};
  std::function<std::string(const Query&, int64_t)> body;
  std::function<void()> before_return;

 private:
  absl::Mutex mu;
  absl::Status fail ABSL_GUARDED_BY(mu);
  std::vector<int64_t> heights ABSL_GUARDED_BY(mu);
};

std::string BodyFor(const Query& query, int64_t height) {
  return absl::StrCat("{\"route\":\"", query.route, "\",\"key\":\"", query.key,
                      "\",\"height\":", height, "}");
}

ChainCacheOptions TestOptions(FakeClock* clock) {
  ChainCacheOptions options;
  options.name = "test";
  options.clock = clock;
  options.event_feed = true;
  static auto* registry = new prometheus::Registry();
  options.registry = registry;
  return options;
}

// A copy: callers pass the temporary cache.Stats().
RouteStats StatsOf(const CacheStats& stats, absl::string_view route) {
  for (const RouteStats& r : stats.routes) {
    if (r.route == route) return r;
  }
  ADD_FAILURE() << "no route " << route;
  return RouteStats();
}

absl::StatusOr<CachedResponse> GetNow(ChainCache& cache, const Query& query) {
  absl::StatusOr<Snapshot> snap = cache.Begin();
  if (!snap.ok()) return snap.status();
  return snap->Get(query);
}

TEST(ChainCacheTest, RouteTableRefusesBadRoutes) {
  FakeClock clock;
  ChainCache cache(TestOptions(&clock));
  FakeUpstream upstream;
  EXPECT_EQ(cache.AddRoute({"", Freshness::kBlock, upstream.Fn()}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(cache.AddRoute({"a:b", Freshness::kBlock, upstream.Fn()}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(cache.AddRoute({"nofetch", Freshness::kBlock, nullptr}).code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(cache.AddRoute({"params", Freshness::kEpoch, upstream.Fn()}).ok());
  EXPECT_EQ(cache.AddRoute({"params", Freshness::kBlock, upstream.Fn()}).code(),
            absl::StatusCode::kAlreadyExists);
  cache.OnBlock(5, clock.Now());
  EXPECT_EQ(GetNow(cache, {"nope", ""}).status().code(), absl::StatusCode::kNotFound);
}

TEST(ChainCacheTest, NoHeightIsUnavailable) {
  FakeClock clock;
  ChainCache cache(TestOptions(&clock));
  EXPECT_EQ(cache.Begin().status().code(), absl::StatusCode::kUnavailable);
}

TEST(ChainCacheTest, MissThenHitAtOneHeight) {
  FakeClock clock;
  ChainCache cache(TestOptions(&clock));
  FakeUpstream upstream;
  ASSERT_TRUE(cache.AddRoute({"balance", Freshness::kBlock, upstream.Fn()}).ok());
  cache.OnBlock(10, clock.Now());

  auto first = GetNow(cache, {"balance", "addr=a"});
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->source(), Source::kUpstream);
  EXPECT_EQ(first->height(), 10);
  EXPECT_EQ(first->body(), BodyFor({"balance", "addr=a"}, 10));
  auto second = GetNow(cache, {"balance", "addr=a"});
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->source(), Source::kLocal);
  EXPECT_EQ(second->body(), first->body());
  EXPECT_EQ(second->etag(), first->etag());
  EXPECT_EQ(upstream.calls.load(), 1);

  // kBlock: the next height is a new query.
  cache.OnBlock(11, clock.Now());
  auto third = GetNow(cache, {"balance", "addr=a"});
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(third->height(), 11);
  EXPECT_EQ(upstream.calls.load(), 2);
  EXPECT_EQ(upstream.Heights(), (std::vector<int64_t>{10, 11}));

  const RouteStats& stats = StatsOf(cache.Stats(), "balance");
  EXPECT_EQ(stats.hits, 1u);
  EXPECT_EQ(stats.misses, 2u);
  EXPECT_EQ(stats.upstream_calls, 2u);
}

TEST(ChainCacheTest, SnapshotNeverMixesHeights) {
  FakeClock clock;
  ChainCache cache(TestOptions(&clock));
  FakeUpstream upstream;
  ASSERT_TRUE(cache.AddRoute({"group", Freshness::kBlock, upstream.Fn()}).ok());
  ASSERT_TRUE(cache.AddRoute({"model", Freshness::kBlock, upstream.Fn()}).ok());
  cache.OnBlock(10, clock.Now());
  auto snap = cache.Begin();
  ASSERT_TRUE(snap.ok());
  auto group = snap->Get({"group", ""});
  cache.OnBlock(11, clock.Now());  // the chain moves on mid-request
  auto model = snap->Get({"model", "id=qwen"});
  ASSERT_TRUE(group.ok() && model.ok());
  EXPECT_EQ(group->height(), 10);
  EXPECT_EQ(model->height(), 10);
  EXPECT_EQ(upstream.Heights(), (std::vector<int64_t>{10, 10}));
  EXPECT_EQ(snap->meta().height, 10);
  EXPECT_EQ(snap->meta().freshness, Freshness::kBlock);
  auto next = cache.Begin();
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->height(), 11);
}

TEST(ChainCacheTest, SnapshotsStayConsistentWhileBlocksArrive) {
  FakeClock clock;
  ChainCache cache(TestOptions(&clock));
  FakeUpstream upstream;
  ASSERT_TRUE(cache.AddRoute({"group", Freshness::kBlock, upstream.Fn()}).ok());
  ASSERT_TRUE(cache.AddRoute({"model", Freshness::kPhase, upstream.Fn()}).ok());
  cache.OnBlock(1, clock.Now());
  std::atomic<bool> stop{false};
  std::atomic<int64_t> responses{0};
  std::atomic<int64_t> mixed{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&] {
      while (!stop.load()) {
        auto snap = cache.Begin();
        if (!snap.ok()) continue;
        auto group = snap->Get({"group", ""});
        auto model = snap->Get({"model", ""});
        if (!group.ok() || !model.ok()) {
          mixed.fetch_add(1);
          continue;
        }
        if (group->height() != snap->height() ||
            group->body() != BodyFor({"group", ""}, snap->height()) ||
            model->height() > snap->height()) {
          mixed.fetch_add(1);
        }
        responses.fetch_add(1);
      }
    });
  }
  for (int64_t h = 2; h <= 200; ++h) {
    int64_t before = responses.load();
    if (h % 5 == 0) cache.OnPhaseChange(h, "p");
    cache.OnBlock(h, clock.Now());
    ASSERT_TRUE(WaitFor([&] { return responses.load() >= before + 5; }, absl::Seconds(10),
                        absl::Microseconds(100))
                    .ok());
  }
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(mixed.load(), 0);
  EXPECT_GT(responses.load(), 199 * 5);
}

TEST(ChainCacheTest, ThousandConcurrentMissesMakeOneUpstreamCall) {
  FakeClock clock;
  ChainCache cache(TestOptions(&clock));
  FakeUpstream upstream;
  constexpr int kRequests = 1000;
  // The one fetch returns only once every other request has joined it.
  upstream.before_return = [&] {
    ASSERT_TRUE(
        WaitFor([&] { return StatsOf(cache.Stats(), "epoch_info").collapsed == kRequests - 1; },
                absl::Seconds(60), absl::Milliseconds(5))
            .ok());
  };
  ASSERT_TRUE(cache.AddRoute({"epoch_info", Freshness::kPhase, upstream.Fn()}).ok());
  cache.OnBlock(42, clock.Now());
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  threads.reserve(kRequests);
  for (int i = 0; i < kRequests; ++i) {
    threads.emplace_back([&] {
      auto answer = GetNow(cache, {"epoch_info", ""});
      if (answer.ok() && answer->height() == 42) ok.fetch_add(1);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(upstream.calls.load(), 1);
  EXPECT_EQ(ok.load(), kRequests);
  const RouteStats& stats = StatsOf(cache.Stats(), "epoch_info");
  EXPECT_EQ(stats.misses, 1u);
  EXPECT_EQ(stats.collapsed, static_cast<uint64_t>(kRequests - 1));
}

TEST(ChainCacheTest, ByteBoundHoldsUnderALargerKeySpace) {
  FakeClock clock;
  ChainCacheOptions options = TestOptions(&clock);
  options.max_bytes = 64 * 1024;
  ChainCache cache(options);
  FakeUpstream upstream;
  upstream.body = [](const Query& query, int64_t) { return std::string(1024, 'x') + query.key; };
  ASSERT_TRUE(cache.AddRoute({"past_epoch", Freshness::kNever, upstream.Fn()}).ok());
  cache.OnBlock(100, clock.Now());
  constexpr int kKeys = 2000;  // ~2 MB of bodies through a 64 KiB store
  ASSERT_TRUE(GetNow(cache, {"past_epoch", "hot"}).ok());
  for (int i = 0; i < kKeys; ++i) {
    ASSERT_TRUE(GetNow(cache, {"past_epoch", absl::StrCat("epoch=", i)}).ok());
    ASSERT_TRUE(GetNow(cache, {"past_epoch", "hot"}).ok());  // keeps "hot" recently used
    CacheStats stats = cache.Stats();
    ASSERT_LE(stats.bytes, options.max_bytes) << "after key " << i;
  }
  CacheStats stats = cache.Stats();
  EXPECT_GT(stats.entries, 40u);
  EXPECT_LT(stats.entries, 64u);
  const RouteStats& route = StatsOf(stats, "past_epoch");
  EXPECT_EQ(route.evictions, kKeys + 1 - stats.entries);
  // LRU: the hot key was never evicted (one upstream call), the oldest keys were.
  EXPECT_EQ(upstream.calls.load(), kKeys + 1);
  int before = upstream.calls.load();
  ASSERT_TRUE(GetNow(cache, {"past_epoch", absl::StrCat("epoch=", kKeys - 1)}).ok());
  EXPECT_EQ(upstream.calls.load(), before);
  ASSERT_TRUE(GetNow(cache, {"past_epoch", "epoch=0"}).ok());
  EXPECT_EQ(upstream.calls.load(), before + 1);

  // A body larger than the bound is served but not stored.
  upstream.body = [](const Query&, int64_t) { return std::string(100 * 1024, 'y'); };
  auto big = GetNow(cache, {"past_epoch", "big"});
  ASSERT_TRUE(big.ok());
  EXPECT_EQ(big->body().size(), 100u * 1024);
  EXPECT_LE(cache.Stats().bytes, options.max_bytes);
}

TEST(ChainCacheTest, StaleIfErrorThenUnavailable) {
  FakeClock clock;
  ChainCacheOptions options = TestOptions(&clock);
  options.max_stale = absl::Seconds(60);
  ChainCache cache(options);
  FakeUpstream upstream;
  ASSERT_TRUE(cache.AddRoute({"participants", Freshness::kBlock, upstream.Fn()}).ok());
  cache.OnBlock(10, clock.Now());
  auto fresh = GetNow(cache, {"participants", ""});
  ASSERT_TRUE(fresh.ok());

  upstream.Fail(absl::UnavailableError("connection refused"));
  clock.Advance(absl::Seconds(6));
  cache.OnBlock(11, clock.Now());
  auto stale = GetNow(cache, {"participants", ""});
  ASSERT_TRUE(stale.ok()) << stale.status();
  EXPECT_TRUE(stale->stale());
  EXPECT_EQ(stale->height(), 10);
  EXPECT_EQ(stale->age(), absl::Seconds(6));
  EXPECT_EQ(stale->body(), fresh->body());

  net::HttpRequest request;
  net::HttpResponse response = HttpResponseFor(request, *stale);
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.headers.Get("Age"), "6");
  EXPECT_EQ(response.headers.Get("Warning"), "110 - \"Response is Stale\"");
  EXPECT_EQ(response.headers.Get("Cache-Control"), "no-cache");

  // Past max_stale: 503.
  clock.Advance(absl::Seconds(55));
  cache.OnBlock(12, clock.Now());
  auto gone = GetNow(cache, {"participants", ""});
  EXPECT_EQ(gone.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(gone.status().message(), "connection refused"));
  EXPECT_TRUE(absl::StrContains(gone.status().message(), "max_stale"));

  // An answer (NotFound) is not an outage: returned as is, never stale.
  upstream.Fail(absl::NotFoundError("participant not found"));
  cache.OnBlock(13, clock.Now());
  clock.Advance(absl::Seconds(1));
  EXPECT_EQ(GetNow(cache, {"participants", ""}).status().code(), absl::StatusCode::kNotFound);

  const RouteStats& stats = StatsOf(cache.Stats(), "participants");
  EXPECT_EQ(stats.stale, 1u);
  EXPECT_EQ(stats.errors, 2u);
  EXPECT_EQ(stats.upstream_errors, 3u);
}

TEST(ChainCacheTest, PhaseBoundaryInvalidatesPhaseEntriesOnly) {
  FakeClock clock;
  ChainCache cache(TestOptions(&clock));
  FakeUpstream upstream;
  ASSERT_TRUE(cache.AddRoute({"epoch_info", Freshness::kPhase, upstream.Fn()}).ok());
  ASSERT_TRUE(cache.AddRoute({"group", Freshness::kEpoch, upstream.Fn()}).ok());
  ASSERT_TRUE(cache.AddRoute({"past", Freshness::kNever, upstream.Fn()}).ok());
  cache.OnPhaseChange(1, "Inference");
  cache.OnEpochChange(1, 1);
  cache.OnBlock(10, clock.Now());
  for (const char* route : {"epoch_info", "group", "past"}) {
    ASSERT_TRUE(GetNow(cache, {route, ""}).ok());
  }
  EXPECT_EQ(upstream.calls.load(), 3);

  // No boundary: every class answers later heights from the entry fetched at 10.
  cache.OnBlock(11, clock.Now());
  for (const char* route : {"epoch_info", "group", "past"}) {
    auto answer = GetNow(cache, {route, ""});
    ASSERT_TRUE(answer.ok());
    EXPECT_EQ(answer->height(), 10) << route;
  }
  EXPECT_EQ(upstream.calls.load(), 3);

  // A phase boundary at 12: kPhase refetched at 12; kEpoch and kNever kept.
  cache.OnPhaseChange(12, "PoCGenerate");
  cache.OnBlock(12, clock.Now());
  auto phase = GetNow(cache, {"epoch_info", ""});
  ASSERT_TRUE(phase.ok());
  EXPECT_EQ(phase->height(), 12);
  EXPECT_EQ(GetNow(cache, {"group", ""})->height(), 10);
  EXPECT_EQ(GetNow(cache, {"past", ""})->height(), 10);
  EXPECT_EQ(upstream.calls.load(), 4);
  // A snapshot from before the boundary still gets the pre-boundary entry (it is its answer).
  Snapshot old = cache.At(11);
  EXPECT_EQ(old.Get({"epoch_info", ""})->height(), 10);

  // An epoch boundary invalidates kPhase and kEpoch, not kNever.
  cache.OnEpochChange(15, 2);
  cache.OnBlock(15, clock.Now());
  EXPECT_EQ(GetNow(cache, {"epoch_info", ""})->height(), 15);
  EXPECT_EQ(GetNow(cache, {"group", ""})->height(), 15);
  EXPECT_EQ(GetNow(cache, {"past", ""})->height(), 10);
  EXPECT_EQ(upstream.calls.load(), 6);

  // Stale-if-error never crosses a boundary: after the next phase boundary with the upstream
  // down, the pre-boundary entry is not served (503), though it is young.
  upstream.Fail(absl::UnavailableError("down"));
  cache.OnPhaseChange(16, "PoCValidate");
  cache.OnBlock(16, clock.Now());
  EXPECT_EQ(GetNow(cache, {"epoch_info", ""}).status().code(), absl::StatusCode::kUnavailable);
  // kEpoch across a phase boundary is still its own answer (no fetch needed).
  EXPECT_EQ(GetNow(cache, {"group", ""})->height(), 15);
}

// Phases flip every 3 blocks and epochs every 9 while readers hammer phase/epoch routes: every
// answer carries the data of the phase/epoch of its snapshot height, never an earlier one.
TEST(ChainCacheTest, NoPreBoundaryDataAfterABoundaryUnderLoad) {
  FakeClock clock;
  ChainCache cache(TestOptions(&clock));
  FakeUpstream upstream;
  upstream.body = [](const Query& query, int64_t height) {
    return query.route == "phase" ? absl::StrCat("phase=", height / 3)
                                  : absl::StrCat("epoch=", height / 9);
  };
  ASSERT_TRUE(cache.AddRoute({"phase", Freshness::kPhase, upstream.Fn()}).ok());
  ASSERT_TRUE(cache.AddRoute({"epoch", Freshness::kEpoch, upstream.Fn()}).ok());
  cache.OnPhaseChange(0, "0");
  cache.OnEpochChange(0, 0);
  cache.OnBlock(1, clock.Now());
  std::atomic<bool> stop{false};
  std::atomic<int64_t> responses{0}, wrong{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&] {
      while (!stop.load()) {
        auto snap = cache.Begin();
        if (!snap.ok()) continue;
        auto phase = snap->Get({"phase", ""});
        auto epoch = snap->Get({"epoch", ""});
        if (!phase.ok() || !epoch.ok() ||
            phase->body() != absl::StrCat("phase=", snap->height() / 3) ||
            epoch->body() != absl::StrCat("epoch=", snap->height() / 9)) {
          wrong.fetch_add(1);
        }
        responses.fetch_add(1);
      }
    });
  }
  constexpr int64_t kLastHeight = 300;
  for (int64_t h = 2; h <= kLastHeight; ++h) {
    int64_t before = responses.load();
    if (h % 3 == 0) cache.OnPhaseChange(h, absl::StrCat(h / 3));
    if (h % 9 == 0) cache.OnEpochChange(h, h / 9);
    cache.OnBlock(h, clock.Now());
    ASSERT_TRUE(WaitFor([&] { return responses.load() >= before + 8; }, absl::Seconds(10),
                        absl::Microseconds(100))
                    .ok());
  }
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(wrong.load(), 0);
  // About one fetch per phase and per epoch (single-flight and reuse within the phase); a
  // reader whose snapshot is a height behind a fetch already in flight cannot join it (that
  // fetch answers a later height), so allow a few more.
  const CacheStats stats = cache.Stats();
  EXPECT_LE(StatsOf(stats, "phase").upstream_calls,
            static_cast<uint64_t>(2 * (kLastHeight / 3 + 1)));
  EXPECT_LE(StatsOf(stats, "epoch").upstream_calls,
            static_cast<uint64_t>(2 * (kLastHeight / 9 + 1)));
  std::printf(
      "boundary test: %lld responses over %lld heights, %llu phase and %llu epoch "
      "upstream calls\n",
      static_cast<long long>(responses.load()), static_cast<long long>(kLastHeight),
      static_cast<unsigned long long>(StatsOf(stats, "phase").upstream_calls),
      static_cast<unsigned long long>(StatsOf(stats, "epoch").upstream_calls));
}

TEST(ChainCacheTest, BoundariesDerivedFromEpochParams) {
  FakeClock clock;
  ChainCacheOptions options = TestOptions(&clock);
  options.event_feed = false;
  chain::EpochParams params;
  params.epoch_length = 100;
  params.poc_stage_duration = 10;
  params.poc_exchange_duration = 2;
  params.poc_validation_delay = 2;
  params.poc_validation_duration = 10;
  params.set_new_validators_delay = 20;
  ASSERT_TRUE(chain::ValidateEpochParams(params).ok());
  options.epoch_params = params;
  ChainCache cache(options);
  FakeUpstream upstream;
  ASSERT_TRUE(cache.AddRoute({"phase", Freshness::kPhase, upstream.Fn()}).ok());
  ASSERT_TRUE(cache.AddRoute({"epoch", Freshness::kEpoch, upstream.Fn()}).ok());

  int64_t next_phase = 0, next_epoch = 0;
  for (int64_t h = 151; h < 400 && (next_phase == 0 || next_epoch == 0); ++h) {
    chain::EpochSchedule a = chain::ScheduleAt(params, h - 1), b = chain::ScheduleAt(params, h);
    if (next_phase == 0 && a.phase != b.phase && a.epoch_index == b.epoch_index) next_phase = h;
    if (next_epoch == 0 && a.epoch_index != b.epoch_index) next_epoch = h;
  }
  ASSERT_GT(next_phase, 150);
  ASSERT_GT(next_epoch, next_phase);

  cache.OnBlock(150, clock.Now());
  ASSERT_EQ(GetNow(cache, {"phase", ""})->height(), 150);
  ASSERT_EQ(GetNow(cache, {"epoch", ""})->height(), 150);
  cache.OnBlock(next_phase - 1, clock.Now());
  EXPECT_EQ(GetNow(cache, {"phase", ""})->height(), 150);
  cache.OnBlock(next_phase, clock.Now());
  EXPECT_EQ(GetNow(cache, {"phase", ""})->height(), next_phase);
  EXPECT_EQ(GetNow(cache, {"epoch", ""})->height(), 150);
  cache.OnBlock(next_epoch, clock.Now());
  EXPECT_EQ(GetNow(cache, {"epoch", ""})->height(), next_epoch);
  EXPECT_EQ(GetNow(cache, {"phase", ""})->height(), next_epoch);
}

TEST(ChainCacheTest, WithoutAFeedHeightSourceAndTtl) {
  FakeClock clock;
  ChainCacheOptions options = TestOptions(&clock);
  options.event_feed = false;
  options.ttl_without_boundaries = absl::Seconds(30);
  options.height_poll_interval = absl::Seconds(1);
  std::atomic<int64_t> chain_height{10};
  std::atomic<int> polls{0};
  std::atomic<bool> source_down{false};
  options.height_source = [&]() -> absl::StatusOr<int64_t> {
    polls.fetch_add(1);
    if (source_down.load()) return absl::UnavailableError("status: connection refused");
    return chain_height.load();
  };
  ChainCache cache(options);
  FakeUpstream upstream;
  ASSERT_TRUE(cache.AddRoute({"epoch_info", Freshness::kPhase, upstream.Fn()}).ok());
  ASSERT_TRUE(cache.AddRoute({"balance", Freshness::kBlock, upstream.Fn()}).ok());

  EXPECT_EQ(GetNow(cache, {"epoch_info", ""})->height(), 10);
  EXPECT_EQ(GetNow(cache, {"balance", ""})->height(), 10);
  EXPECT_EQ(polls.load(), 1);  // polled at most once per interval

  chain_height = 11;
  clock.Advance(absl::Seconds(2));
  EXPECT_EQ(GetNow(cache, {"balance", ""})->height(), 11);
  EXPECT_EQ(polls.load(), 2);
  // No boundaries known: kPhase lives until its TTL.
  EXPECT_EQ(GetNow(cache, {"epoch_info", ""})->height(), 10);
  clock.Advance(absl::Seconds(29));
  chain_height = 12;
  EXPECT_EQ(GetNow(cache, {"epoch_info", ""})->height(), 12);
  EXPECT_EQ(upstream.calls.load(), 4);

  // The source failing keeps the last height.
  source_down = true;
  clock.Advance(absl::Seconds(2));
  auto snap = cache.Begin();
  ASSERT_TRUE(snap.ok());
  EXPECT_EQ(snap->height(), 12);
}

// The node not answering /status is an outage too: the last height's entries are served stale
// (the chain may have moved on) until max_stale, then Unavailable, and fresh once it answers.
TEST(ChainCacheTest, HeightSourceDownServesStaleThenUnavailable) {
  FakeClock clock;
  ChainCacheOptions options = TestOptions(&clock);
  options.event_feed = false;
  options.max_stale = absl::Seconds(10);
  options.height_poll_interval = absl::Seconds(1);
  std::atomic<bool> source_down{false};
  options.height_source = [&]() -> absl::StatusOr<int64_t> {
    if (source_down.load()) return absl::UnavailableError("status: connection refused");
    return 20;
  };
  ChainCache cache(options);
  FakeUpstream upstream;
  ASSERT_TRUE(cache.AddRoute({"balance_down", Freshness::kBlock, upstream.Fn()}).ok());
  ASSERT_TRUE(GetNow(cache, {"balance_down", ""}).ok());

  source_down = true;
  upstream.Fail(absl::UnavailableError("grpc: connection refused"));
  clock.Advance(absl::Seconds(4));
  absl::StatusOr<CachedResponse> stale = GetNow(cache, {"balance_down", ""});
  ASSERT_TRUE(stale.ok()) << stale.status();
  EXPECT_TRUE(stale->stale());
  EXPECT_EQ(stale->age(), absl::Seconds(4));
  EXPECT_EQ(upstream.calls.load(), 1);  // served without asking the chain

  clock.Advance(absl::Seconds(7));  // 11 s old > max_stale
  EXPECT_EQ(GetNow(cache, {"balance_down", ""}).status().code(), absl::StatusCode::kUnavailable);

  source_down = false;
  upstream.Fail(absl::OkStatus());
  clock.Advance(absl::Seconds(2));
  absl::StatusOr<CachedResponse> fresh = GetNow(cache, {"balance_down", ""});
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  EXPECT_FALSE(fresh->stale());
  RouteStats stats = StatsOf(cache.Stats(), "balance_down");
  EXPECT_EQ(stats.stale, 1u);
  EXPECT_EQ(stats.errors, 1u);
}

// GetIfCached: a hit at the current height or nothing; it never polls or fetches.
TEST(ChainCacheTest, GetIfCachedAnswersHitsOnly) {
  FakeClock clock;
  ChainCacheOptions options = TestOptions(&clock);
  options.event_feed = false;
  options.height_poll_interval = absl::Seconds(1);
  std::atomic<int> polls{0};
  std::atomic<bool> source_down{false};
  options.height_source = [&]() -> absl::StatusOr<int64_t> {
    polls.fetch_add(1);
    if (source_down.load()) return absl::UnavailableError("status: connection refused");
    return 30;
  };
  ChainCache cache(options);
  FakeUpstream upstream;
  ASSERT_TRUE(cache.AddRoute({"models_ifc", Freshness::kEpoch, upstream.Fn()}).ok());
  EXPECT_FALSE(cache.GetIfCached({"models_ifc", ""}).has_value());  // no height yet
  EXPECT_EQ(polls.load(), 0);

  ASSERT_TRUE(GetNow(cache, {"models_ifc", ""}).ok());  // polls, misses, stores
  std::optional<CachedResponse> hit = cache.GetIfCached({"models_ifc", ""});
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(hit->height(), 30);
  EXPECT_FALSE(hit->stale());
  EXPECT_FALSE(cache.GetIfCached({"models_ifc", "other"}).has_value());  // a miss
  EXPECT_FALSE(cache.GetIfCached({"nope", ""}).has_value());
  EXPECT_EQ(upstream.calls.load(), 1);
  EXPECT_EQ(polls.load(), 1);
  EXPECT_EQ(StatsOf(cache.Stats(), "models_ifc").hits, 1u);

  clock.Advance(absl::Seconds(2));  // a poll is due: left to Begin()
  EXPECT_FALSE(cache.GetIfCached({"models_ifc", ""}).has_value());
  EXPECT_EQ(polls.load(), 1);
  source_down = true;
  ASSERT_TRUE(GetNow(cache, {"models_ifc", ""}).ok());              // polls (fails): stale
  EXPECT_FALSE(cache.GetIfCached({"models_ifc", ""}).has_value());  // outage: not a plain hit
}

// PreparedIfCached: the hit as HttpResponseFor()'s 200, prepared once per entry (the same
// object for every hit, the entry's body shared), its bytes counted in the store.
TEST(ChainCacheTest, PreparedIfCachedServesOnePreparedResponsePerEntry) {
  FakeClock clock;
  ChainCache cache(TestOptions(&clock));
  FakeUpstream upstream;
  ASSERT_TRUE(cache.AddRoute({"models_prep", Freshness::kBlock, upstream.Fn()}).ok());
  cache.OnBlock(7, clock.Now());
  EXPECT_EQ(cache.PreparedIfCached({"models_prep", ""}), nullptr);  // a miss
  absl::StatusOr<CachedResponse> answer = GetNow(cache, {"models_prep", ""});
  ASSERT_TRUE(answer.ok());
  const size_t bytes_before = cache.Stats().bytes;
  std::shared_ptr<const net::PreparedResponse> first = cache.PreparedIfCached({"models_prep", ""});
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(cache.PreparedIfCached({"models_prep", ""}), first);
  EXPECT_EQ(&first->body(), answer->shared_body().get());
  EXPECT_EQ(cache.Stats().bytes, bytes_before + first->overhead_bytes() + 2 * sizeof(void*) + 16);
  EXPECT_EQ(StatsOf(cache.Stats(), "models_prep").hits, 2u);

  net::HttpResponse expected = HttpResponseFor(net::HttpRequest(), *answer);
  EXPECT_EQ(first->status(), 200);
  EXPECT_EQ(first->body(), expected.body);
  for (const auto& [name, value] : expected.headers) {
    EXPECT_EQ(first->headers().Get(name), value) << name;
    EXPECT_THAT(first->head(),
                ::testing::HasSubstr(absl::StrCat("\r\n", name, ": ", value, "\r\n")));
  }
  cache.OnBlock(8, clock.Now());  // kBlock: no longer the answer
  EXPECT_EQ(cache.PreparedIfCached({"models_prep", ""}), nullptr);
}

TEST(ChainCacheTest, RouteTtlCapsEvenNever) {
  FakeClock clock;
  ChainCache cache(TestOptions(&clock));
  FakeUpstream upstream;
  RouteOptions route{"bridge", Freshness::kNever, upstream.Fn()};
  route.ttl = absl::Seconds(10);
  ASSERT_TRUE(cache.AddRoute(route).ok());
  cache.OnBlock(5, clock.Now());
  ASSERT_TRUE(GetNow(cache, {"bridge", "chain=eth"}).ok());
  clock.Advance(absl::Seconds(10));
  EXPECT_EQ(GetNow(cache, {"bridge", "chain=eth"})->source(), Source::kLocal);
  clock.Advance(absl::Seconds(1));
  EXPECT_EQ(GetNow(cache, {"bridge", "chain=eth"})->source(), Source::kUpstream);
  EXPECT_EQ(upstream.calls.load(), 2);
}

TEST(ChainCacheTest, ETagAndConditionalRequests) {
  EXPECT_EQ(ETagOf("{}"), ETagOf("{}"));
  EXPECT_NE(ETagOf("{\"a\":1}"), ETagOf("{\"a\":2}"));
  const std::string etag = ETagOf("{}");
  EXPECT_EQ(etag.size(), 34u);  // quoted 32 hex digits
  EXPECT_EQ(etag.front(), '"');
  EXPECT_TRUE(IfNoneMatchMatches(etag, etag));
  EXPECT_TRUE(IfNoneMatchMatches("*", etag));
  EXPECT_TRUE(IfNoneMatchMatches(absl::StrCat("\"other\", W/", etag), etag));
  EXPECT_FALSE(IfNoneMatchMatches("\"other\"", etag));
  EXPECT_FALSE(IfNoneMatchMatches("", etag));

  EXPECT_EQ(CacheControl(Freshness::kNever, false), "public, max-age=31536000, immutable");
  EXPECT_EQ(CacheControl(Freshness::kBlock, false, absl::Seconds(2)), "public, max-age=2");
  EXPECT_EQ(CacheControl(Freshness::kPhase, false), "no-cache");
  EXPECT_EQ(CacheControl(Freshness::kEpoch, false), "no-cache");
  EXPECT_EQ(CacheControl(Freshness::kNever, true), "no-cache");

  FakeClock clock;
  ChainCache cache(TestOptions(&clock));
  FakeUpstream upstream;
  ASSERT_TRUE(cache.AddRoute({"params", Freshness::kEpoch, upstream.Fn()}).ok());
  cache.OnBlock(7, clock.Now());
  auto answer = GetNow(cache, {"params", ""});
  ASSERT_TRUE(answer.ok());
  EXPECT_EQ(answer->etag(), ETagOf(answer->body()));

  net::HttpRequest request;
  net::HttpResponse full = HttpResponseFor(request, *answer);
  EXPECT_EQ(full.status, 200);
  EXPECT_EQ(full.body, answer->body());
  EXPECT_EQ(full.headers.Get("ETag"), answer->etag());
  EXPECT_EQ(full.headers.Get("Cache-Control"), "no-cache");
  EXPECT_EQ(full.headers.Get("X-Cosmos-Block-Height"), "7");
  EXPECT_FALSE(full.headers.Has("Warning"));

  request.headers.Set("If-None-Match", answer->etag());
  net::HttpResponse not_modified = HttpResponseFor(request, *answer);
  EXPECT_EQ(not_modified.status, 304);
  EXPECT_TRUE(not_modified.body.empty());
  EXPECT_EQ(not_modified.headers.Get("ETag"), answer->etag());

  // A composed body: ETag of the composition, the strictest class of its parts.
  ResponseMeta meta;
  meta.freshness = Freshness::kBlock;
  meta.height = 7;
  net::HttpResponse composed = HttpResponseFor(net::HttpRequest(), "{\"data\":[]}", meta);
  EXPECT_EQ(composed.headers.Get("ETag"), ETagOf("{\"data\":[]}"));
  EXPECT_EQ(composed.headers.Get("Cache-Control"), "public, max-age=1");
}

TEST(ChainCacheTest, MetricsAndStats) {
  FakeClock clock;
  ChainCacheOptions options = TestOptions(&clock);
  auto registry = std::make_shared<prometheus::Registry>();
  options.registry = registry.get();
  options.name = "metrics";
  ChainCache cache(options);
  FakeUpstream upstream;
  ASSERT_TRUE(cache.AddRoute({"models", Freshness::kEpoch, upstream.Fn()}).ok());
  cache.OnEpochChange(3, 1);
  cache.OnBlock(5, clock.Now());
  ASSERT_TRUE(GetNow(cache, {"models", ""}).ok());
  ASSERT_TRUE(GetNow(cache, {"models", ""}).ok());
  std::string text = metrics::ExposeText(*registry);
  EXPECT_TRUE(absl::StrContains(
      text, "gonka_cache_requests_total{cache=\"metrics\",result=\"hit\",route=\"models\"} 1"))
      << text;
  EXPECT_TRUE(absl::StrContains(
      text, "gonka_cache_requests_total{cache=\"metrics\",result=\"miss\",route=\"models\"} 1"));
  EXPECT_TRUE(absl::StrContains(
      text,
      "gonka_cache_upstream_calls_total{cache=\"metrics\",result=\"ok\",route=\"models\"} 1"));
  EXPECT_TRUE(absl::StrContains(text, "gonka_cache_upstream_duration_seconds_count"));
  EXPECT_TRUE(absl::StrContains(text, "gonka_cache_store{cache=\"metrics\",value=\"bytes\"}"));
  CacheStats stats = cache.Stats();
  EXPECT_EQ(stats.height, 5);
  EXPECT_EQ(stats.epoch_start, 3);
  EXPECT_EQ(stats.entries, 1u);
  EXPECT_GT(stats.bytes, 0u);
  cache.Clear();
  EXPECT_EQ(cache.Stats().bytes, 0u);
  EXPECT_EQ(cache.Stats().entries, 0u);
}

// Not an assertion on time: prints the hit path's cost for the report (bench/cache measures it
// properly against nginx).
TEST(ChainCacheTest, HitPathMicroBenchmark) {
  ChainCacheOptions options;
  options.name = "bench";
  options.event_feed = true;
  auto registry = std::make_shared<prometheus::Registry>();
  options.registry = registry.get();
  ChainCache cache(options);
  FakeUpstream upstream;
  upstream.body = [](const Query&, int64_t) { return std::string(2048, 'x'); };
  ASSERT_TRUE(cache.AddRoute({"models", Freshness::kEpoch, upstream.Fn()}).ok());
  cache.OnBlock(5, absl::Now());
  ASSERT_TRUE(GetNow(cache, {"models", ""}).ok());
  constexpr int kIterations = 200'000;
  absl::Time start = absl::Now();
  for (int i = 0; i < kIterations; ++i) {
    auto snap = cache.Begin();
    auto answer = snap->Get({"models", ""});
    if (!answer.ok()) FAIL();
  }
  absl::Duration per = (absl::Now() - start) / kIterations;
  std::printf("hit path (Begin + Get, one thread): %.0f ns per request\n",
              absl::ToDoubleNanoseconds(per));
  EXPECT_EQ(upstream.calls.load(), 1);
}

}  // namespace
}  // namespace cache
}  // namespace gonka
