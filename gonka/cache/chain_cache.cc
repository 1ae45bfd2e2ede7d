#include "gonka/cache/chain_cache.h"

#include <algorithm>
#include <atomic>
#include <iterator>
#include <list>
#include <map>
#include <set>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/node_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gonka/base/log.h"
#include "gonka/base/metrics.h"
#include "gonka/crypto/hash.h"
#include "gonka/redis/redis_client.h"

namespace gonka {
namespace cache {
namespace {

// Boundaries older than this many are forgotten (a snapshot that old has long finished).
constexpr size_t kMaxBoundaries = 256;
// Versions of one key kept in the store: the newest and the one before (stale-if-error, and a
// snapshot still at the previous height).
constexpr size_t kMaxVersionsPerKey = 2;
// A gap in observed heights up to this long is scanned height by height for derived boundaries;
// a longer one puts a conservative boundary after the last observed height.
constexpr int64_t kMaxDerivedScan = 100'000;

bool IsOutage(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kCancelled:
    case absl::StatusCode::kResourceExhausted:
      return true;
    default:
      return false;
  }
}

bool ValidRouteName(absl::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-') {
      return false;
    }
  }
  return true;
}

// True when some boundary b satisfies lo < b <= hi.
bool BoundaryIn(const std::set<int64_t>& boundaries, int64_t lo, int64_t hi) {
  auto it = boundaries.upper_bound(lo);
  return it != boundaries.end() && *it <= hi;
}

// The last boundary <= height, or 0.
int64_t LastBoundaryAtOrBelow(const std::set<int64_t>& boundaries, int64_t height) {
  auto it = boundaries.upper_bound(height);
  if (it == boundaries.begin()) return 0;
  return *std::prev(it);
}

void AddBoundary(std::set<int64_t>* boundaries, int64_t height) {
  boundaries->insert(height);
  while (boundaries->size() > kMaxBoundaries) boundaries->erase(boundaries->begin());
}

// Shared-tier value: "<height>\n<fetched unix micros>\n<body>".
std::string EncodeShared(int64_t height, absl::Time fetched_at, absl::string_view body) {
  return absl::StrCat(height, "\n", absl::ToUnixMicros(fetched_at), "\n", body);
}

bool DecodeShared(absl::string_view text, int64_t* height, absl::Time* fetched_at,
                  std::string* body) {
  size_t first = text.find('\n');
  if (first == absl::string_view::npos) return false;
  size_t second = text.find('\n', first + 1);
  if (second == absl::string_view::npos) return false;
  int64_t micros = 0;
  if (!absl::SimpleAtoi(text.substr(0, first), height) ||
      !absl::SimpleAtoi(text.substr(first + 1, second - first - 1), &micros)) {
    return false;
  }
  *fetched_at = absl::FromUnixMicros(micros);
  *body = std::string(text.substr(second + 1));
  return true;
}

// A 200 (or a 304 when the request's If-None-Match matches `etag`) with the cache headers.
net::HttpResponse Respond(const net::HttpRequest& request, std::string body,
                          const std::string& etag, const ResponseMeta& meta,
                          absl::Duration block_max_age);

}  // namespace

absl::string_view FreshnessName(Freshness freshness) {
  switch (freshness) {
    case Freshness::kBlock:
      return "block";
    case Freshness::kPhase:
      return "phase";
    case Freshness::kEpoch:
      return "epoch";
    case Freshness::kNever:
      return "never";
  }
  return "unknown";
}

CachedResponse::CachedResponse(std::shared_ptr<const Value> value, Freshness freshness,
                               Source source, bool stale, absl::Duration age)
    : value_(std::move(value)), freshness_(freshness), source_(source), stale_(stale), age_(age) {}

absl::StatusOr<CachedResponse> Snapshot::Get(const Query& query) {
  absl::StatusOr<CachedResponse> answer = cache_->Get(height_, query);
  if (answer.ok()) {
    meta_.freshness = std::min(meta_.freshness, answer->freshness());
    if (answer->stale()) {
      meta_.stale = true;
      meta_.age = std::max(meta_.age, answer->age());
    }
  }
  return answer;
}

struct ChainCache::Impl {
  using Value = CachedResponse::Value;

  struct Route {
    RouteOptions options;
    size_t index = 0;
    // Metrics, resolved once so the hit path does no label lookups.
    prometheus::Counter* hit_counter = nullptr;
    prometheus::Counter* shared_counter = nullptr;
    prometheus::Counter* miss_counter = nullptr;
    prometheus::Counter* collapsed_counter = nullptr;
    prometheus::Counter* stale_counter = nullptr;
    prometheus::Counter* error_counter = nullptr;
    prometheus::Counter* eviction_counter = nullptr;
    prometheus::Counter* upstream_ok = nullptr;
    prometheus::Counter* upstream_error = nullptr;
    prometheus::Histogram* upstream_duration = nullptr;
    // Stats() numbers.
    std::atomic<uint64_t> hits{0}, shared_hits{0}, misses{0}, collapsed{0}, stale{0}, errors{0},
        evictions{0}, upstream_calls{0}, upstream_errors{0};
    std::atomic<int64_t> upstream_nanos{0};
  };

  struct Entry {
    Route* route = nullptr;
    const std::string* full_key = nullptr;  // the key of its node in `entries` (stable)
    std::shared_ptr<const Value> value;
    size_t cost = 0;
    std::list<Entry*>::iterator lru;
    // The entry as a prepared HTTP response, made at its first PreparedIfCached() hit (its
    // bytes are then added to `cost`).
    std::shared_ptr<const net::PreparedResponse> prepared;
  };

  // One fetch in progress; joined by every Get() its result will answer.
  struct Flight {
    absl::Notification done;
    absl::StatusOr<std::shared_ptr<const Value>> result = absl::UnknownError("not done");
    Source source = Source::kUpstream;
  };

  explicit Impl(ChainCacheOptions opts) : options(std::move(opts)) {
    prometheus::Registry& registry =
        options.registry != nullptr ? *options.registry : metrics::Registry();
    requests_family = &prometheus::BuildCounter()
                           .Name("gonka_cache_requests_total")
                           .Help(
                               "Chain cache answers by route and result: hit (in-process), "
                               "shared (Redis tier), miss (led an upstream fetch), collapsed "
                               "(joined another caller's fetch), stale (served stale after an "
                               "upstream failure), error")
                           .Register(registry);
    evictions_family = &prometheus::BuildCounter()
                            .Name("gonka_cache_evictions_total")
                            .Help("Entries evicted from the in-process store to stay in its bound")
                            .Register(registry);
    upstream_family = &prometheus::BuildCounter()
                           .Name("gonka_cache_upstream_calls_total")
                           .Help("Upstream fetches by route and result (ok, error)")
                           .Register(registry);
    upstream_duration_family = &prometheus::BuildHistogram()
                                    .Name("gonka_cache_upstream_duration_seconds")
                                    .Help("Upstream fetch latency by route")
                                    .Register(registry);
    auto& gauges = prometheus::BuildGauge()
                       .Name("gonka_cache_store")
                       .Help("In-process store: bytes held, entries, max_bytes")
                       .Register(registry);
    bytes_gauge = &gauges.Add({{"cache", options.name}, {"value", "bytes"}});
    entries_gauge = &gauges.Add({{"cache", options.name}, {"value", "entries"}});
    gauges.Add({{"cache", options.name}, {"value", "max_bytes"}})
        .Set(static_cast<double>(options.max_bytes));
    redis_errors_counter = &prometheus::BuildCounter()
                                .Name("gonka_cache_redis_errors_total")
                                .Help("Shared-tier (Redis) reads and writes that failed")
                                .Register(registry)
                                .Add({{"cache", options.name}});
  }

  // ---- validity ----

  bool BoundariesKnown() const {
    return options.event_feed ||
           (options.epoch_params.has_value() && options.epoch_params->epoch_length > 0);
  }

  // Whether a body fetched at `fetched` answers a snapshot at `height` (heights only).
  bool UsableAt(const Route& route, int64_t fetched, int64_t height) const
      ABSL_SHARED_LOCKS_REQUIRED(mu) {
    if (fetched > height) return false;
    switch (route.options.freshness) {
      case Freshness::kBlock:
        return fetched == height;
      case Freshness::kPhase:
        return !BoundaryIn(phase_boundaries, fetched, height) &&
               !BoundaryIn(epoch_boundaries, fetched, height);
      case Freshness::kEpoch:
        return !BoundaryIn(epoch_boundaries, fetched, height);
      case Freshness::kNever:
        return true;
    }
    return false;
  }

  absl::Duration EffectiveTtl(const Route& route) const {
    absl::Duration ttl = route.options.ttl;
    if (!BoundariesKnown() && (route.options.freshness == Freshness::kPhase ||
                               route.options.freshness == Freshness::kEpoch)) {
      ttl = std::min(ttl, options.ttl_without_boundaries);
    }
    return ttl;
  }

  bool Fresh(const Route& route, const Value& value, absl::Time now) const {
    return now - value.fetched_at <= EffectiveTtl(route);
  }

  absl::Duration MaxStale(const Route& route) const {
    return route.options.max_stale.value_or(options.max_stale);
  }

  // The height the shared-tier key of a query at `height` is anchored at (see the header).
  int64_t SharedAnchor(const Route& route, int64_t height) const ABSL_SHARED_LOCKS_REQUIRED(mu) {
    switch (route.options.freshness) {
      case Freshness::kBlock:
        return height;
      case Freshness::kPhase:
        if (!BoundariesKnown()) return height;
        return std::max(LastBoundaryAtOrBelow(phase_boundaries, height),
                        LastBoundaryAtOrBelow(epoch_boundaries, height));
      case Freshness::kEpoch:
        if (!BoundariesKnown()) return height;
        return LastBoundaryAtOrBelow(epoch_boundaries, height);
      case Freshness::kNever:
        return 0;
    }
    return height;
  }

  // ---- heights and boundaries ----

  // Records an observed height: the first one is an implicit boundary of both kinds (entries
  // fetched before we knew anything, e.g. shared ones, are not trusted) until the feed or the
  // epoch schedule names the real ones; with epoch_params the boundaries up to `height` are
  // derived.
  void ObserveHeightLocked(int64_t height) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (height <= latest_height) return;
    int64_t previous = latest_height;
    latest_height = height;
    const bool derive = options.epoch_params.has_value() && options.epoch_params->epoch_length > 0;
    if (previous == 0) {
      if (!derive) {
        if (!explicit_phase_baseline) AddBoundary(&phase_boundaries, height);
        if (!explicit_epoch_baseline) AddBoundary(&epoch_boundaries, height);
        implicit_baseline = height;
      }
    }
    if (!derive) return;
    const chain::EpochParams& params = *options.epoch_params;
    int64_t lo = previous;
    if (previous == 0 || height - previous > kMaxDerivedScan) {
      // Scan back far enough to find the current phase's and epoch's start.
      lo = std::max<int64_t>(0, height - std::min(kMaxDerivedScan, 3 * params.epoch_length));
      if (lo > 0) {
        AddBoundary(&phase_boundaries, lo);
        AddBoundary(&epoch_boundaries, lo);
      }
    }
    chain::EpochSchedule before = chain::ScheduleAt(params, lo);
    for (int64_t h = lo + 1; h <= height; ++h) {
      chain::EpochSchedule at = chain::ScheduleAt(params, h);
      if (at.epoch_index != before.epoch_index) {
        AddBoundary(&epoch_boundaries, h);
        AddBoundary(&phase_boundaries, h);
      } else if (at.phase != before.phase) {
        AddBoundary(&phase_boundaries, h);
      }
      before = std::move(at);
    }
  }

  // With a feed (OnBlock()), heights and the boundaries before them come from the feed; the
  // height source, when set, is still polled, only to learn whether the node answers: a dead
  // node stops the feed without telling anyone, and its last answers must then turn stale.
  absl::StatusOr<int64_t> CurrentHeight() {
    {
      absl::ReaderMutexLock lock(&mu);
      if (!options.height_source) {
        if (latest_height > 0) return latest_height;
        return absl::UnavailableError(absl::StrCat(
            "chain cache ", options.name, ": no height yet (no OnBlock and no height_source)"));
      }
      // Someone is polling: use the last height rather than queueing behind a source that may
      // be hung (a paused node holds every request for its client timeout otherwise).
      if (latest_height > 0 &&
          (poll_in_progress || options.clock->Now() - last_poll < options.height_poll_interval)) {
        return latest_height;
      }
    }
    // One poller at a time; the others wait for its result instead of calling the source too.
    absl::MutexLock poll_lock(&poll_mu);
    {
      absl::MutexLock lock(&mu);
      if (latest_height > 0 && options.clock->Now() - last_poll < options.height_poll_interval) {
        return latest_height;
      }
      poll_in_progress = true;
    }
    absl::StatusOr<int64_t> polled = options.height_source();
    absl::MutexLock lock(&mu);
    poll_in_progress = false;
    // The interval counts from the end of a poll, so callers queued behind a slow poll reuse it.
    last_poll = options.clock->Now();
    if (!polled.ok()) {
      if (!height_source_failing) {
        GONKA_LOG_WARN("chain cache: height source failed; answers are stale until it recovers",
                       {"cache", options.name}, {"height", latest_height},
                       {"error", polled.status()});
      }
      height_source_failing = true;
      if (latest_height > 0) return latest_height;
      return absl::UnavailableError(absl::StrCat("chain cache ", options.name,
                                                 ": height source: ", polled.status().message()));
    }
    if (height_source_failing) {
      GONKA_LOG_INFO("chain cache: height source recovered", {"cache", options.name},
                     {"height", *polled});
    }
    height_source_failing = false;
    height_confirmed_at = last_poll;
    if (!fed_height) ObserveHeightLocked(*polled);
    if (latest_height > 0) return latest_height;
    return absl::UnavailableError(absl::StrCat("chain cache ", options.name,
                                               ": no height yet (the chain has no block yet, or "
                                               "the feed has not delivered one)"));
  }

  // ---- store ----

  static std::string FullKey(const Query& query) {
    return absl::StrCat(query.route, ":", query.key);
  }

  // The newest fresh entry that answers `height`, or nullptr.
  Entry* FindUsable(const Route& route, const std::string& full_key, int64_t height, absl::Time now)
      ABSL_SHARED_LOCKS_REQUIRED(mu) {
    auto versions = entries.find(full_key);
    if (versions == entries.end()) return nullptr;
    auto it = versions->second.upper_bound(height);
    if (it == versions->second.begin()) return nullptr;
    Entry* entry = std::prev(it)->second.get();
    if (!UsableAt(route, entry->value->height, height)) return nullptr;
    if (!Fresh(route, *entry->value, now)) return nullptr;
    return entry;
  }

  // The newest entry that may be served stale at `height`, or nullptr.
  Entry* FindStale(const Route& route, const std::string& full_key, int64_t height, absl::Time now)
      ABSL_SHARED_LOCKS_REQUIRED(mu) {
    auto versions = entries.find(full_key);
    if (versions == entries.end()) return nullptr;
    auto it = versions->second.upper_bound(height);
    while (it != versions->second.begin()) {
      --it;
      Entry* entry = it->second.get();
      if (now - entry->value->fetched_at > MaxStale(route)) return nullptr;  // older: older still
      // kPhase/kEpoch: never across a boundary (pre-boundary data is wrong, not old).
      Freshness freshness = route.options.freshness;
      if ((freshness == Freshness::kPhase || freshness == Freshness::kEpoch) &&
          !UsableAt(route, entry->value->height, height)) {
        return nullptr;
      }
      return entry;
    }
    return nullptr;
  }

  void TouchLocked(Entry* entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    lru.splice(lru.begin(), lru, entry->lru);
  }

  void RemoveLocked(Entry* entry, bool eviction) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (eviction) {
      Route* route = entry->route;
      route->evictions.fetch_add(1, std::memory_order_relaxed);
      route->eviction_counter->Increment();
    }
    bytes -= entry->cost;
    lru.erase(entry->lru);
    auto versions = entries.find(*entry->full_key);
    int64_t height = entry->value->height;
    versions->second.erase(height);  // destroys entry
    if (versions->second.empty()) entries.erase(versions);
    --entry_count;
  }

  void InsertLocked(Route& route, const std::string& full_key, std::shared_ptr<const Value> value)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    const size_t cost = value->body->capacity() + full_key.size() + kEntryOverheadBytes;
    if (cost > options.max_bytes) return;  // served, never stored
    const int64_t height = value->height;
    if (auto versions = entries.find(full_key); versions != entries.end()) {
      if (auto same = versions->second.find(height); same != versions->second.end()) {
        RemoveLocked(same->second.get(), false);
      }
    }
    // Evict before inserting, so the bound holds at every instant.
    while (bytes + cost > options.max_bytes && !lru.empty()) RemoveLocked(lru.back(), true);
    auto entry = std::make_unique<Entry>();
    entry->route = &route;
    entry->value = std::move(value);
    entry->cost = cost;
    lru.push_front(entry.get());
    entry->lru = lru.begin();
    auto node = entries.try_emplace(full_key).first;
    entry->full_key = &node->first;
    auto& versions = node->second;
    versions[height] = std::move(entry);
    bytes += cost;
    ++entry_count;
    // Keep the newest versions only (never empties the map, so `versions` stays valid).
    while (versions.size() > kMaxVersionsPerKey) {
      RemoveLocked(versions.begin()->second.get(), false);
    }
    bytes_gauge->Set(static_cast<double>(bytes));
    entries_gauge->Set(static_cast<double>(entry_count));
  }

  // ---- flights ----

  std::shared_ptr<Flight> FindFlight(const Route& route, const std::string& full_key,
                                     int64_t height) ABSL_SHARED_LOCKS_REQUIRED(mu) {
    auto by_height = flights.find(full_key);
    if (by_height == flights.end()) return nullptr;
    auto it = by_height->second.upper_bound(height);
    if (it == by_height->second.begin()) return nullptr;
    --it;
    if (!UsableAt(route, it->first, height)) return nullptr;
    return it->second;
  }

  // ---- fill (the flight leader) ----

  std::string SharedKey(const Route& route, const Query& query, int64_t anchor) const {
    return absl::StrCat(options.redis_prefix, ":", route.options.name, ":", query.key, ":", anchor);
  }

  // After a shared-tier error the tier is skipped for `redis_retry_after`, so an outage of Redis
  // costs one connect timeout per period, not one per miss (and one log line per period).
  bool SharedTierUp() const {
    return options.redis != nullptr &&
           absl::ToUnixMicros(options.clock->Now()) >= redis_skip_until_micros.load();
  }

  void CountRedisError(absl::string_view what, const absl::Status& status) {
    redis_errors.fetch_add(1, std::memory_order_relaxed);
    redis_errors_counter->Increment();
    redis_skip_until_micros.store(
        absl::ToUnixMicros(options.clock->Now() + options.redis_retry_after));
    GONKA_LOG_WARN("chain cache: shared tier failed; going upstream only", {"cache", options.name},
                   {"op", what}, {"error", status}, {"retry_after", options.redis_retry_after});
  }

  // Reads the shared tier. nullptr when absent, unusable or on error.
  std::shared_ptr<const Value> ReadShared(const Route& route, const std::string& key,
                                          int64_t height) {
    absl::StatusOr<redis::RedisReply> reply = options.redis->Command({"GET", key});
    if (!reply.ok()) {
      CountRedisError("GET", reply.status());
      return nullptr;
    }
    if (reply->is_nil()) return nullptr;
    auto value = std::make_shared<Value>();
    std::string body;
    if (!DecodeShared(reply->str, &value->height, &value->fetched_at, &body)) {
      CountRedisError("decode", absl::DataLossError(absl::StrCat("bad shared entry ", key)));
      return nullptr;
    }
    {
      absl::ReaderMutexLock lock(&mu);
      if (!UsableAt(route, value->height, height)) return nullptr;
    }
    if (!Fresh(route, *value, options.clock->Now())) return nullptr;
    value->etag = ETagOf(body);
    value->body = std::make_shared<const std::string>(std::move(body));
    return value;
  }

  void WriteShared(const Route& route, const std::string& key, const Value& value) {
    absl::Duration ttl = std::min(options.redis_ttl, EffectiveTtl(route));
    int64_t ttl_ms = std::max<int64_t>(1, absl::ToInt64Milliseconds(ttl));
    absl::StatusOr<redis::RedisReply> reply = options.redis->Command(
        {"SET", key, EncodeShared(value.height, value.fetched_at, *value.body), "NX", "PX",
         absl::StrCat(ttl_ms)});
    if (!reply.ok()) CountRedisError("SET", reply.status());
  }

  absl::StatusOr<std::shared_ptr<const Value>> Fill(Route& route, const Query& query,
                                                    int64_t height, int64_t anchor,
                                                    bool skip_shared, Source* source) {
    std::string shared_key;
    const bool shared_tier = !skip_shared && SharedTierUp();
    if (shared_tier) {
      shared_key = SharedKey(route, query, anchor);
      if (auto shared = ReadShared(route, shared_key, height)) {
        *source = Source::kShared;
        return shared;
      }
    }
    *source = Source::kUpstream;
    absl::Time start = absl::Now();
    absl::StatusOr<std::string> body = route.options.fetch(query, height);
    absl::Duration took = absl::Now() - start;
    route.upstream_calls.fetch_add(1, std::memory_order_relaxed);
    route.upstream_nanos.fetch_add(absl::ToInt64Nanoseconds(took), std::memory_order_relaxed);
    route.upstream_duration->Observe(absl::ToDoubleSeconds(took));
    if (!body.ok()) {
      route.upstream_errors.fetch_add(1, std::memory_order_relaxed);
      route.upstream_error->Increment();
      return absl::Status(
          body.status().code(),
          absl::StrCat("chain cache route ", route.options.name, " key \"", query.key, "\" height ",
                       height, ": ", body.status().message()));
    }
    route.upstream_ok->Increment();
    auto value = std::make_shared<Value>();
    value->height = height;
    value->fetched_at = options.clock->Now();
    value->etag = ETagOf(*body);
    std::string text = *std::move(body);
    text.shrink_to_fit();  // a writer's doubling growth leaves up to half its buffer unused
    value->body = std::make_shared<const std::string>(std::move(text));
    if (shared_tier && SharedTierUp()) WriteShared(route, shared_key, *value);
    return std::shared_ptr<const Value>(std::move(value));
  }

  absl::StatusOr<CachedResponse> Get(int64_t height, const Query& query) {
    const std::string full_key = FullKey(query);
    Route* route = nullptr;
    std::shared_ptr<Flight> flight;
    bool leader = false;
    bool skip_shared = false;
    int64_t anchor = 0;
    {
      absl::MutexLock lock(&mu);
      auto found = routes.find(query.route);
      if (found == routes.end()) {
        return absl::NotFoundError(
            absl::StrCat("chain cache ", options.name, ": no route \"", query.route, "\""));
      }
      route = found->second.get();
      absl::Time now = options.clock->Now();
      if (Entry* entry = FindUsable(*route, full_key, height, now)) {
        if (!height_source_failing) {
          TouchLocked(entry);
          route->hits.fetch_add(1, std::memory_order_relaxed);
          route->hit_counter->Increment();
          return CachedResponse(entry->value, route->options.freshness, Source::kLocal, false,
                                now - entry->value->fetched_at);
        }
        // The node does not say its height: the chain may have moved past this entry, so it
        // is an answer during an outage (stale-if-error). It was last known current when the
        // height was last confirmed, so it is as old as that (RFC 9111's Age counts from the
        // last validation); past max_stale it goes to the upstream below, whose failure is a 503.
        const absl::Duration age = now - std::max(entry->value->fetched_at, height_confirmed_at);
        if (age <= MaxStale(*route)) {
          TouchLocked(entry);
          route->stale.fetch_add(1, std::memory_order_relaxed);
          route->stale_counter->Increment();
          return CachedResponse(entry->value, route->options.freshness, Source::kLocal, true, age);
        }
      }
      flight = FindFlight(*route, full_key, height);
      if (flight == nullptr) {
        flight = std::make_shared<Flight>();
        flights[full_key][height] = flight;
        leader = true;
        anchor = SharedAnchor(*route, height);
        // Shared entries are no more current than ours while the node does not answer.
        skip_shared = height_source_failing;
      }
    }

    if (leader) {
      Source source = Source::kUpstream;
      absl::StatusOr<std::shared_ptr<const Value>> result =
          Fill(*route, query, height, anchor, skip_shared, &source);
      {
        absl::MutexLock lock(&mu);
        if (result.ok()) InsertLocked(*route, full_key, *result);
        auto by_height = flights.find(full_key);
        by_height->second.erase(height);
        if (by_height->second.empty()) flights.erase(by_height);
      }
      flight->result = result;
      flight->source = source;
      flight->done.Notify();
      if (result.ok()) {
        if (source == Source::kShared) {
          route->shared_hits.fetch_add(1, std::memory_order_relaxed);
          route->shared_counter->Increment();
        } else {
          route->misses.fetch_add(1, std::memory_order_relaxed);
          route->miss_counter->Increment();
        }
        return CachedResponse(*result, route->options.freshness, source, false,
                              options.clock->Now() - (*result)->fetched_at);
      }
      return StaleOrError(*route, full_key, height, result.status());
    }

    route->collapsed.fetch_add(1, std::memory_order_relaxed);
    route->collapsed_counter->Increment();
    if (!flight->done.WaitForNotificationWithTimeout(options.flight_timeout)) {
      return StaleOrError(
          *route, full_key, height,
          absl::DeadlineExceededError(absl::StrCat(
              "chain cache route ", route->options.name, " key \"", query.key, "\" height ", height,
              ": the fetch this request joined took longer than ",
              absl::FormatDuration(options.flight_timeout))));
    }
    if (flight->result.ok()) {
      const auto& value = *flight->result;
      return CachedResponse(value, route->options.freshness, flight->source, false,
                            options.clock->Now() - value->fetched_at);
    }
    return StaleOrError(*route, full_key, height, flight->result.status());
  }

  // The entry GetIfCached() answers with (touched and counted as a hit), or nullptr.
  Entry* HitLocked(const Query& query, absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (height_source_failing || latest_height == 0) return nullptr;
    // Begin() would poll now (unless another caller already is): leave that to a thread that
    // may block.
    if (options.height_source && !poll_in_progress &&
        now - last_poll >= options.height_poll_interval) {
      return nullptr;
    }
    auto found = routes.find(query.route);
    if (found == routes.end()) return nullptr;
    Route* route = found->second.get();
    // One key buffer per thread: a hit allocates nothing.
    thread_local std::string full_key;
    full_key.clear();
    absl::StrAppend(&full_key, query.route, ":", query.key);
    Entry* entry = FindUsable(*route, full_key, latest_height, now);
    if (entry == nullptr) return nullptr;
    TouchLocked(entry);
    route->hits.fetch_add(1, std::memory_order_relaxed);
    route->hit_counter->Increment();
    return entry;
  }

  std::optional<CachedResponse> GetIfCached(const Query& query) {
    const absl::Time now = options.clock->Now();
    absl::MutexLock lock(&mu);
    Entry* entry = HitLocked(query, now);
    if (entry == nullptr) return std::nullopt;
    return CachedResponse(entry->value, entry->route->options.freshness, Source::kLocal, false,
                          now - entry->value->fetched_at);
  }

  std::shared_ptr<const net::PreparedResponse> PreparedIfCached(const Query& query) {
    const absl::Time now = options.clock->Now();
    absl::MutexLock lock(&mu);
    Entry* entry = HitLocked(query, now);
    if (entry == nullptr) return nullptr;
    if (entry->prepared == nullptr) {
      // The headers HttpResponseFor() gives a fresh answer; the body is the entry's own.
      ResponseMeta meta;
      meta.freshness = entry->route->options.freshness;
      meta.height = entry->value->height;
      net::HttpResponse head = Respond(net::HttpRequest(), std::string(), entry->value->etag, meta,
                                       options.block_max_age);
      entry->prepared = std::make_shared<const net::PreparedResponse>(
          head.status, std::move(head.headers), entry->value->body);
      // Counted like the rest of the entry (plus its control block), so the bound still holds.
      const size_t extra = entry->prepared->overhead_bytes() + 2 * sizeof(void*) + 16;
      entry->cost += extra;
      bytes += extra;
      while (bytes > options.max_bytes && lru.back() != entry) RemoveLocked(lru.back(), true);
      bytes_gauge->Set(static_cast<double>(bytes));
      entries_gauge->Set(static_cast<double>(entry_count));
    }
    return entry->prepared;
  }

  absl::StatusOr<CachedResponse> StaleOrError(Route& route, const std::string& full_key,
                                              int64_t height, const absl::Status& error) {
    if (IsOutage(error.code())) {
      absl::MutexLock lock(&mu);
      absl::Time now = options.clock->Now();
      if (Entry* entry = FindStale(route, full_key, height, now)) {
        TouchLocked(entry);
        route.stale.fetch_add(1, std::memory_order_relaxed);
        route.stale_counter->Increment();
        return CachedResponse(entry->value, route.options.freshness, Source::kLocal, true,
                              now - entry->value->fetched_at);
      }
    }
    route.errors.fetch_add(1, std::memory_order_relaxed);
    route.error_counter->Increment();
    if (!IsOutage(error.code())) return error;
    return absl::UnavailableError(absl::StrCat(error.message(), " (no entry within max_stale ",
                                               absl::FormatDuration(MaxStale(route)), ")"));
  }

  const ChainCacheOptions options;

  prometheus::Family<prometheus::Counter>* requests_family = nullptr;
  prometheus::Family<prometheus::Counter>* evictions_family = nullptr;
  prometheus::Family<prometheus::Counter>* upstream_family = nullptr;
  prometheus::Family<prometheus::Histogram>* upstream_duration_family = nullptr;
  prometheus::Gauge* bytes_gauge = nullptr;
  prometheus::Gauge* entries_gauge = nullptr;
  prometheus::Counter* redis_errors_counter = nullptr;
  std::atomic<uint64_t> redis_errors{0};
  std::atomic<int64_t> redis_skip_until_micros{0};

  mutable absl::Mutex mu;
  // Serialises height-source polls (taken before mu, never while holding it).
  absl::Mutex poll_mu ABSL_ACQUIRED_BEFORE(mu);
  absl::Time last_poll ABSL_GUARDED_BY(mu) = absl::InfinitePast();
  bool poll_in_progress ABSL_GUARDED_BY(mu) = false;
  // The last height-source poll failed (no feed): hits are served as stale (see Get()).
  bool height_source_failing ABSL_GUARDED_BY(mu) = false;
  // When the current height was last confirmed (a successful poll or an OnBlock()).
  absl::Time height_confirmed_at ABSL_GUARDED_BY(mu) = absl::InfinitePast();
  absl::flat_hash_map<std::string, std::unique_ptr<Route>> routes ABSL_GUARDED_BY(mu);
  std::vector<Route*> route_order ABSL_GUARDED_BY(mu);
  // full key -> fetched height -> entry.
  // A node map: entries point at their key instead of holding a second copy of it.
  absl::node_hash_map<std::string, std::map<int64_t, std::unique_ptr<Entry>>> entries
      ABSL_GUARDED_BY(mu);
  std::list<Entry*> lru ABSL_GUARDED_BY(mu);  // most recently used first
  size_t bytes ABSL_GUARDED_BY(mu) = 0;
  size_t entry_count ABSL_GUARDED_BY(mu) = 0;
  // full key -> height -> fetch in progress.
  absl::flat_hash_map<std::string, std::map<int64_t, std::shared_ptr<Flight>>> flights
      ABSL_GUARDED_BY(mu);
  int64_t latest_height ABSL_GUARDED_BY(mu) = 0;
  bool fed_height ABSL_GUARDED_BY(mu) = false;  // OnBlock() seen: heights come from the feed
  std::set<int64_t> phase_boundaries ABSL_GUARDED_BY(mu);
  std::set<int64_t> epoch_boundaries ABSL_GUARDED_BY(mu);
  int64_t implicit_baseline ABSL_GUARDED_BY(mu) = 0;
  bool explicit_phase_baseline ABSL_GUARDED_BY(mu) = false;
  bool explicit_epoch_baseline ABSL_GUARDED_BY(mu) = false;
};

ChainCache::ChainCache(ChainCacheOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

ChainCache::~ChainCache() = default;

absl::Status ChainCache::AddRoute(RouteOptions options) {
  if (!ValidRouteName(options.name)) {
    return absl::InvalidArgumentError(
        absl::StrCat("chain cache route name \"", options.name, "\": want [A-Za-z0-9_.-]+"));
  }
  if (!options.fetch) {
    return absl::InvalidArgumentError(
        absl::StrCat("chain cache route ", options.name, ": no fetch function"));
  }
  auto route = std::make_unique<Impl::Route>();
  const std::string& cache_name = impl_->options.name;
  auto labels = [&](absl::string_view result) -> std::map<std::string, std::string> {
    return {{"cache", cache_name}, {"route", options.name}, {"result", std::string(result)}};
  };
  route->hit_counter = &impl_->requests_family->Add(labels("hit"));
  route->shared_counter = &impl_->requests_family->Add(labels("shared"));
  route->miss_counter = &impl_->requests_family->Add(labels("miss"));
  route->collapsed_counter = &impl_->requests_family->Add(labels("collapsed"));
  route->stale_counter = &impl_->requests_family->Add(labels("stale"));
  route->error_counter = &impl_->requests_family->Add(labels("error"));
  route->eviction_counter =
      &impl_->evictions_family->Add({{"cache", cache_name}, {"route", options.name}});
  route->upstream_ok = &impl_->upstream_family->Add(labels("ok"));
  route->upstream_error = &impl_->upstream_family->Add(labels("error"));
  route->upstream_duration = &impl_->upstream_duration_family->Add(
      {{"cache", cache_name}, {"route", options.name}}, metrics::LatencyBuckets());
  absl::MutexLock lock(&impl_->mu);
  if (impl_->routes.contains(options.name)) {
    return absl::AlreadyExistsError(
        absl::StrCat("chain cache route ", options.name, ": already added"));
  }
  std::string name = options.name;
  route->options = std::move(options);
  route->index = impl_->route_order.size();
  impl_->route_order.push_back(route.get());
  impl_->routes.emplace(std::move(name), std::move(route));
  return absl::OkStatus();
}

absl::StatusOr<Snapshot> ChainCache::Begin() {
  absl::StatusOr<int64_t> height = impl_->CurrentHeight();
  if (!height.ok()) return height.status();
  return Snapshot(this, *height);
}

std::optional<CachedResponse> ChainCache::GetIfCached(const Query& query) {
  return impl_->GetIfCached(query);
}

std::shared_ptr<const net::PreparedResponse> ChainCache::PreparedIfCached(const Query& query) {
  return impl_->PreparedIfCached(query);
}

absl::StatusOr<CachedResponse> ChainCache::Get(int64_t height, const Query& query) {
  return impl_->Get(height, query);
}

void ChainCache::OnBlock(int64_t height, absl::Time block_time) {
  absl::MutexLock lock(&impl_->mu);
  impl_->fed_height = true;
  impl_->height_confirmed_at = impl_->options.clock->Now();
  impl_->ObserveHeightLocked(height);
}

void ChainCache::OnPhaseChange(int64_t boundary_height, absl::string_view phase) {
  absl::MutexLock lock(&impl_->mu);
  AddBoundary(&impl_->phase_boundaries, boundary_height);
  if (!impl_->explicit_phase_baseline) {
    impl_->explicit_phase_baseline = true;
    // A real boundary at or below the implicit one replaces it (shared entries of this phase
    // become usable).
    if (impl_->implicit_baseline > 0 && boundary_height < impl_->implicit_baseline) {
      impl_->phase_boundaries.erase(impl_->implicit_baseline);
    }
  }
  GONKA_LOG_DEBUG("chain cache: phase boundary", {"cache", impl_->options.name},
                  {"height", boundary_height}, {"phase", phase});
}

void ChainCache::OnEpochChange(int64_t boundary_height, int64_t epoch_index) {
  absl::MutexLock lock(&impl_->mu);
  AddBoundary(&impl_->epoch_boundaries, boundary_height);
  if (!impl_->explicit_epoch_baseline) {
    impl_->explicit_epoch_baseline = true;
    if (impl_->implicit_baseline > 0 && boundary_height < impl_->implicit_baseline) {
      impl_->epoch_boundaries.erase(impl_->implicit_baseline);
    }
  }
  GONKA_LOG_DEBUG("chain cache: epoch boundary", {"cache", impl_->options.name},
                  {"height", boundary_height}, {"epoch", epoch_index});
}

void ChainCache::Clear() {
  absl::MutexLock lock(&impl_->mu);
  while (!impl_->lru.empty()) impl_->RemoveLocked(impl_->lru.back(), false);
  impl_->bytes_gauge->Set(0);
  impl_->entries_gauge->Set(0);
}

CacheStats ChainCache::Stats() const {
  CacheStats stats;
  absl::ReaderMutexLock lock(&impl_->mu);
  stats.bytes = impl_->bytes;
  stats.max_bytes = impl_->options.max_bytes;
  stats.entries = impl_->entry_count;
  stats.height = impl_->latest_height;
  stats.phase_start = LastBoundaryAtOrBelow(impl_->phase_boundaries, impl_->latest_height);
  stats.epoch_start = LastBoundaryAtOrBelow(impl_->epoch_boundaries, impl_->latest_height);
  stats.redis_errors = impl_->redis_errors.load(std::memory_order_relaxed);
  for (const Impl::Route* route : impl_->route_order) {
    RouteStats r;
    r.route = route->options.name;
    r.freshness = route->options.freshness;
    r.hits = route->hits.load(std::memory_order_relaxed);
    r.shared_hits = route->shared_hits.load(std::memory_order_relaxed);
    r.misses = route->misses.load(std::memory_order_relaxed);
    r.collapsed = route->collapsed.load(std::memory_order_relaxed);
    r.stale = route->stale.load(std::memory_order_relaxed);
    r.errors = route->errors.load(std::memory_order_relaxed);
    r.evictions = route->evictions.load(std::memory_order_relaxed);
    r.upstream_calls = route->upstream_calls.load(std::memory_order_relaxed);
    r.upstream_errors = route->upstream_errors.load(std::memory_order_relaxed);
    r.upstream_time = absl::Nanoseconds(route->upstream_nanos.load(std::memory_order_relaxed));
    stats.routes.push_back(std::move(r));
  }
  return stats;
}

// ---- HTTP helpers ----

std::string ETagOf(absl::string_view body) {
  crypto::Sha256Digest digest = crypto::Sha256(body);
  return absl::StrCat(
      "\"", crypto::HexEncode(absl::string_view(reinterpret_cast<const char*>(digest.data()), 16)),
      "\"");
}

bool IfNoneMatchMatches(absl::string_view if_none_match, absl::string_view etag) {
  auto opaque = [](absl::string_view tag) {
    tag = absl::StripAsciiWhitespace(tag);
    absl::ConsumePrefix(&tag, "W/");
    return tag;
  };
  absl::string_view want = opaque(etag);
  for (absl::string_view candidate : absl::StrSplit(if_none_match, ',')) {
    candidate = absl::StripAsciiWhitespace(candidate);
    if (candidate == "*") return true;
    if (!candidate.empty() && opaque(candidate) == want) return true;
  }
  return false;
}

std::string CacheControl(Freshness freshness, bool stale, absl::Duration block_max_age) {
  if (stale) return "no-cache";
  switch (freshness) {
    case Freshness::kNever:
      return "public, max-age=31536000, immutable";
    case Freshness::kBlock:
      return absl::StrCat("public, max-age=",
                          std::max<int64_t>(0, absl::ToInt64Seconds(block_max_age)));
    case Freshness::kPhase:
    case Freshness::kEpoch:
      return "no-cache";
  }
  return "no-cache";
}

namespace {

net::HttpResponse Respond(const net::HttpRequest& request, std::string body,
                          const std::string& etag, const ResponseMeta& meta,
                          absl::Duration block_max_age) {
  net::HttpResponse response;
  if (request.headers.Has("If-None-Match") &&
      IfNoneMatchMatches(request.headers.Get("If-None-Match"), etag)) {
    response.status = 304;
  } else {
    response = net::HttpResponse::Json(200, std::move(body));
  }
  response.headers.Set("ETag", etag);
  response.headers.Set("Cache-Control", CacheControl(meta.freshness, meta.stale, block_max_age));
  response.headers.Set("X-Cosmos-Block-Height", absl::StrCat(meta.height));
  if (meta.stale) {
    response.headers.Set("Age", absl::StrCat(std::max<int64_t>(0, absl::ToInt64Seconds(meta.age))));
    response.headers.Set("Warning", "110 - \"Response is Stale\"");
  }
  return response;
}

}  // namespace

net::HttpResponse HttpResponseFor(const net::HttpRequest& request, std::string body,
                                  const ResponseMeta& meta, absl::Duration block_max_age) {
  std::string etag = ETagOf(body);
  return Respond(request, std::move(body), etag, meta, block_max_age);
}

net::HttpResponse HttpResponseFor(const net::HttpRequest& request, const CachedResponse& answer,
                                  absl::Duration block_max_age) {
  ResponseMeta meta;
  meta.freshness = answer.freshness();
  meta.height = answer.height();
  meta.stale = answer.stale();
  meta.age = answer.age();
  return Respond(request, std::string(answer.body()), answer.etag(), meta, block_max_age);
}

}  // namespace cache
}  // namespace gonka
