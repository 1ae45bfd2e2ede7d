// Event hub chaos (issue 8, first round): devchain, Redis, NATS JetStream and 3 edge-api
// replicas as real processes. Random faults — kill -9 of the leader, SIGSTOP/SIGCONT of the
// leader past its lease, SIGTERM (drain) of the leader, devchain dropping WebSockets — while an
// independent checker reads the stream: every height exactly once and in order, each block
// equal to devchain's. The seed is printed (GONKA_CHAOS_SEED replays, GONKA_CHAOS_FAILOVERS sets
// how many leader failovers to cause; bench/chaos_eventhub runs 100).
#include <signal.h>

#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gonka/chain/comet_client.h"
#include "gonka/eventhub/subscriber.h"
#include "gonka/nats/jetstream.h"
#include "gonka/net/http_client.h"
#include "gonka/testing/process.h"
#include "gonka/testing/servers.h"
#include "gtest/gtest.h"

namespace gonka {
namespace {

int64_t EnvInt(const char* name, int64_t fallback) {
  int64_t v = fallback;
  if (const char* s = std::getenv(name)) absl::SimpleAtoi(s, &v);
  return v;
}

// GET /v1/status of a replica: {"leader":true,...}.
bool IsLeader(testing::DaemonProcess& replica) {
  absl::StatusOr<testing::HttpResponse> r =
      testing::HttpGet("127.0.0.1", replica.port(), "/v1/status", absl::Milliseconds(300));
  return r.ok() && r->status == 200 && r->body.find("\"leader\":true") != std::string::npos;
}

TEST(EventHubChaosTest, EveryHeightExactlyOnceInOrder) {
  uint64_t seed = static_cast<uint64_t>(EnvInt("GONKA_CHAOS_SEED", std::random_device()()));
  int target = static_cast<int>(EnvInt("GONKA_CHAOS_FAILOVERS", 20));
  std::printf("eventhub chaos: seed %llu, %d failovers\n", static_cast<unsigned long long>(seed),
              target);
  std::mt19937_64 rng(seed);

  testing::RedisServer redis;
  ASSERT_TRUE(redis.Start().ok());
  testing::NatsServer nats;
  ASSERT_TRUE(nats.Start().ok());
  testing::DaemonProcess::Options chain_options;
  chain_options.binary = "daemons/devchain/devchain";
  chain_options.args = {"--bind=127.0.0.1",       "--port={{PORT}}",   "--chain-id=chaos",
                        "--block-interval=100ms", "--synthetic-txs=5", "--drain-announce=0s",
                        "--grpc-address=",        "--log-level=warn"};
  testing::DaemonProcess devchain(chain_options);
  ASSERT_TRUE(devchain.Start().ok());

  std::vector<std::unique_ptr<testing::DaemonProcess>> replicas;
  for (int i = 0; i < 3; ++i) {
    testing::DaemonProcess::Options o;
    o.binary = "daemons/edge-api/edge-api";
    o.name = absl::StrCat("edge-api-", i);
    o.args = {"--bind=127.0.0.1",
              "--port={{PORT}}",
              "--chain-id=chaos",
              absl::StrCat("--chain-rpc-url=", devchain.url()),
              absl::StrCat("--nats-url=", nats.url()),
              absl::StrCat("--redis-port=", redis.port()),
              absl::StrCat("--identity=replica-", i),
              "--start-height=1",
              "--drain-announce=200ms",
              "--shutdown-grace=5s",
              "--log-level=warn"};
    replicas.push_back(std::make_unique<testing::DaemonProcess>(o));
    ASSERT_TRUE(replicas.back()->Start().ok()) << replicas.back()->LogTail();
  }

  auto js = nats::JetStream::Connect({.urls = {nats.url()}});
  ASSERT_TRUE(js.ok()) << js.status();
  // The checker: reads every record from height 1 and compares it with devchain's own block.
  chain::CometClient comet({.rpc_url = devchain.url()});
  std::vector<int64_t> heights;
  std::string mismatch;
  absl::Mutex mu;
  ASSERT_TRUE(
      testing::WaitFor([&] { return (*js)->GetStreamInfo("BLOCKS").ok(); }, absl::Seconds(20))
          .ok());
  eventhub::SubscriberOptions checker_options;
  checker_options.durable = "chaos-checker";
  checker_options.start_height = 1;
  eventhub::Subscriber checker(checker_options, js->get());
  checker.OnBlock([&](const chain::v1::BlockEvents& b) {
    absl::StatusOr<chain::v1::BlockEvents> truth = comet.FetchBlockEvents(b.height(), {});
    absl::MutexLock lock(&mu);
    heights.push_back(b.height());
    if (truth.ok() && (truth->hash() != b.hash() || truth->txs_size() != b.txs_size())) {
      mismatch = absl::StrCat("height ", b.height(), " differs from devchain");
    }
    return absl::OkStatus();
  });
  ASSERT_TRUE(checker.Start().ok());

  auto leader = [&]() -> int {
    for (int i = 0; i < 3; ++i) {
      if (replicas[i]->IsRunning() && IsLeader(*replicas[i])) return i;
    }
    return -1;
  };
  net::HttpClient http;
  int failovers = 0;
  absl::Duration max_pause;
  for (int round = 0; failovers < target; ++round) {
    int l = -1;
    ASSERT_TRUE(testing::WaitFor([&] { return (l = leader()) >= 0; }, absl::Seconds(20)).ok())
        << "no leader in round " << round;
    absl::SleepFor(absl::Milliseconds(300 + rng() % 700));
    int64_t before = checker.last_height();
    int fault = static_cast<int>(rng() % 4);
    absl::Time t0 = absl::Now();
    switch (fault) {
      case 0:  // crash
        ASSERT_TRUE(replicas[l]->Kill().ok());
        break;
      case 1:  // pause past the lease, then resume: the zombie must not emit
        ASSERT_TRUE(replicas[l]->Pause().ok());
        absl::SleepFor(absl::Seconds(3));
        ASSERT_TRUE(replicas[l]->Resume().ok());
        break;
      case 2:  // drain (rolling restart)
        ASSERT_TRUE(replicas[l]->Stop().ok());
        break;
      default:  // the chain drops every WebSocket: polling must carry on
        http.Post(devchain.url() + "/devchain/fault/drop_websockets", "").status().IgnoreError();
        break;
    }
    // Emission resumes: the checker sees new heights.
    ASSERT_TRUE(
        testing::WaitFor([&] { return checker.last_height() >= before + 10; }, absl::Seconds(30))
            .ok())
        << "emission did not resume after fault " << fault << " in round " << round;
    max_pause = std::max(max_pause, absl::Now() - t0);
    if (fault != 3) ++failovers;
    if (!replicas[l]->IsRunning()) ASSERT_TRUE(replicas[l]->Start().ok());
  }
  checker.Stop();
  absl::MutexLock lock(&mu);
  ASSERT_FALSE(heights.empty());
  EXPECT_EQ(heights.front(), 1);
  int gaps = 0, duplicates = 0;
  for (size_t i = 1; i < heights.size(); ++i) {
    if (heights[i] == heights[i - 1]) ++duplicates;
    if (heights[i] > heights[i - 1] + 1) ++gaps;
  }
  std::printf(
      "eventhub chaos: %d failovers, %zu heights, %d gaps, %d duplicates, max time to "
      "resume %s\n",
      failovers, heights.size(), gaps, duplicates, absl::FormatDuration(max_pause).c_str());
  EXPECT_EQ(gaps, 0);
  EXPECT_EQ(duplicates, 0);
  EXPECT_EQ(mismatch, "");
}

}  // namespace
}  // namespace gonka
