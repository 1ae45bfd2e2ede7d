// Two emitters (two "replicas") with real Redis leader election publish devchain's blocks to a
// real JetStream stream; the leader hands off mid-run and one replica's NATS connection sees a
// server restart. The stream must hold every height exactly once and in order.
#include "gonka/eventhub/emitter.h"

#include <memory>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gonka/base/metrics.h"
#include "gonka/devchain/chain.h"
#include "gonka/devchain/rpc.h"
#include "gonka/election/fenced_write.h"
#include "gonka/election/redis_elector.h"
#include "gonka/net/http_server.h"
#include "gonka/testing/block_stream.h"
#include "gonka/testing/process.h"
#include "gonka/testing/servers.h"
#include "gtest/gtest.h"

namespace gonka {
namespace eventhub {
namespace {

struct Replica {
  std::unique_ptr<chain::CometClient> comet;
  std::unique_ptr<nats::JetStream> js;
  std::unique_ptr<redis::RedisClient> redis;
  std::unique_ptr<election::RedisFence> fence;
  std::unique_ptr<election::LeaderElector> elector;
  std::unique_ptr<Emitter> emitter;
};

// One replica against the given servers (the elector is started by the caller).
std::unique_ptr<Replica> MakeReplica(int redis_port, const std::string& nats_url, int rpc_port,
                                     const EmitterOptions& options, const std::string& identity) {
  auto r = std::make_unique<Replica>();
  r->comet = std::make_unique<chain::CometClient>(
      chain::CometClientOptions{.rpc_url = absl::StrCat("http://127.0.0.1:", rpc_port)});
  absl::StatusOr<std::unique_ptr<nats::JetStream>> js =
      nats::JetStream::Connect({.urls = {nats_url}});
  EXPECT_TRUE(js.ok()) << js.status();
  if (!js.ok()) return nullptr;
  r->js = std::move(*js);
  redis::RedisOptions redis_options;
  redis_options.host = "127.0.0.1";
  redis_options.port = redis_port;
  r->redis = std::make_unique<redis::RedisClient>(redis_options);
  r->fence = std::make_unique<election::RedisFence>(r->redis.get(), "hub");
  election::LeaderElectorOptions elector_options;
  elector_options.identity = identity;
  absl::StatusOr<std::unique_ptr<election::LeaderElector>> elector =
      election::NewRedisLeaderElector(redis_options, "hub", elector_options);
  EXPECT_TRUE(elector.ok()) << elector.status();
  if (!elector.ok()) return nullptr;
  r->elector = std::move(*elector);
  r->emitter = std::make_unique<Emitter>(options, r->comet.get(), r->js.get(), r->fence.get(),
                                         r->elector.get());
  return r;
}

// Redis, NATS and a devchain (chain-id "hub-test") served over HTTP, on free loopback ports.
struct Servers {
  explicit Servers(int txs_per_block, absl::Duration block_interval = absl::Milliseconds(100))
      : chain(
            [&] {
              devchain::ChainOptions o;
              o.chain_id = "hub-test";
              o.synthetic_txs_per_block = txs_per_block;
              o.block_interval = block_interval;
              return o;
            }(),
            nullptr),
        rpc(&chain, &rpc_server, {}) {}
  // Starts the servers with `blocks` blocks produced.
  absl::Status Start(int blocks) {
    if (absl::Status s = redis.Start(); !s.ok()) return s;
    if (absl::Status s = nats.Start(); !s.ok()) return s;
    for (int i = 0; i < blocks; ++i) chain.ProduceBlock();
    return rpc_server.Start();
  }
  std::unique_ptr<Replica> NewReplica(const EmitterOptions& options, const std::string& identity) {
    return MakeReplica(redis.port(), nats.url(), rpc_server.port(), options, identity);
  }

  testing::RedisServer redis;
  testing::NatsServer nats;
  devchain::Chain chain;
  net::HttpServer rpc_server;
  devchain::RpcService rpc;
};

// Emitter options for chain "hub-test" from height 1, polling every 50 ms.
EmitterOptions TestOptions() {
  EmitterOptions options;
  options.chain_id = "hub-test";
  options.start_height = 1;
  options.poll_interval = absl::Milliseconds(50);
  return options;
}

// Reads the whole block subject back and checks heights are consecutive and unique.
void ExpectGapFree(nats::JetStream& js, int64_t* first, int64_t* last) {
  absl::StatusOr<std::vector<int64_t>> heights = testing::ReadBlockHeights(js, "checker");
  ASSERT_TRUE(heights.ok()) << heights.status();
  absl::Status consecutive = testing::ExpectConsecutive(*heights);
  ASSERT_TRUE(consecutive.ok()) << consecutive;
  *first = heights->front();
  *last = heights->back();
}

TEST(EmitterIntegrationTest, ExactlyOnceInOrderAcrossHandoffAndNatsRestart) {
  Servers servers(/*txs_per_block=*/3, /*block_interval=*/absl::Milliseconds(50));
  ASSERT_TRUE(servers.Start(0).ok());
  devchain::Chain& chain = servers.chain;
  chain.Start();

  std::vector<std::unique_ptr<Replica>> replicas;
  for (int i = 0; i < 2; ++i) {
    std::unique_ptr<Replica> r = servers.NewReplica(TestOptions(), absl::StrCat("replica-", i));
    ASSERT_NE(r, nullptr);
    ASSERT_TRUE(r->emitter->Start().ok());
    ASSERT_TRUE(r->elector->Start().ok());
    replicas.push_back(std::move(r));
  }
  auto emitted = [&] {
    int64_t best = 0;
    for (auto& r : replicas) best = std::max(best, r->emitter->last_emitted());
    return best;
  };
  ASSERT_TRUE(testing::WaitFor([&] { return emitted() >= 20; }, absl::Seconds(20)).ok());

  // Handoff: the leader stops campaigning (as on drain); the other resumes without a gap.
  int leader = replicas[0]->elector->IsLeader() ? 0 : 1;
  replicas[leader]->elector->Stop();
  int64_t at_handoff = emitted();
  ASSERT_TRUE(testing::WaitFor(
                  [&] { return replicas[1 - leader]->emitter->last_emitted() >= at_handoff + 20; },
                  absl::Seconds(20))
                  .ok());

  // NATS restarts under the leader; it reconnects and continues.
  ASSERT_TRUE(servers.nats.Restart().ok());
  int64_t at_restart = replicas[1 - leader]->emitter->last_emitted();
  ASSERT_TRUE(testing::WaitFor(
                  [&] { return replicas[1 - leader]->emitter->last_emitted() >= at_restart + 20; },
                  absl::Seconds(30))
                  .ok())
      << replicas[1 - leader]->emitter->health();
  for (auto& r : replicas) {
    r->emitter->Stop();
    r->elector->Stop();
  }
  chain.Stop();

  int64_t first = 0, last = 0;
  ExpectGapFree(*replicas[0]->js, &first, &last);
  EXPECT_EQ(first, 1);
  EXPECT_GE(last, at_restart + 20);
  std::printf("stream holds heights %lld..%lld, gap-free, each once\n",
              static_cast<long long>(first), static_cast<long long>(last));
}

// The fetch-ahead pipeline with a height whose /block_results fails (a JSON-RPC error) or comes
// back malformed (cut in half): emission stops exactly before it (later heights already fetched
// are held, never published; nothing of the bad height is emitted), health() reports it, and
// once the height is served again the stream continues gap-free; the cursor (written every few
// heights) reaches the tip once caught up.
class FetchAheadTest : public ::testing::TestWithParam<bool> {};  // param: truncated, not failing

TEST_P(FetchAheadTest, NeverSkipsABadHeight) {
  const bool truncated = GetParam();
  Servers servers(/*txs_per_block=*/3);
  ASSERT_TRUE(servers.Start(60).ok());
  devchain::RpcService& rpc = servers.rpc;
  auto set_fault = [&](bool on) {
    if (truncated) {
      rpc.TruncateBlockResults(30, on);
    } else {
      rpc.FailBlockResults(30, on);
    }
  };
  set_fault(true);

  EmitterOptions options = TestOptions();
  options.retry_interval = absl::Milliseconds(20);
  options.fetchers = 3;
  options.fetch_window = 8;
  options.fetch_batch = 3;
  options.cursor_every = 7;
  std::unique_ptr<Replica> replica = servers.NewReplica(options, "replica-0");
  ASSERT_NE(replica, nullptr);
  Replica& r = *replica;
  ASSERT_TRUE(r.emitter->Start().ok());
  ASSERT_TRUE(r.elector->Start().ok());

  ASSERT_TRUE(testing::WaitFor([&] { return !r.emitter->health().ok(); }, absl::Seconds(20)).ok());
  ASSERT_TRUE(
      testing::WaitFor([&] { return r.emitter->last_emitted() == 29; }, absl::Seconds(20)).ok())
      << r.emitter->last_emitted();
  EXPECT_THAT(std::string(r.emitter->health().message()), ::testing::HasSubstr("height 30"));
  // The batch request fails first; the height's own retry then reports the node's answer.
  const std::string reason = truncated ? "malformed JSON" : "fault knob";
  EXPECT_TRUE(testing::WaitFor(
                  [&] {
                    return absl::StrContains(r.emitter->health().message(), reason) &&
                           absl::StrContains(r.emitter->health().message(), "height 30");
                  },
                  absl::Seconds(10))
                  .ok())
      << r.emitter->health();
  // Several retry rounds later it still has not moved past the failing height.
  uint64_t published = r.emitter->published();
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_EQ(r.emitter->last_emitted(), 29);
  EXPECT_EQ(r.emitter->published(), published);

  set_fault(false);
  ASSERT_TRUE(
      testing::WaitFor([&] { return r.emitter->last_emitted() == 60; }, absl::Seconds(20)).ok())
      << r.emitter->last_emitted() << " " << r.emitter->health();
  EXPECT_TRUE(r.emitter->health().ok());
  ASSERT_TRUE(testing::WaitFor(
                  [&] {
                    absl::StatusOr<redis::RedisReply> cursor =
                        r.redis->Command({"GET", "eventhub:{hub-test}:cursor"});
                    return cursor.ok() && !cursor->is_nil() && cursor->AsInt().ok() &&
                           *cursor->AsInt() == 60;
                  },
                  absl::Seconds(10))
                  .ok());
  r.emitter->Stop();
  r.elector->Stop();

  int64_t first = 0, last = 0;
  ExpectGapFree(*r.js, &first, &last);
  EXPECT_EQ(first, 1);
  EXPECT_EQ(last, 60);
}

INSTANTIATE_TEST_SUITE_P(FailingOrMalformed, FetchAheadTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "Truncated" : "Failing";
                         });

// A node that pruned the early heights: without an archive node emission stops at the first
// height (never skipped, /ready fails with the node's reason); with one, those heights come from
// the archive node and the stream is complete. Then the same with batching off (plain GETs).
TEST(EmitterIntegrationTest, PrunedHeightsComeFromTheArchiveNode) {
  testing::RedisServer redis_server;
  ASSERT_TRUE(redis_server.Start().ok());
  testing::NatsServer nats_server;
  ASSERT_TRUE(nats_server.Start().ok());
  devchain::ChainOptions chain_options;
  chain_options.chain_id = "hub-test";
  chain_options.synthetic_txs_per_block = 2;
  devchain::Chain chain(chain_options, nullptr);
  for (int i = 0; i < 40; ++i) chain.ProduceBlock();
  net::HttpServer pruned_server, archive_server;
  devchain::RpcOptions pruned_options;
  pruned_options.lowest_served_height = 25;
  devchain::RpcService pruned(&chain, &pruned_server, pruned_options);
  devchain::RpcService archive(&chain, &archive_server, {});
  ASSERT_TRUE(pruned_server.Start().ok());
  ASSERT_TRUE(archive_server.Start().ok());
  chain::CometClient archive_client(chain::CometClientOptions{
      .rpc_url = absl::StrCat("http://127.0.0.1:", archive_server.port())});

  for (int batch : {8, 1}) {
    SCOPED_TRACE(absl::StrCat("fetch_batch ", batch));
    ASSERT_TRUE(redis_server.Restart().ok());  // a fresh cursor and lease
    EmitterOptions options;
    options.chain_id = "hub-test";
    options.stream = absl::StrCat("BLOCKS", batch);
    options.subject = absl::StrCat("blocks", batch);
    options.start_height = 1;
    options.poll_interval = absl::Milliseconds(50);
    options.retry_interval = absl::Milliseconds(20);
    options.fetch_batch = batch;
    std::unique_ptr<Replica> alone = MakeReplica(redis_server.port(), nats_server.url(),
                                                 pruned_server.port(), options, "no-archive");
    ASSERT_NE(alone, nullptr);
    ASSERT_TRUE(alone->emitter->Start().ok());
    ASSERT_TRUE(alone->elector->Start().ok());
    ASSERT_TRUE(
        testing::WaitFor([&] { return !alone->emitter->health().ok(); }, absl::Seconds(20)).ok());
    EXPECT_THAT(std::string(alone->emitter->health().message()),
                ::testing::HasSubstr("height 1 is not available, lowest height is 25"));
    absl::SleepFor(absl::Milliseconds(200));
    EXPECT_EQ(alone->emitter->published(), 0u);
    alone->emitter->Stop();
    alone->elector->Stop();

    options.archive = &archive_client;
    std::unique_ptr<Replica> r = MakeReplica(redis_server.port(), nats_server.url(),
                                             pruned_server.port(), options, "with-archive");
    ASSERT_NE(r, nullptr);
    ASSERT_TRUE(r->emitter->Start().ok());
    ASSERT_TRUE(r->elector->Start().ok());
    ASSERT_TRUE(
        testing::WaitFor([&] { return r->emitter->last_emitted() == 40; }, absl::Seconds(20)).ok())
        << r->emitter->last_emitted() << " " << r->emitter->health();
    EXPECT_TRUE(r->emitter->health().ok());
    EXPECT_EQ(r->emitter->published(), 40u);
    r->emitter->Stop();
    r->elector->Stop();
    absl::StatusOr<nats::StreamInfo> info = r->js->GetStreamInfo(options.stream, options.subject);
    ASSERT_TRUE(info.ok()) << info.status();
    EXPECT_EQ(info->messages, 40u);
    EXPECT_EQ(info->subject_last_msg_id, "hub-test/40");
  }
  EXPECT_THAT(metrics::ExposeText(), ::testing::HasSubstr("kind=\"archive_fetch\""));
}

// The stream loses acknowledged records (as when every NATS replica is killed at once before
// writing them out): the stream ends at 25 while the cursor says 40. A new leader emits 26..40
// again instead of expecting 40 as the stream's last record (refused forever: a stall).
TEST(EmitterIntegrationTest, AStreamBehindTheCursorIsRefilledNotStalled) {
  Servers servers(/*txs_per_block=*/2);
  ASSERT_TRUE(servers.Start(25).ok());
  const EmitterOptions options = TestOptions();
  std::unique_ptr<Replica> first = servers.NewReplica(options, "first");
  ASSERT_NE(first, nullptr);
  ASSERT_TRUE(first->emitter->Start().ok());
  ASSERT_TRUE(first->elector->Start().ok());
  ASSERT_TRUE(
      testing::WaitFor([&] { return first->emitter->last_emitted() == 25; }, absl::Seconds(20))
          .ok());
  first->emitter->Stop();
  first->elector->Stop();
  // Heights 26..40 were emitted and acknowledged (the cursor moved to 40), then lost by the
  // stream.
  for (int i = 0; i < 15; ++i) servers.chain.ProduceBlock();
  ASSERT_TRUE(first->redis->Command({"SET", "eventhub:{hub-test}:cursor", "40"}).ok());

  std::unique_ptr<Replica> second = servers.NewReplica(options, "second");
  ASSERT_NE(second, nullptr);
  ASSERT_TRUE(second->emitter->Start().ok());
  ASSERT_TRUE(second->elector->Start().ok());
  ASSERT_TRUE(
      testing::WaitFor([&] { return second->emitter->published() == 15u; }, absl::Seconds(20)).ok())
      << second->emitter->health();
  EXPECT_TRUE(second->emitter->health().ok()) << second->emitter->health();
  EXPECT_EQ(second->emitter->last_emitted(), 40);
  second->emitter->Stop();
  second->elector->Stop();
  int64_t from = 0, to = 0;
  ExpectGapFree(*second->js, &from, &to);
  EXPECT_EQ(from, 1);
  EXPECT_EQ(to, 40);
  EXPECT_THAT(metrics::ExposeText(), ::testing::HasSubstr("kind=\"stream_rewound\""));
}

}  // namespace
}  // namespace eventhub
}  // namespace gonka
