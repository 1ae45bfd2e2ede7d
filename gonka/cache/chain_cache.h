// ChainCache: chain query answers cached by (query, height), invalidated at the block where the
// data changes, with one height snapshot per request (docs/cache.md).
//
// Contract:
//   - A route is one cacheable chain query kind (e.g. "epoch_group_data"): a fetch function that
//     returns the JSON body of a Query *as of a given height*, and a freshness class saying for
//     which later heights that body is still the answer:
//       kBlock  only at the height it was fetched at (balances, paged participant lists);
//       kPhase  until the next PoC phase or epoch boundary (epoch info, the current phase);
//       kEpoch  until the next epoch boundary (current epoch group data, models, pricing);
//       kNever  for every later height (a past epoch's data: immutable once written).
//     An optional TTL caps any class.
//   - Every answer belongs to one snapshot height. Begin() pins the current height (the last
//     OnBlock(), or the injected height source when no event feed runs); every Get() of that
//     Snapshot answers at exactly that height, so a route built from several queries (models =
//     CurrentEpochGroupData + one EpochGroupData per model) never mixes heights. Upstream fetches
//     are pinned to the snapshot height, so a boundary arriving while a fetch is in flight cannot
//     make it wrong: validity is decided by heights, not by arrival order.
//   - After OnPhaseChange(b) no kPhase entry fetched below b answers a snapshot at or above b; the
//     same for OnEpochChange(b) and kPhase/kEpoch entries. Stale-if-error never crosses such a
//     boundary either: pre-boundary data is wrong data, not old data, so it is a 503 instead.
//   - The in-process store never holds more than `max_bytes` (cost = body + key + a fixed
//     overhead per entry); least recently used entries go first. A body larger than the bound is
//     served but not stored.
//   - Single-flight: concurrent misses that one fetch can answer (the same query at the same
//     height, or a later height the result stays valid for) make one upstream call.
//   - Stale-if-error: when the upstream fails with an outage code (Unavailable, DeadlineExceeded,
//     Internal, Unknown, Aborted, Cancelled, ResourceExhausted) and an older entry is at most
//     `max_stale` old, it is served with stale() true and its age (HttpResponseFor() adds `Age`
//     and `Warning: 110 - "Response is Stale"`); otherwise Get() returns Unavailable (503). Other
//     codes (NotFound, InvalidArgument, ...) are answers, returned unchanged and never cached.
//     The height source failing counts as an outage too (see Begin()): cached answers are then
//     served stale, aged from when the height was last confirmed, until max_stale.
//   - Optional shared Redis tier: on a local miss the fill reads
//     `gonka:cache:<route>:<key>:<height>` before going upstream, and whoever fetched first
//     writes it once (SET NX PX), so a replica that just started serves warm. <height> is the
//     snapshot height for kBlock, the start of the current phase / epoch for kPhase / kEpoch (so
//     replicas at different heights of one phase share the entry) and 0 for kNever. Redis errors
//     only cost the shared tier: the fill goes upstream, and the tier is skipped for
//     `redis_retry_after`.
//   - Without an event feed (a dashboard with no NATS or Redis) set `height_source`: heights are
//     polled (at most once per `height_poll_interval`) and kPhase/kEpoch entries live at most
//     `ttl_without_boundaries`, unless `epoch_params` lets the cache derive the boundaries itself.
//
// Thread-safety: ChainCache is thread-safe. A Snapshot belongs to one request (one thread); it
// must not outlive its ChainCache. Fetch functions run on the calling thread of the Get() that
// missed, without any cache lock held, and may be called concurrently for different keys.
//
// Example (an HTTP handler of a two-query route):
//   ChainCacheOptions options;
//   options.max_bytes = 256 << 20;
//   options.height_source = [&] { return LatestHeightFromCometStatus(); };
//   ChainCache cache(options);
//   RETURN_IF_ERROR(cache.AddRoute({"current_epoch_group", Freshness::kEpoch, FetchCurrentGroup}));
//   RETURN_IF_ERROR(cache.AddRoute({"epoch_group", Freshness::kEpoch, FetchGroupForModel}));
//   ASSIGN_OR_RETURN(Snapshot snap, cache.Begin());
//   ASSIGN_OR_RETURN(CachedResponse group, snap.Get({"current_epoch_group", ""}));
//   ASSIGN_OR_RETURN(CachedResponse model, snap.Get({"epoch_group", "model=Qwen"}));  // same
//   height return HttpResponseFor(request, BuildModelsJson(group, model), snap.meta());
#ifndef GONKA_CACHE_CHAIN_CACHE_H_
#define GONKA_CACHE_CHAIN_CACHE_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gonka/base/clock.h"
#include "gonka/chain/epoch.h"
#include "gonka/net/http_message.h"

namespace prometheus {
class Registry;
}  // namespace prometheus

namespace gonka {
namespace redis {
class RedisClient;
}  // namespace redis

namespace cache {

// For how long (in heights) a fetched body stays the answer. Ordered strictest first: a response
// built from several parts has the strictest class among them.
enum class Freshness { kBlock = 0, kPhase = 1, kEpoch = 2, kNever = 3 };

// "block", "phase", "epoch", "never".
absl::string_view FreshnessName(Freshness freshness);

// One chain query: the route (query kind) and its parameters in a canonical form chosen by the
// caller (e.g. "epoch=12&model=Qwen/Qwen3"; "" for none). Equal keys must mean equal queries.
struct Query {
  std::string route;
  std::string key;
};

// Returns the JSON body answering `query` as of block `height` (pin the upstream call to that
// height, e.g. gRPC metadata `x-cosmos-block-height`). Errors are returned to Get() callers
// (outage codes may be answered from a stale entry instead).
using FetchFn = std::function<absl::StatusOr<std::string>(const Query& query, int64_t height)>;

// Returns the chain's latest height (e.g. CometBFT /status). Used when no OnBlock() was seen.
using HeightSourceFn = std::function<absl::StatusOr<int64_t>()>;

struct RouteOptions {
  // Names the route in keys, metrics and errors: [A-Za-z0-9_.-]+. Required.
  std::string name;
  Freshness freshness = Freshness::kBlock;
  FetchFn fetch;  // Required.
  // An entry older than this (since it was fetched) is refetched whatever its class says.
  absl::Duration ttl = absl::InfiniteDuration();
  // Overrides ChainCacheOptions::max_stale for this route.
  std::optional<absl::Duration> max_stale;
};

struct ChainCacheOptions {
  // The `cache` label of the metrics (several caches may share a process).
  std::string name = "chain";
  // Bound of the in-process store in bytes (body allocation + key + kEntryOverheadBytes per
  // entry).
  size_t max_bytes = size_t{256} << 20;
  // Oldest entry (age since fetched) served when the upstream fails.
  absl::Duration max_stale = absl::Seconds(60);
  // How long a Get() that joined another caller's fetch waits for it before treating it as an
  // upstream failure (DeadlineExceeded, so stale-if-error applies).
  absl::Duration flight_timeout = absl::Seconds(30);

  // The current height when no OnBlock() has been seen. Without it and without OnBlock(),
  // Begin() returns Unavailable.
  HeightSourceFn height_source;
  absl::Duration height_poll_interval = absl::Seconds(1);

  // True when OnPhaseChange()/OnEpochChange() will be called (the event hub feed). Until then,
  // and when false, boundaries are unknown: kPhase/kEpoch entries live at most
  // `ttl_without_boundaries` (unless `epoch_params` is set).
  bool event_feed = false;
  absl::Duration ttl_without_boundaries = absl::Seconds(30);
  // When set (epoch_length > 0), phase and epoch boundaries are derived from the observed
  // heights with gonka/chain/epoch.h as well (no feed needed).
  std::optional<chain::EpochParams> epoch_params;

  // The shared tier (not owned; nullptr = none).
  redis::RedisClient* redis = nullptr;
  std::string redis_prefix = "gonka:cache";
  // Expiry of shared entries (capped by a route's ttl).
  absl::Duration redis_ttl = absl::Minutes(10);
  // After a Redis error the shared tier is skipped this long (misses go straight upstream).
  absl::Duration redis_retry_after = absl::Seconds(5);

  // `Cache-Control: max-age` of kBlock responses (see CacheControl()).
  absl::Duration block_max_age = absl::Seconds(1);

  Clock* clock = Clock::Real();
  // Metrics registry (nullptr = the process-wide one).
  prometheus::Registry* registry = nullptr;
};

// Fixed per-entry cost added to the body's allocation and the key's size: the key's map node,
// the version map node, the entry, its LRU link, the shared value and body holders, the ETag,
// and malloc's per-allocation headers (about 500 bytes counted on glibc x86-64), so the bound
// is near the memory the store really holds (docs/cache.md, "Performance").
inline constexpr size_t kEntryOverheadBytes = 512;

// Where an answer came from.
enum class Source { kLocal, kShared, kUpstream };

// One answer. Cheap to copy (the body is shared, never copied).
class CachedResponse {
 public:
  struct Value {
    std::shared_ptr<const std::string> body;
    std::string etag;  // quoted strong ETag, e.g. "\"3f2a...\""
    int64_t height = 0;
    absl::Time fetched_at;
  };

  CachedResponse(std::shared_ptr<const Value> value, Freshness freshness, Source source, bool stale,
                 absl::Duration age);

  absl::string_view body() const { return *value_->body; }
  std::shared_ptr<const std::string> shared_body() const { return value_->body; }
  const std::string& etag() const { return value_->etag; }
  // The height the body was fetched at (<= the snapshot height).
  int64_t height() const { return value_->height; }
  absl::Time fetched_at() const { return value_->fetched_at; }
  Freshness freshness() const { return freshness_; }
  Source source() const { return source_; }
  // True when served because the upstream failed; age() says how old it is.
  bool stale() const { return stale_; }
  absl::Duration age() const { return age_; }

 private:
  std::shared_ptr<const Value> value_;
  Freshness freshness_;
  Source source_;
  bool stale_;
  absl::Duration age_;
};

// What a response built from one or more answers may claim (for headers).
struct ResponseMeta {
  Freshness freshness = Freshness::kNever;    // the strictest part
  int64_t height = 0;                         // the snapshot height
  bool stale = false;                         // any part stale
  absl::Duration age = absl::ZeroDuration();  // the oldest stale part's age
};

class ChainCache;

// A request's view of the chain at one height. Not thread-safe; must not outlive its cache.
class Snapshot {
 public:
  int64_t height() const { return height_; }

  // The answer to `query` at height(). NotFound if the route does not exist; the fetch's error
  // (see the header contract for stale-if-error and Unavailable) otherwise.
  absl::StatusOr<CachedResponse> Get(const Query& query);

  // The combined freshness/staleness of every successful Get() so far.
  const ResponseMeta& meta() const { return meta_; }

 private:
  friend class ChainCache;
  Snapshot(ChainCache* cache, int64_t height) : cache_(cache), height_(height) {
    meta_.height = height;
  }
  ChainCache* cache_;
  int64_t height_;
  ResponseMeta meta_;
};

struct RouteStats {
  std::string route;
  Freshness freshness = Freshness::kBlock;
  uint64_t hits = 0;         // answered from the in-process store
  uint64_t shared_hits = 0;  // answered from Redis
  uint64_t misses = 0;       // led an upstream fetch
  uint64_t collapsed = 0;    // joined another caller's fetch (single-flight)
  uint64_t stale = 0;        // answered stale after an upstream failure
  uint64_t errors = 0;       // returned an error
  uint64_t evictions = 0;
  uint64_t upstream_calls = 0;
  uint64_t upstream_errors = 0;
  absl::Duration upstream_time = absl::ZeroDuration();  // summed over calls
};

struct CacheStats {
  size_t bytes = 0;
  size_t max_bytes = 0;
  size_t entries = 0;
  int64_t height = 0;       // last height observed (0 = none)
  int64_t phase_start = 0;  // last known phase boundary (0 = none)
  int64_t epoch_start = 0;  // last known epoch boundary (0 = none)
  uint64_t redis_errors = 0;
  std::vector<RouteStats> routes;  // in AddRoute() order
};

class ChainCache {
 public:
  explicit ChainCache(ChainCacheOptions options);
  ~ChainCache();
  ChainCache(const ChainCache&) = delete;
  ChainCache& operator=(const ChainCache&) = delete;

  // Adds a route. InvalidArgument for a bad name or a missing fetch function; AlreadyExists
  // when the name is taken.
  absl::Status AddRoute(RouteOptions route);

  // A snapshot at the current height: the last OnBlock() height, else the height source's
  // (polled at most once per height_poll_interval, by one caller at a time: the others use the
  // last height meanwhile). With a feed the height source, when set, is still polled, for
  // liveness only. When a poll fails the last height is used, and until a poll succeeds again
  // every answer counts as an outage answer: an entry at most max_stale old is served stale
  // (Age, Warning), an older one is fetched, Unavailable if that fails too — the chain may have
  // moved on, so the entry is no longer known to be current. Unavailable when no height is known
  // at all.
  absl::StatusOr<Snapshot> Begin();
  // The non-blocking form of Begin() + Get() for an I/O thread (net::HttpServer's inline
  // handlers): the answer to `query` at the current height when the in-process store holds it
  // fresh (counted as a hit), else nullopt — whenever Begin() + Get() could block or would answer
  // otherwise: no height yet, a height poll due, the height source failing, a miss, stale or
  // error answers. Never calls the height source, Redis or the upstream.
  std::optional<CachedResponse> GetIfCached(const Query& query);
  // GetIfCached() as a prepared HTTP response: HttpResponseFor()'s 200 for the entry (with this
  // cache's block_max_age), serialized once per entry and shared by every hit on it, for
  // net::HttpServer::RouteOptions::prepared_handler (a hit then costs one gathered write, no copy
  // of the body). Its bytes count against max_bytes. nullptr whenever GetIfCached() would return
  // nullopt. Never blocks, like GetIfCached().
  std::shared_ptr<const net::PreparedResponse> PreparedIfCached(const Query& query);
  // A snapshot at an explicit height (a route that names its height, e.g. a past epoch's).
  Snapshot At(int64_t height) { return Snapshot(this, height); }

  // Event inputs (the event hub Subscriber). Call OnPhaseChange/OnEpochChange for a height
  // before OnBlock() of that height, so no snapshot at that height sees the old phase. A
  // boundary height b means: the data at b differs from the data at b - 1. On start, the feeder
  // may pass the current phase's and epoch's start heights so shared entries are reused.
  void OnBlock(int64_t height, absl::Time block_time);
  void OnPhaseChange(int64_t boundary_height, absl::string_view phase);
  void OnEpochChange(int64_t boundary_height, int64_t epoch_index);

  // Drops every entry of the in-process store (not the shared tier).
  void Clear();

  CacheStats Stats() const;

 private:
  friend class Snapshot;
  struct Impl;
  absl::StatusOr<CachedResponse> Get(int64_t height, const Query& query);
  std::unique_ptr<Impl> impl_;
};

// The strong ETag of a body (quoted hex of the first 16 bytes of its SHA-256), stable across
// processes so replicas behind one balancer agree.
std::string ETagOf(absl::string_view body);

// Whether an If-None-Match header value matches `etag` (RFC 9110 §13.1.2: "*" or a
// comma-separated list, compared weakly, so W/"x" matches "x").
bool IfNoneMatchMatches(absl::string_view if_none_match, absl::string_view etag);

// The Cache-Control value for a response:
//   kNever        "public, max-age=31536000, immutable" — the bytes at that height never change;
//   kBlock        "public, max-age=<block_max_age>" — valid for one block (~5 s on Gonka), so a
//                 client may reuse it briefly but never past the next block;
//   kPhase/kEpoch "no-cache" — the boundary comes at a block nobody can predict from a clock, so
//                 any max-age could let a client or proxy serve pre-boundary data after it;
//                 revalidation with the ETag is a cheap 304 from this cache instead;
//   stale         "no-cache" whatever the class.
std::string CacheControl(Freshness freshness, bool stale,
                         absl::Duration block_max_age = absl::Seconds(1));

// A 200 JSON response with ETag, Cache-Control, X-Cosmos-Block-Height and, when stale, Age and
// `Warning: 110 - "Response is Stale"`; or a 304 with the same headers and no body when the
// request's If-None-Match matches.
net::HttpResponse HttpResponseFor(const net::HttpRequest& request, std::string body,
                                  const ResponseMeta& meta,
                                  absl::Duration block_max_age = absl::Seconds(1));
net::HttpResponse HttpResponseFor(const net::HttpRequest& request, const CachedResponse& answer,
                                  absl::Duration block_max_age = absl::Seconds(1));

}  // namespace cache
}  // namespace gonka

#endif  // GONKA_CACHE_CHAIN_CACHE_H_
