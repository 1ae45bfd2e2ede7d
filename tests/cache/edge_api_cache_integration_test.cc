// The chain cache through real edge-api processes (docs/cache.md, "Tests"): two replicas sharing
// one Redis tier, and stale-if-error when the chain stops.
//
// Setup: redis-server, nats-server, a devchain with gRPC on, a data dir (so a restart continues
// the same chain) and Gonka's 5 s block interval, and two edge-api replicas (A, B) with
// --cache-redis on that Redis. The route mix is the 7 read routes devchain answers 200 from
// height 1: /v1/models, /v1/pricing, /v1/governance/models[-legacy], /v1/participants,
// /v1/epochs/latest and /v1/bridge/addresses?chain=ethereum.
//
//   - A replica started fresh after A warmed the tier serves its first 1,000 requests of the mix
//     with <= 1 % upstream calls (each replica's /v1/cache/stats `upstream_calls`), and with
//     A's bytes (the same ETag at the same height).
//   - The chain killed: cached routes answer 200 with `Age` and `Warning: 110 - "Response is
//     Stale"`, then 503 once older than --cache-max-stale; the chain restarted: fresh answers
//     (no Warning) at heights not below the ones served before.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gonka/crypto/bech32.h"
#include "gonka/net/http_client.h"
#include "gonka/testing/process.h"
#include "gonka/testing/route_client.h"
#include "gonka/testing/servers.h"
#include "gtest/gtest.h"
#include "simdjson.h"

namespace gonka {
namespace {

constexpr absl::Duration kWait = absl::Seconds(60);
constexpr absl::Duration kMaxStale = absl::Seconds(4);
constexpr int kColdRequests = 1000;

const std::vector<std::string>& RouteMix() {
  static const auto* mix = new std::vector<std::string>{"/v1/models",
                                                        "/v1/pricing",
                                                        "/v1/governance/models",
                                                        "/v1/governance/models-legacy",
                                                        "/v1/participants",
                                                        "/v1/epochs/latest",
                                                        "/v1/bridge/addresses?chain=ethereum"};
  return *mix;
}

std::string Address(char fill) { return *crypto::EncodeAddress("gonka", std::string(20, fill)); }

std::string Genesis() {
  return absl::StrCat(R"({
    "block_interval": "5s",
    "epoch": {"epoch_length": "20", "poc_stage_duration": "4", "poc_exchange_duration": "1",
              "poc_validation_delay": "1", "poc_validation_duration": "3",
              "set_new_validators_delay": "2"},
    "accounts": [{"address": ")",
                      Address(1), R"(", "balances": {"ngonka": "1000"}}],
    "inference": {
      "unit_of_compute_price": "7",
      "models": [{"id": "Qwen/Qwen3-8B", "units_of_compute_per_token": "100",
                  "context_window": "32768", "hf_repo": "Qwen/Qwen3-8B"}],
      "participants": [{"address": ")",
                      Address(1), R"(", "inference_url": "http://p1", "weight": 10}],
      "bridge_addresses": [{"id": "1", "chainId": "ethereum", "address": "0xabc"}]
    }})");
}

using Answer = testing::RouteAnswer;
using testing::GetRoute;

class Env {
 public:
  Env() : dir_("edge-api-cache") {}

  absl::Status Start() {
    std::string genesis = dir_.Join("genesis.json");
    std::ofstream(genesis) << Genesis();
    grpc_port_ = testing::FreePort();
    testing::DaemonProcess::Options d;
    d.binary = "daemons/devchain/devchain";
    d.args = {"--bind=127.0.0.1",    "--port={{PORT}}",
              "--drain-announce=0s", "--genesis=" + genesis,
              "--data-dir={{DIR}}",  absl::StrCat("--grpc-address=127.0.0.1:", grpc_port_)};
    devchain_ = std::make_unique<testing::DaemonProcess>(d);
    if (absl::Status s = devchain_->Start(); !s.ok()) return s;
    redis_ = std::make_unique<testing::RedisServer>();
    if (absl::Status s = redis_->Start(); !s.ok()) return s;
    nats_ = std::make_unique<testing::NatsServer>(testing::NatsServer::Options{});
    if (absl::Status s = nats_->Start(); !s.ok()) return s;
    a_ = Replica("a");
    return a_->Start();
  }

  // A replica with the shared tier on (not started).
  std::unique_ptr<testing::DaemonProcess> Replica(const std::string& identity) {
    testing::DaemonProcess::Options e;
    e.binary = "daemons/edge-api/edge-api";
    e.name = absl::StrCat("edge-api-", identity);
    e.args = {"--bind=127.0.0.1",
              "--port={{PORT}}",
              "--chain-id=gonka-devnet",  // devchain's: the hub emits, the cache follows the stream
              absl::StrCat("--chain-rpc-url=", devchain_->url()),
              absl::StrCat("--chain-grpc-address=127.0.0.1:", grpc_port_),
              absl::StrCat("--nats-url=", nats_->url()),
              absl::StrCat("--redis-url=", redis_->url()),
              "--cache-redis",
              absl::StrCat("--cache-max-stale=", absl::FormatDuration(kMaxStale)),
              "--cache-height-poll=50ms",
              "--identity=" + identity,
              "--start-height=1",
              "--drain-announce=0s",
              "--log-level=warn"};
    return std::make_unique<testing::DaemonProcess>(e);
  }

  testing::DaemonProcess& devchain() { return *devchain_; }
  testing::DaemonProcess& a() { return *a_; }
  std::unique_ptr<testing::DaemonProcess>& b() { return b_; }

  std::string Logs() const {
    std::string logs = absl::StrCat("devchain:\n", devchain_->LogTail(), "\nedge-api a:\n",
                                    a_ ? a_->LogTail() : "");
    if (b_) absl::StrAppend(&logs, "\nedge-api b:\n", b_->LogTail());
    return logs;
  }

 private:
  testing::TempDir dir_;
  int grpc_port_ = 0;
  std::unique_ptr<testing::DaemonProcess> devchain_;
  std::unique_ptr<testing::RedisServer> redis_;
  std::unique_ptr<testing::NatsServer> nats_;
  std::unique_ptr<testing::DaemonProcess> a_;
  std::unique_ptr<testing::DaemonProcess> b_;
};

// Sum of `upstream_calls` (and of `shared_hits`) over every route of a replica's stats.
struct UpstreamCounts {
  uint64_t upstream_calls = 0;
  uint64_t shared_hits = 0;
};

absl::StatusOr<UpstreamCounts> Counts(net::HttpClient& client, const std::string& base) {
  absl::StatusOr<Answer> stats = GetRoute(client, base + "/v1/cache/stats");
  if (!stats.ok()) return stats.status();
  if (stats->status != 200) {
    return absl::InternalError(absl::StrCat("/v1/cache/stats ", stats->status, ": ", stats->body));
  }
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(stats->body).get(doc) != simdjson::SUCCESS) {
    return absl::DataLossError(absl::StrCat("/v1/cache/stats: not JSON: ", stats->body));
  }
  UpstreamCounts counts;
  simdjson::dom::array routes;
  if (doc["routes"].get_array().get(routes) != simdjson::SUCCESS) {
    return absl::DataLossError("/v1/cache/stats: no routes");
  }
  for (simdjson::dom::element route : routes) {
    uint64_t calls = 0, shared = 0;
    if (route["upstream_calls"].get_uint64().get(calls) != simdjson::SUCCESS ||
        route["shared_hits"].get_uint64().get(shared) != simdjson::SUCCESS) {
      return absl::DataLossError(absl::StrCat("/v1/cache/stats: bad route ", stats->body));
    }
    counts.upstream_calls += calls;
    counts.shared_hits += shared;
  }
  return counts;
}

// The height A answers /v1/epochs/latest at.
int64_t HeightOf(net::HttpClient& client, testing::DaemonProcess& replica) {
  absl::StatusOr<Answer> a = GetRoute(client, replica.url() + "/v1/epochs/latest");
  return a.ok() && a->status == 200 ? a->height : 0;
}

class EdgeApiCacheTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    env_ = new Env();
    absl::Status s = env_->Start();
    ASSERT_TRUE(s.ok()) << s << "\n" << env_->Logs();
  }
  static void TearDownTestSuite() {
    delete env_;
    env_ = nullptr;
  }
  static Env* env_;
};
Env* EdgeApiCacheTest::env_ = nullptr;

TEST_F(EdgeApiCacheTest, FreshReplicaServesItsFirstThousandRequestsFromTheSharedTier) {
  net::HttpClient client;
  ASSERT_TRUE(
      testing::WaitFor([&] { return HeightOf(client, env_->a()) >= 2; }, absl::Now() + kWait).ok())
      << env_->Logs();
  env_->b() = env_->Replica("b");
  ASSERT_TRUE(env_->b()->Start().ok()) << env_->Logs();
  absl::StatusOr<UpstreamCounts> b_before = Counts(client, env_->b()->url());
  ASSERT_TRUE(b_before.ok()) << b_before.status();
  EXPECT_EQ(b_before->upstream_calls, 0u);

  // Right after a new block (5 s apart), A warms the mix at that height; B's 1,000 requests
  // follow at once, so they normally all fall in the same block. A block arriving meanwhile
  // costs at most the 5 block-class routes once (0.5 %), still within the 1 % budget.
  const int64_t start_height = HeightOf(client, env_->a());
  ASSERT_TRUE(testing::WaitFor([&] { return HeightOf(client, env_->a()) > start_height; },
                               absl::Now() + kWait)
                  .ok());
  std::vector<Answer> warm;
  for (const std::string& path : RouteMix()) {
    absl::StatusOr<Answer> a = GetRoute(client, env_->a().url() + path);
    ASSERT_TRUE(a.ok()) << a.status();
    ASSERT_EQ(a->status, 200) << path << ": " << a->body;
    warm.push_back(*a);
  }
  absl::StatusOr<UpstreamCounts> a_counts = Counts(client, env_->a().url());
  ASSERT_TRUE(a_counts.ok()) << a_counts.status();

  constexpr int kThreads = 4;
  std::atomic<int> not_ok{0}, other_bytes{0};
  absl::Mutex mu;
  std::vector<int64_t> heights;
  absl::Time begin = absl::Now();
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      net::HttpClient own;
      for (int i = t; i < kColdRequests; i += kThreads) {
        const size_t route = static_cast<size_t>(i) % RouteMix().size();
        absl::StatusOr<Answer> b = GetRoute(own, env_->b()->url() + RouteMix()[route]);
        if (!b.ok() || b->status != 200) {
          not_ok.fetch_add(1);
          continue;
        }
        if (b->height == warm[route].height && b->etag != warm[route].etag) other_bytes++;
        absl::MutexLock lock(&mu);
        heights.push_back(b->height);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  absl::Duration took = absl::Now() - begin;
  absl::StatusOr<UpstreamCounts> b_after = Counts(client, env_->b()->url());
  ASSERT_TRUE(b_after.ok()) << b_after.status();
  const uint64_t b_upstream = b_after->upstream_calls - b_before->upstream_calls;
  const int64_t max_height = *std::max_element(heights.begin(), heights.end());
  std::cout << "fresh replica: " << kColdRequests << " requests in " << absl::FormatDuration(took)
            << ", upstream calls " << b_upstream << " ("
            << 100.0 * static_cast<double>(b_upstream) / kColdRequests << " %, limit 1 %), "
            << "shared-tier hits " << b_after->shared_hits << "; heights " << warm[0].height << ".."
            << max_height << "; replica A's upstream calls while warming "
            << a_counts->upstream_calls << std::endl;
  EXPECT_EQ(not_ok.load(), 0) << env_->Logs();
  EXPECT_EQ(other_bytes.load(), 0);
  EXPECT_LE(b_upstream * 100, static_cast<uint64_t>(kColdRequests));
  EXPECT_GE(b_after->shared_hits, RouteMix().size());
}

TEST_F(EdgeApiCacheTest, StaleWhileTheChainIsDownThen503ThenFreshAfterRestart) {
  net::HttpClient client;
  testing::DaemonProcess& a = env_->a();
  ASSERT_TRUE(testing::WaitFor([&] { return HeightOf(client, a) >= 2; }, absl::Now() + kWait).ok())
      << env_->Logs();
  // Warm right after a block so every entry is young when the chain goes away.
  const int64_t start_height = HeightOf(client, a);
  ASSERT_TRUE(
      testing::WaitFor([&] { return HeightOf(client, a) > start_height; }, absl::Now() + kWait)
          .ok());
  int64_t served_height = 0;
  std::vector<int64_t> heights;  // per route: X-Cosmos-Block-Height (an epoch entry's is older)
  for (const std::string& path : RouteMix()) {
    absl::StatusOr<Answer> r = GetRoute(client, a.url() + path);
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(r->status, 200) << path << ": " << r->body;
    EXPECT_TRUE(r->warning.empty());
    served_height = std::max(served_height, r->height);
    heights.push_back(r->height);
  }

  ASSERT_TRUE(env_->devchain().Kill().ok());
  const absl::Time killed = absl::Now();
  // edge-api notices at its next height poll (--cache-height-poll=50ms).
  std::string last_seen;
  ASSERT_TRUE(testing::WaitFor(
                  [&] {
                    absl::StatusOr<Answer> r = GetRoute(client, a.url() + RouteMix()[0]);
                    last_seen = r.ok() ? absl::StrCat(r->status, " height ", r->height, " age \"",
                                                      r->age, "\" ", r->body)
                                       : r.status().ToString();
                    return r.ok() && !r->warning.empty();
                  },
                  absl::Now() + absl::Seconds(3))
                  .ok())
      << "last answer: " << last_seen << "\n"
      << GetRoute(client, a.url() + "/v1/cache/stats")->body << "\n"
      << env_->Logs();
  for (size_t i = 0; i < RouteMix().size(); ++i) {
    const std::string& path = RouteMix()[i];
    absl::StatusOr<Answer> r = GetRoute(client, a.url() + path);
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(r->status, 200) << path << ": " << r->body << "\n" << env_->Logs();
    EXPECT_EQ(r->warning, "110 - \"Response is Stale\"") << path;
    int64_t age = -1;
    EXPECT_TRUE(absl::SimpleAtoi(r->age, &age)) << path << " Age \"" << r->age << "\"";
    EXPECT_GE(age, 0);
    EXPECT_LE(age, absl::ToInt64Seconds(kMaxStale)) << path;
    EXPECT_EQ(r->height, heights[i]) << path;
  }

  // Past --cache-max-stale every route is a 503.
  int last_status = 0;
  for (const std::string& path : RouteMix()) {
    ASSERT_TRUE(testing::WaitFor(
                    [&] {
                      absl::StatusOr<Answer> r = GetRoute(client, a.url() + path);
                      last_status = r.ok() ? r->status : -1;
                      return last_status == 503;
                    },
                    absl::Now() + kWait)
                    .ok())
        << path << " last status " << last_status;
  }
  const absl::Duration until_503 = absl::Now() - killed;
  EXPECT_LE(until_503, kMaxStale + absl::Seconds(10));

  ASSERT_TRUE(env_->devchain().Restart().ok()) << env_->Logs();
  for (size_t i = 0; i < RouteMix().size(); ++i) {
    const std::string& path = RouteMix()[i];
    Answer last;
    ASSERT_TRUE(testing::WaitFor(
                    [&] {
                      absl::StatusOr<Answer> r = GetRoute(client, a.url() + path);
                      if (!r.ok()) return false;
                      last = *r;
                      return r->status == 200 && r->warning.empty();
                    },
                    absl::Now() + kWait)
                    .ok())
        << path << " last " << last.status << " " << last.body << "\n"
        << env_->Logs();
    EXPECT_TRUE(last.age.empty()) << path;
    EXPECT_GE(last.height, heights[i]) << path;
  }
  std::cout << "chain killed at height " << served_height << ": stale answers, then 503 after "
            << absl::FormatDuration(until_503) << " (max stale " << absl::FormatDuration(kMaxStale)
            << "); fresh again after the restart" << std::endl;
}

}  // namespace
}  // namespace gonka
