// EventHubService with --coordination=nats (JetStream KV, no Redis): two replicas, one leads and
// emits; the follower reports the chain's height and its lag in /v1/status (it follows the
// chain and the stream although it never led); when the leader stops, the follower takes over
// and the stream stays gap-free.
#include "gonka/eventhub/event_hub_service.h"

#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gonka/devchain/chain.h"
#include "gonka/devchain/rpc.h"
#include "gonka/net/http_client.h"
#include "gonka/net/http_server.h"
#include "gonka/testing/block_stream.h"
#include "gonka/testing/process.h"
#include "gonka/testing/servers.h"
#include "gtest/gtest.h"
#include "simdjson.h"

namespace gonka {
namespace eventhub {
namespace {

constexpr absl::Duration kWait = absl::Seconds(30);

struct Status {
  bool leader = false;
  int64_t chain_height = 0;
  int64_t last_emitted = 0;
  int64_t lag = 0;
  std::string coordination;
};

// One replica: its own NATS connections, coordination, service and HTTP server.
struct Replica {
  absl::Status Start(const std::string& nats_url, const std::string& rpc_url,
                     const std::string& identity) {
    comet = std::make_unique<chain::CometClient>(chain::CometClientOptions{.rpc_url = rpc_url});
    absl::StatusOr<std::unique_ptr<nats::JetStream>> j =
        nats::JetStream::Connect({.urls = {nats_url}});
    if (!j.ok()) return j.status();
    js = std::move(*j);
    election::CoordinationOptions co;
    co.backend = election::CoordinationBackend::kNats;
    co.nats.urls = {nats_url};
    absl::StatusOr<std::unique_ptr<election::Coordination>> c =
        election::Coordination::Open(co, "edge-api-hub-test", {.identity = identity});
    if (!c.ok()) return c.status();
    coordination = std::move(*c);
    EventHubServiceOptions o;
    o.emitter.chain_id = "hub-test";
    o.emitter.start_height = 1;
    o.emitter.poll_interval = absl::Milliseconds(50);
    o.identity = identity;
    service = std::make_unique<EventHubService>(o, comet.get(), js.get(), coordination.get());
    service->AddRoutes(&http);
    if (absl::Status s = http.Start(); !s.ok()) return s;
    return service->Start();
  }
  absl::StatusOr<Status> GetStatus() {
    absl::StatusOr<net::HttpResponse> r =
        client.Get(absl::StrCat("http://127.0.0.1:", http.port(), "/v1/status"));
    if (!r.ok()) return r.status();
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (parser.parse(r->body).get(doc) != simdjson::SUCCESS) {
      return absl::DataLossError(absl::StrCat("status: not JSON: ", r->body));
    }
    Status s;
    std::string_view text;
    s.leader = doc["leader"].get_bool().value_unsafe();
    text = doc["chain_height"].get_string().value_unsafe();
    (void)absl::SimpleAtoi(absl::string_view(text.data(), text.size()), &s.chain_height);
    text = doc["last_emitted_height"].get_string().value_unsafe();
    (void)absl::SimpleAtoi(absl::string_view(text.data(), text.size()), &s.last_emitted);
    s.lag = doc["lag"].get_int64().value_unsafe();
    s.coordination = std::string(doc["coordination"].get_string().value_unsafe());
    return s;
  }

  std::unique_ptr<chain::CometClient> comet;
  std::unique_ptr<nats::JetStream> js;
  std::unique_ptr<election::Coordination> coordination;
  net::HttpServer http{{.name = "hub-test", .port = 0}};
  std::unique_ptr<EventHubService> service;
  net::HttpClient client;
};

TEST(EventHubServiceTest, FollowersReportChainHeightAndLagAndTakeOverWithoutRedis) {
  testing::NatsServer nats;
  ASSERT_TRUE(nats.Start().ok());
  devchain::ChainOptions chain_options;
  chain_options.chain_id = "hub-test";
  chain_options.block_interval = absl::Milliseconds(100);
  devchain::Chain chain(chain_options, nullptr);
  net::HttpServer rpc_server({.name = "devchain", .port = 0});
  devchain::RpcService rpc(&chain, &rpc_server, {});
  ASSERT_TRUE(rpc_server.Start().ok());
  chain.Start();
  const std::string rpc_url = absl::StrCat("http://127.0.0.1:", rpc_server.port());

  Replica a, b;
  ASSERT_TRUE(a.Start(nats.url(), rpc_url, "a").ok());
  ASSERT_TRUE(testing::WaitFor([&] { return a.coordination->elector()->IsLeader(); }, kWait,
                               absl::Milliseconds(20), "replica a to lead")
                  .ok());
  ASSERT_TRUE(b.Start(nats.url(), rpc_url, "b").ok());
  // The follower never led, yet it sees the chain and the stream advance.
  absl::Status follows = testing::WaitFor(
      [&] {
        absl::StatusOr<Status> s = b.GetStatus();
        return s.ok() && !s->leader && s->chain_height >= 20 && s->last_emitted >= 20 &&
               s->lag >= 0 && s->lag < 20;
      },
      kWait, absl::Milliseconds(50), "the follower's /v1/status to show height >= 20, lag < 20");
  ASSERT_TRUE(follows.ok()) << follows;
  absl::StatusOr<Status> fs = b.GetStatus();
  ASSERT_TRUE(fs.ok());
  EXPECT_EQ(fs->coordination, "nats");
  EXPECT_GE(fs->chain_height, chain.height() - 10);

  // The leader stops (drain: it releases the lease); the follower takes over at once.
  a.service->Stop();
  absl::Status took_over = testing::WaitFor(
      [&] {
        absl::StatusOr<Status> s = b.GetStatus();
        return s.ok() && s->leader && s->last_emitted >= chain.height() - 5;
      },
      kWait, absl::Milliseconds(50), "replica b to lead and catch up");
  ASSERT_TRUE(took_over.ok()) << took_over;
  b.service->Stop();
  chain.Stop();

  // Every height once, in order, from 1.
  absl::StatusOr<std::vector<int64_t>> heights = testing::ReadBlockHeights(*b.js, "checker");
  ASSERT_TRUE(heights.ok()) << heights.status();
  EXPECT_TRUE(testing::ExpectConsecutive(*heights).ok()) << testing::ExpectConsecutive(*heights);
  EXPECT_EQ(heights->front(), 1);
  EXPECT_GT(heights->back(), 20);
}

}  // namespace
}  // namespace eventhub
}  // namespace gonka
