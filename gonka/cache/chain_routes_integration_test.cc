// Gonka's public read routes on a real edge-api process (ChainRoutes on a ChainCache) against a
// real devchain (gRPC on, short epochs) and nats-server (--coordination=nats): each route's JSON
// in the documented shape (docs/cache.md, "Gonka's public routes"), error codes, cache hits
// and 304s, and a boundary run where clients read while phases and epochs turn over every few
// blocks and every answer must agree with the height it claims in X-Cosmos-Block-Height.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gonka/chain/epoch.h"
#include "gonka/crypto/bech32.h"
#include "gonka/net/http_client.h"
#include "gonka/testing/node_env.h"
#include "gonka/testing/process.h"
#include "gonka/testing/route_client.h"
#include "gonka/testing/servers.h"
#include "gtest/gtest.h"
#include "simdjson.h"

namespace gonka {
namespace cache {
namespace {

constexpr absl::Duration kWait = absl::Seconds(60);
constexpr int64_t kEpochLength = 20;

std::string Address(char fill) { return *crypto::EncodeAddress("gonka", std::string(20, fill)); }

// Epoch e >= 1 starts PoC at 20e and is effective from 20e + 10 (docs/devchain.md); phases
// change at offsets 0, 3, 5, 7 and 8 of each epoch.
chain::EpochParams Params() {
  return {.epoch_length = kEpochLength,
          .poc_stage_duration = 4,
          .poc_exchange_duration = 1,
          .poc_validation_delay = 1,
          .poc_validation_duration = 3,
          .set_new_validators_delay = 2};
}

std::string Genesis() {
  return absl::StrCat(R"({
    "block_interval": "100ms",
    "epoch": {"epoch_length": "20", "poc_stage_duration": "4", "poc_exchange_duration": "1",
              "poc_validation_delay": "1", "poc_validation_duration": "3",
              "set_new_validators_delay": "2"},
    "accounts": [{"address": ")",
                      Address(1), R"(", "balances": {"ngonka": "1000"}},
                 {"address": ")",
                      Address(2), R"(", "balances": {"ngonka": "2000"}}],
    "inference": {
      "unit_of_compute_price": "7",
      "models": [{"id": "Qwen/Qwen3-8B", "units_of_compute_per_token": "100",
                  "context_window": "32768", "hf_repo": "Qwen/Qwen3-8B"}],
      "participants": [{"address": ")",
                      Address(1), R"(", "inference_url": "http://p1", "weight": 10},
                       {"address": ")",
                      Address(2), R"(", "inference_url": "http://p2", "weight": 20}],
      "bridge_addresses": [{"id": "1", "chainId": "ethereum", "address": "0xabc"}]
    }})");
}

// The effective epoch at `height` (devchain: epoch e is effective from 20e + 10).
int64_t EffectiveEpoch(int64_t height) { return chain::ScheduleAt(Params(), height).epoch_index; }

// devchain (gRPC on) + nats-server + one edge-api with the cache, started once per suite.
testing::ChainHubOptions HubOptions() {
  return {.edge_api_args = {"--start-height=1", "--cache-max-bytes=16777216",
                            "--cache-height-poll=50ms"},
          .chain_id = "routes-test",
          .genesis_json = Genesis(),
          .grpc = true};
}

using Env = testing::ChainHub;
using Answer = testing::RouteAnswer;
using testing::GetRoute;
using testing::IntField;
using testing::StringField;

// Waits until edge-api answers /v1/epochs/latest at or above `height`.
absl::Status WaitForHeight(Env& env, net::HttpClient& client, int64_t height) {
  return testing::WaitFor(
      [&] {
        absl::StatusOr<Answer> a = GetRoute(client, env.url("/v1/epochs/latest"));
        return a.ok() && a->status == 200 && a->height >= height;
      },
      kWait);
}

class ChainRoutesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    env_ = new Env(HubOptions());
    absl::Status s = env_->Start();
    ASSERT_TRUE(s.ok()) << s << "\n" << env_->Logs();
  }
  static void TearDownTestSuite() {
    delete env_;
    env_ = nullptr;
  }
  static Env* env_;
};
Env* ChainRoutesTest::env_ = nullptr;

TEST_F(ChainRoutesTest, EveryRouteAnswersInGonkasShape) {
  net::HttpClient client;
  // Epoch 1 effective (height >= 30) and its PoC batches answerable (height > 20).
  ASSERT_TRUE(WaitForHeight(*env_, client, 35).ok()) << env_->Logs();
  simdjson::dom::parser parser;

  {  // /v1/models
    absl::StatusOr<Answer> a = GetRoute(client, env_->url("/v1/models"));
    ASSERT_TRUE(a.ok()) << a.status();
    ASSERT_EQ(a->status, 200) << a->body;
    EXPECT_GT(a->height, 0);
    EXPECT_EQ(a->cache_control, "no-cache");  // kEpoch
    EXPECT_FALSE(a->etag.empty());
    simdjson::dom::element doc = testing::ParseJson(parser, a->body);
    EXPECT_EQ(StringField(doc, "object"), "list");
    simdjson::dom::array data;
    ASSERT_EQ(doc["data"].get_array().get(data), simdjson::SUCCESS) << a->body;
    ASSERT_EQ(data.size(), 1u) << a->body;
    simdjson::dom::element m = data.at(0);
    EXPECT_EQ(StringField(m, "object"), "model");
    EXPECT_EQ(StringField(m, "id"), "Qwen/Qwen3-8B");
    EXPECT_EQ(StringField(m, "name"), "Qwen/Qwen3-8B");
    EXPECT_GT(IntField(m, "created"), 1'600'000'000);
    EXPECT_EQ(simdjson::to_string(m["input_modalities"]), "[\"text\"]");
    EXPECT_EQ(simdjson::to_string(m["output_modalities"]), "[\"text\"]");
    EXPECT_EQ(IntField(m, "context_length"), 32768);
    EXPECT_EQ(IntField(m, "max_output_length"), 32768);
    EXPECT_EQ(StringField(m, "hugging_face_id"), "Qwen/Qwen3-8B");
  }
  {  // /v1/pricing
    absl::StatusOr<Answer> a = GetRoute(client, env_->url("/v1/pricing"));
    ASSERT_TRUE(a.ok() && a->status == 200) << (a.ok() ? a->body : a.status().ToString());
    simdjson::dom::element doc = testing::ParseJson(parser, a->body);
    EXPECT_EQ(IntField(doc, "unit_of_compute_price"), 7);
    bool dynamic = true;
    EXPECT_EQ(doc["dynamic_pricing_enabled"].get_bool().get(dynamic), simdjson::SUCCESS);
    EXPECT_FALSE(dynamic);
    simdjson::dom::element m = doc["models"].at(0);
    EXPECT_EQ(StringField(m, "id"), "Qwen/Qwen3-8B");
    EXPECT_EQ(IntField(m, "units_of_compute_per_token"), 100);
    EXPECT_EQ(IntField(m, "price_per_token"), 700);
  }
  {  // /v1/governance/models and -legacy: Model protos with .proto names (uint64 as strings)
    for (const char* path : {"/v1/governance/models", "/v1/governance/models-legacy"}) {
      absl::StatusOr<Answer> a = GetRoute(client, env_->url(path));
      ASSERT_TRUE(a.ok() && a->status == 200) << path;
      EXPECT_EQ(a->cache_control, "public, max-age=1") << path;  // kBlock
      simdjson::dom::element doc = testing::ParseJson(parser, a->body);
      simdjson::dom::element m =
          doc[std::string(path) == "/v1/governance/models" ? "models" : "model"].at(0);
      EXPECT_EQ(StringField(m, "id"), "Qwen/Qwen3-8B") << a->body;
      EXPECT_EQ(StringField(m, "units_of_compute_per_token"), "100") << a->body;
      EXPECT_EQ(StringField(m, "hf_repo"), "Qwen/Qwen3-8B") << a->body;
      EXPECT_EQ(StringField(m, "context_window"), "32768") << a->body;
    }
  }
  {  // /v1/participants: every page at the claimed height
    absl::StatusOr<Answer> a = GetRoute(client, env_->url("/v1/participants"));
    ASSERT_TRUE(a.ok() && a->status == 200);
    simdjson::dom::element doc = testing::ParseJson(parser, a->body);
    EXPECT_EQ(IntField(doc, "block_height"), a->height);
    simdjson::dom::array list;
    ASSERT_EQ(doc["participants"].get_array().get(list), simdjson::SUCCESS);
    ASSERT_EQ(list.size(), 2u) << a->body;
    for (simdjson::dom::element p : list) {
      std::string id = StringField(p, "id");
      const bool first = id == Address(1);
      EXPECT_TRUE(first || id == Address(2)) << id;
      EXPECT_EQ(StringField(p, "url"), first ? "http://p1" : "http://p2");
      EXPECT_EQ(IntField(p, "balance"), first ? 1000 : 2000);
      EXPECT_EQ(IntField(p, "voting_power"), (first ? 10 : 20) + EffectiveEpoch(a->height));
      IntField(p, "coins_owed");
      IntField(p, "refunds_owed");
      IntField(p, "reputation");
    }
  }
  {  // /v1/participants/{address}: an account without a public key is 404; a bad address 400
    absl::StatusOr<Answer> a = GetRoute(client, env_->url("/v1/participants/" + Address(1)));
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(a->status, 404) << a->body;
    testing::ParseJson(parser, a->body);
    a = GetRoute(client, env_->url("/v1/participants/notanaddress"));
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(a->status, 400) << a->body;
  }
  {  // /v1/epochs/latest
    absl::StatusOr<Answer> a = GetRoute(client, env_->url("/v1/epochs/latest"));
    ASSERT_TRUE(a.ok() && a->status == 200);
    simdjson::dom::element doc = testing::ParseJson(parser, a->body);
    EXPECT_EQ(IntField(doc, "block_height"), a->height);
    EXPECT_EQ(IntField(doc["latest_epoch"], "index"), a->height / kEpochLength);
    EXPECT_EQ(IntField(doc["latest_epoch"], "poc_start_block_height"),
              a->height / kEpochLength * kEpochLength);
    EXPECT_EQ(StringField(doc, "phase"), chain::ScheduleAt(Params(), a->height).phase);
    EXPECT_EQ(IntField(doc["epoch_stages"], "poc_start"), a->height / kEpochLength * kEpochLength);
    EXPECT_EQ(IntField(doc["epoch_stages"], "set_new_validators"),
              a->height / kEpochLength * kEpochLength + 10);
    EXPECT_EQ(IntField(doc["next_epoch_stages"], "poc_start"),
              (a->height / kEpochLength + 1) * kEpochLength);
    EXPECT_EQ(StringField(doc["epoch_params"]["epoch_params"], "epoch_length"), "20");
    bool active = true;
    EXPECT_EQ(doc["is_confirmation_poc_active"].get_bool().get(active), simdjson::SUCCESS);
    EXPECT_TRUE(doc["active_confirmation_poc_event"].is_null());
    // Only "latest" (the per-epoch participants: chain_routes_state_integration_test).
    a = GetRoute(client, env_->url("/v1/epochs/1"));
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(a->status, 400) << a->body;
  }
  {  // /v1/poc-batches/{height}: raw response; 404 for a height without batches; 400 not a number
    absl::StatusOr<Answer> a = GetRoute(client, env_->url("/v1/poc-batches/20"));
    ASSERT_TRUE(a.ok());
    ASSERT_EQ(a->status, 200) << a->body;
    EXPECT_EQ(a->cache_control, "no-cache");  // kPhase
    simdjson::dom::element doc = testing::ParseJson(parser, a->body);
    simdjson::dom::array batches;
    ASSERT_EQ(doc["poc_batch"].get_array().get(batches), simdjson::SUCCESS) << a->body;
    EXPECT_EQ(batches.size(), 2u);
    for (simdjson::dom::element b : batches) {
      std::string who = StringField(b, "participant");
      EXPECT_TRUE(who == Address(1) || who == Address(2)) << who;
      simdjson::dom::array inner;
      EXPECT_EQ(b["poc_batch"].get_array().get(inner), simdjson::SUCCESS) << a->body;
    }
    a = GetRoute(client, env_->url("/v1/poc-batches/21"));
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(a->status, 404) << a->body;
    a = GetRoute(client, env_->url("/v1/poc-batches/abc"));
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(a->status, 400) << a->body;
  }
  {  // /v1/bridge/addresses?chain=X
    absl::StatusOr<Answer> a = GetRoute(client, env_->url("/v1/bridge/addresses?chain=ethereum"));
    ASSERT_TRUE(a.ok() && a->status == 200);
    simdjson::dom::element doc = testing::ParseJson(parser, a->body);
    EXPECT_EQ(StringField(doc, "chain_name"), "ethereum");
    EXPECT_EQ(StringField(doc, "chain_id"), "ethereum");
    EXPECT_EQ(simdjson::to_string(doc["addresses"]), "[\"0xabc\"]");
    a = GetRoute(client, env_->url("/v1/bridge/addresses"));
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(a->status, 400) << a->body;
  }
  {  // /v1/status is the event hub's in edge-api, with Gonka's "status": "ok" among its fields
    absl::StatusOr<Answer> a = GetRoute(client, env_->url("/v1/status"));
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(a->status, 200);
    simdjson::dom::element doc = testing::ParseJson(parser, a->body);
    EXPECT_EQ(StringField(doc, "status"), "ok");
    EXPECT_EQ(StringField(doc, "chain_id"), "routes-test");
  }
}

// The pricing route's hits in /v1/cache/stats.
int64_t PricingHits(net::HttpClient& client, Env& env) {
  absl::StatusOr<Answer> a = GetRoute(client, env.url("/v1/cache/stats"));
  if (!a.ok() || a->status != 200) return -1;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(a->body).get(doc) != simdjson::SUCCESS) return -1;
  simdjson::dom::array routes;
  if (doc["routes"].get_array().get(routes) != simdjson::SUCCESS) return -1;
  for (simdjson::dom::element r : routes) {
    std::string_view name;
    if (r["route"].get_string().get(name) == simdjson::SUCCESS && name == "pricing") {
      int64_t hits = 0;
      if (r["hits"].get_int64().get(hits) != simdjson::SUCCESS) return -1;
      return hits;
    }
  }
  return -1;
}

TEST_F(ChainRoutesTest, SecondRequestIsAHitAndIfNoneMatchIs304) {
  net::HttpClient client;
  ASSERT_TRUE(WaitForHeight(*env_, client, 35).ok()) << env_->Logs();
  // Within one epoch the pricing entry stays valid; retry if a boundary fell between the two.
  bool hit = false;
  for (int attempt = 0; attempt < 10 && !hit; ++attempt) {
    int64_t before = PricingHits(client, *env_);
    ASSERT_GE(before, 0);
    absl::StatusOr<Answer> first = GetRoute(client, env_->url("/v1/pricing"));
    absl::StatusOr<Answer> second = GetRoute(client, env_->url("/v1/pricing"));
    ASSERT_TRUE(first.ok() && second.ok());
    ASSERT_EQ(second->status, 200);
    if (EffectiveEpoch(first->height) != EffectiveEpoch(second->height)) continue;
    EXPECT_EQ(first->etag, second->etag);
    EXPECT_EQ(first->body, second->body);
    hit = PricingHits(client, *env_) > before;
  }
  EXPECT_TRUE(hit) << "no cache hit for a repeated /v1/pricing";

  absl::StatusOr<Answer> full = GetRoute(client, env_->url("/v1/pricing"));
  ASSERT_TRUE(full.ok() && full->status == 200);
  absl::StatusOr<Answer> revalidated = GetRoute(client, env_->url("/v1/pricing"), full->etag);
  ASSERT_TRUE(revalidated.ok());
  EXPECT_EQ(revalidated->status, 304);
  EXPECT_TRUE(revalidated->body.empty());
  EXPECT_EQ(revalidated->etag, full->etag);
  absl::StatusOr<Answer> other = GetRoute(client, env_->url("/v1/pricing"), "\"not-it\"");
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other->status, 200);

  absl::StatusOr<Answer> stats = GetRoute(client, env_->url("/v1/cache/stats"));
  ASSERT_TRUE(stats.ok() && stats->status == 200);
  simdjson::dom::parser parser;
  simdjson::dom::element doc = testing::ParseJson(parser, stats->body);
  EXPECT_GT(IntField(doc, "entries"), 0);
  EXPECT_EQ(IntField(doc, "max_bytes"), 16777216);
  EXPECT_GT(IntField(doc, "height"), 0);
}

// Clients read /v1/epochs/latest and /v1/participants while devchain turns phases over every
// few blocks and epochs every 20 (2 s): every answer's data must be the chain's at the height it
// claims (X-Cosmos-Block-Height), across every boundary.
TEST_F(ChainRoutesTest, AnswersAgreeWithTheirHeightAcrossPhaseAndEpochBoundaries) {
  net::HttpClient probe;
  ASSERT_TRUE(WaitForHeight(*env_, probe, 25).ok()) << env_->Logs();
  absl::StatusOr<Answer> start = GetRoute(probe, env_->url("/v1/epochs/latest"));
  ASSERT_TRUE(start.ok());
  const int64_t start_height = start->height;
  const int64_t end_height = start_height + 3 * kEpochLength;  // about 6 s of blocks

  std::atomic<int64_t> responses{0}, wrong{0}, errors{0};
  std::atomic<int64_t> max_seen{0};
  absl::Mutex mu;
  std::set<int64_t> heights;  // distinct heights answered
  std::vector<std::string> failures;
  const absl::Time deadline = absl::Now() + kWait;
  std::atomic<int64_t> regressions{0};  // an answer older than one the same client already had
  auto reader = [&](int id) {
    net::HttpClient client;
    simdjson::dom::parser parser;
    int64_t client_max = 0;
    while (max_seen.load() < end_height && absl::Now() < deadline) {
      const bool epochs = (id + responses.load()) % 2 == 0;
      absl::StatusOr<Answer> a =
          GetRoute(client, env_->url(epochs ? "/v1/epochs/latest" : "/v1/participants"));
      if (!a.ok() || a->status != 200) {
        errors.fetch_add(1);
        continue;
      }
      responses.fetch_add(1);
      if (a->height < client_max) regressions.fetch_add(1);
      client_max = std::max(client_max, a->height);
      int64_t seen = max_seen.load();
      while (a->height > seen && !max_seen.compare_exchange_weak(seen, a->height)) {
      }
      simdjson::dom::element doc;
      std::string why;
      if (parser.parse(a->body).get(doc) != simdjson::SUCCESS) {
        why = "not JSON";
      } else if (epochs) {
        int64_t block_height = 0, index = 0, poc_start = 0;
        std::string_view phase;
        if (doc["block_height"].get_int64().get(block_height) != simdjson::SUCCESS)
          why = "missing block_height";
        if (doc["latest_epoch"]["index"].get_int64().get(index) != simdjson::SUCCESS)
          why = "missing index";
        if (doc["latest_epoch"]["poc_start_block_height"].get_int64().get(poc_start) !=
            simdjson::SUCCESS)
          why = "missing poc_start";
        if (doc["phase"].get_string().get(phase) != simdjson::SUCCESS) why = "missing phase";
        if (block_height != a->height) why = "block_height";
        if (index != a->height / kEpochLength) why = "latest_epoch.index";
        if (poc_start != a->height / kEpochLength * kEpochLength) why = "poc_start_block_height";
        if (phase != chain::ScheduleAt(Params(), a->height).phase) why = "phase";
      } else {
        int64_t block_height = 0;
        if (doc["block_height"].get_int64().get(block_height) != simdjson::SUCCESS)
          why = "missing block_height";
        if (block_height != a->height) why = "block_height";
        simdjson::dom::array list;
        if (doc["participants"].get_array().get(list) != simdjson::SUCCESS) {
          why = "participants";
        } else {
          for (simdjson::dom::element p : list) {
            std::string_view who;
            int64_t power = 0;
            if (p["id"].get_string().get(who) != simdjson::SUCCESS) why = "missing who";
            if (p["voting_power"].get_int64().get(power) != simdjson::SUCCESS)
              why = "missing power";
            int64_t weight = who == Address(1) ? 10 : 20;
            if (power != weight + EffectiveEpoch(a->height)) why = "voting_power";
          }
        }
      }
      absl::MutexLock lock(&mu);
      heights.insert(a->height);
      if (!why.empty()) {
        wrong.fetch_add(1);
        if (failures.size() < 10) {
          failures.push_back(absl::StrCat(why, " at height ", a->height, ": ", a->body));
        }
      }
    }
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) threads.emplace_back(reader, i);
  for (std::thread& t : threads) t.join();

  int phase_boundaries = 0, epoch_boundaries = 0;
  for (int64_t h = start_height + 1; h <= max_seen.load(); ++h) {
    chain::EpochSchedule before = chain::ScheduleAt(Params(), h - 1);
    chain::EpochSchedule at = chain::ScheduleAt(Params(), h);
    if (at.phase != before.phase) ++phase_boundaries;
    if (at.epoch_index != before.epoch_index) ++epoch_boundaries;
  }
  std::cout << "boundary run: " << responses.load() << " responses over " << heights.size()
            << " distinct heights (" << start_height << ".." << max_seen.load() << "), "
            << phase_boundaries << " phase and " << epoch_boundaries
            << " epoch boundaries crossed, " << wrong.load() << " wrong, " << regressions.load()
            << " older than an earlier answer, " << errors.load() << " errors" << std::endl;
  for (const std::string& f : failures) ADD_FAILURE() << f;
  EXPECT_GE(max_seen.load(), end_height) << "the chain did not advance in time";
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(regressions.load(), 0);
  EXPECT_EQ(errors.load(), 0);
  EXPECT_GT(responses.load(), 100);
  EXPECT_GE(epoch_boundaries, 2);
  // The heights and boundaries came from the block stream (StreamFeed), not from polling.
  absl::StatusOr<net::HttpResponse> metrics = probe.Get(env_->url("/metrics"));
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  const std::string key = "gonka_cache_stream_height{cache=\"edge\"} ";
  size_t at = metrics->body.find(key);
  ASSERT_NE(at, std::string::npos) << metrics->body.substr(0, 2000);
  double fed = 0;
  ASSERT_TRUE(absl::SimpleAtod(
      metrics->body.substr(at + key.size(), metrics->body.find('\n', at) - at - key.size()), &fed));
  EXPECT_GE(fed, static_cast<double>(end_height)) << env_->Logs();
}

}  // namespace
}  // namespace cache
}  // namespace gonka
