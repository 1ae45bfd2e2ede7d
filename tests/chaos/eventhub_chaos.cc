#include "tests/chaos/eventhub_chaos.h"

#include <signal.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gonka/testing/block_checker.h"
#include "gonka/nats/jetstream.h"
#include "gonka/net/http_client.h"
#include "gonka/testing/process.h"
#include "gonka/testing/servers.h"

namespace gonka {
namespace {

// Setup steps (and waits) that must succeed: the experiment reports why it could not run, with
// the status's message when `expr` is a Status (a WaitFor names what it waited for).
#define CHAOS_CHECK(expr)                                                                       \
  if (auto _ok = (expr); !::gonka::chaos_internal::Ok(_ok))                                     \
  return absl::InternalError(absl::StrCat("chaos setup: ", #expr, " failed at line ", __LINE__, \
                                          ::gonka::chaos_internal::Why(_ok)))

}  // namespace

namespace chaos_internal {
bool Ok(bool b) { return b; }
bool Ok(const absl::Status& s) { return s.ok(); }
std::string Why(bool) { return ""; }
std::string Why(const absl::Status& s) { return absl::StrCat(": ", s.ToString()); }
}  // namespace chaos_internal

namespace {

// GET /v1/status of a replica: {"leader":true,...}.
bool IsLeader(testing::DaemonProcess& replica) {
  absl::StatusOr<testing::HttpResponse> r =
      testing::HttpGet("127.0.0.1", replica.port(), "/v1/status", absl::Milliseconds(300));
  return r.ok() && r->status == 200 && r->body.find("\"leader\":true") != std::string::npos;
}

}  // namespace

std::string ChaosResult::ToString() const {
  return absl::StrCat(
      "seed=", seed, " failovers=", failovers, " heights=", heights, " first=", first_height,
      " gaps=", gaps, " duplicates=", duplicates, " reorders=", reorders,
      " max_emission_pause=", absl::FormatDuration(max_emission_pause), " kill9_failovers=", kills,
      " kill9_pause_p50=", absl::FormatDuration(kill_pause_p50),
      " p99=", absl::FormatDuration(kill_pause_p99), " max=", absl::FormatDuration(kill_pause_max),
      content_mismatch.empty() ? "" : " mismatch=" + content_mismatch);
}

absl::StatusOr<ChaosResult> RunEventHubChaos(const ChaosOptions& options) {
  uint64_t seed = options.seed != 0 ? options.seed : std::random_device()();
  int target = options.failovers;
  std::printf("eventhub chaos: seed %llu, %d failovers\n", static_cast<unsigned long long>(seed),
              target);
  std::mt19937_64 rng(seed);
  ChaosResult result;
  result.seed = seed;

  // Leases and the cursor: on Redis, or (coordination "nats") in JetStream KV with no Redis
  // process at all.
  const bool on_redis = options.coordination != "nats";
  std::unique_ptr<testing::RedisServer> redis;
  if (on_redis) {
    testing::RedisServer::Options redis_options;
    redis_options.appendonly = true;  // the fencing epoch must survive a Redis crash
    redis = std::make_unique<testing::RedisServer>(redis_options);
    CHAOS_CHECK(redis->Start().ok());
  }
  // A single JetStream server, or a 3-node cluster with an R3 block stream.
  std::unique_ptr<testing::NatsServer> nats_single;
  std::unique_ptr<testing::NatsCluster> nats_cluster;
  std::vector<std::string> nats_urls;
  if (options.nats_cluster) {
    nats_cluster = std::make_unique<testing::NatsCluster>();
    CHAOS_CHECK(nats_cluster->Start().ok());
    nats_urls = nats_cluster->url_list();
  } else {
    nats_single = std::make_unique<testing::NatsServer>();
    CHAOS_CHECK(nats_single->Start().ok());
    nats_urls = {nats_single->url()};
  }
  testing::DaemonProcess::Options chain_options;
  chain_options.binary = "daemons/devchain/devchain";
  chain_options.args = {"--bind=127.0.0.1",       "--port={{PORT}}",   "--chain-id=chaos",
                        "--block-interval=100ms", "--synthetic-txs=5", "--drain-announce=0s",
                        "--grpc-address=",        "--log-level=warn"};
  testing::DaemonProcess devchain(chain_options);
  CHAOS_CHECK(devchain.Start().ok());

  std::vector<std::unique_ptr<testing::DaemonProcess>> replicas;
  for (int i = 0; i < 3; ++i) {
    testing::DaemonProcess::Options o;
    o.binary = "daemons/edge-api/edge-api";
    o.name = absl::StrCat("edge-api-", i);
    o.args = {"--bind=127.0.0.1",
              "--port={{PORT}}",
              "--chain-id=chaos",
              absl::StrCat("--chain-rpc-url=", devchain.url()),
              absl::StrCat("--nats-url=", absl::StrJoin(nats_urls, ",")),
              absl::StrCat("--stream-replicas=", options.nats_cluster ? 3 : 1),
              on_redis ? absl::StrCat("--redis-url=redis://", redis->address())
                       : std::string("--coordination=nats"),
              absl::StrCat("--identity=replica-", i),
              "--start-height=1",
              "--drain-announce=200ms",
              "--shutdown-grace=5s",
              "--log-level=warn"};
    replicas.push_back(std::make_unique<testing::DaemonProcess>(o));
    CHAOS_CHECK(replicas.back()->Start().ok());
  }

  auto js = nats::JetStream::Connect({.urls = nats_urls});
  CHAOS_CHECK(js.ok());
  // The checker: reads every record from height 1 and compares it with devchain's own block.
  CHAOS_CHECK(testing::WaitFor([&] { return (*js)->GetStreamInfo("BLOCKS").ok(); },
                               absl::Seconds(20), absl::Milliseconds(20), "the BLOCKS stream"));
  testing::BlockChecker checker({.durable = "chaos-checker", .rpc_url = devchain.url()},
                                js->get());
  CHAOS_CHECK(checker.Start().ok());

  auto leader = [&]() -> int {
    for (int i = 0; i < 3; ++i) {
      if (replicas[i]->IsRunning() && IsLeader(*replicas[i])) return i;
    }
    return -1;
  };
  net::HttpClient http;
  int failovers = 0;
  absl::Duration max_pause;
  std::vector<absl::Time> kill_times;
  for (int round = 0; failovers < target; ++round) {
    int l = -1;
    CHAOS_CHECK(testing::WaitFor([&] { return (l = leader()) >= 0; }, absl::Seconds(20),
                                 absl::Milliseconds(20), "a leader among the replicas"));
    absl::SleepFor(absl::Milliseconds(300 + rng() % 700));
    int64_t before = checker.last_height();
    int fault = static_cast<int>(rng() % (options.nats_cluster ? 8 : 6));
    absl::Time t0 = absl::Now();
    switch (fault) {
      case 0:  // crash
        kill_times.push_back(absl::Now());
        CHAOS_CHECK(replicas[l]->Kill().ok());
        break;
      case 1:  // pause past the lease, then resume: the zombie must not emit
        CHAOS_CHECK(replicas[l]->Pause().ok());
        absl::SleepFor(absl::Seconds(3));
        CHAOS_CHECK(replicas[l]->Resume().ok());
        break;
      case 2:  // drain (rolling restart)
        CHAOS_CHECK(replicas[l]->Stop().ok());
        break;
      case 3:  // the chain drops every WebSocket: polling must carry on
        http.Post(devchain.url() + "/devchain/fault/drop_websockets", "").status().IgnoreError();
        break;
      case 4: {  // /block_results of an upcoming height fails for a while: stall, never skip
        int64_t h = checker.last_height() + 3;
        std::string knob =
            absl::StrCat(devchain.url(), "/devchain/fault/fail_block_results?height=", h);
        http.Post(knob + "&on=true", "").status().IgnoreError();
        absl::SleepFor(absl::Milliseconds(1500));
        http.Post(knob + "&on=false", "").status().IgnoreError();
        break;
      }
      case 5:  // the lease and cursor store crashes and restarts
        if (on_redis) {
          CHAOS_CHECK(redis->Kill().ok());
          absl::SleepFor(absl::Milliseconds(500));
          CHAOS_CHECK(redis->Restart().ok());
        } else if (nats_single != nullptr) {  // JetStream KV: the one NATS server
          CHAOS_CHECK(nats_single->Kill().ok());
          absl::SleepFor(absl::Milliseconds(500));
          CHAOS_CHECK(nats_single->Restart().ok());
        }
        break;
      case 6: {  // one NATS node crashes (maybe the stream leader), then comes back
        int n = static_cast<int>(rng() % nats_cluster->size());
        CHAOS_CHECK(nats_cluster->node(n).Kill().ok());
        absl::SleepFor(absl::Seconds(2));
        CHAOS_CHECK(nats_cluster->node(n).Restart().ok());
        break;
      }
      default:  // the whole NATS cluster crashes and restarts
        CHAOS_CHECK(nats_cluster->KillAll().ok());
        CHAOS_CHECK(nats_cluster->RestartAll().ok());
        break;
    }
    // Emission resumes: the checker sees new heights.
    CHAOS_CHECK(testing::WaitForValue(
        [&] { return checker.last_height(); }, [&](int64_t h) { return h >= before + 10; },
        absl::Seconds(30), absl::Milliseconds(20),
        absl::StrCat("emission to resume (height ", before + 10, ")")));
    max_pause = std::max(max_pause, absl::Now() - t0);
    if (fault <= 2) ++failovers;
    if (!replicas[l]->IsRunning()) CHAOS_CHECK(replicas[l]->Start().ok());
  }
  checker.Stop();
  testing::BlockChecker::Summary summary = checker.Summarize();
  CHAOS_CHECK(summary.heights > 0);
  result.duplicates = summary.duplicates;
  result.gaps = summary.gaps;
  result.reorders = summary.reorders;
  result.max_emission_pause = summary.max_pause;
  // Publisher-side pauses: the stored times of the records around each kill -9.
  // The leader keeps emitting meanwhile: read up to what the stream holds now.
  std::vector<absl::Time> stored;
  absl::StatusOr<nats::StreamInfo> info = (*js)->GetStreamInfo("BLOCKS");
  CHAOS_CHECK(info.ok());
  absl::StatusOr<std::unique_ptr<nats::PullConsumer>> reader =
      (*js)->Consumer({.stream = "BLOCKS", .durable = "pause-reader", .filter_subject = "blocks"});
  CHAOS_CHECK(reader.ok());
  bool done = false;
  while (!done) {
    absl::StatusOr<std::vector<nats::JsMessage>> batch =
        (*reader)->Fetch(500, absl::Milliseconds(500));
    if (!batch.ok() || batch->empty()) break;
    for (nats::JsMessage& m : *batch) {
      stored.push_back(m.timestamp());
      m.Ack().IgnoreError();
      done = done || m.stream_sequence() >= info->last_sequence;
    }
  }
  std::vector<absl::Duration> pauses;
  for (absl::Time killed : kill_times) {
    auto after = std::upper_bound(stored.begin(), stored.end(), killed);
    if (after == stored.begin() || after == stored.end()) continue;
    pauses.push_back(*after - *(after - 1));
  }
  std::sort(pauses.begin(), pauses.end());
  result.kills = static_cast<int>(pauses.size());
  if (!pauses.empty()) {
    auto at = [&](double q) {
      size_t i = static_cast<size_t>(std::ceil(q * static_cast<double>(pauses.size()))) - 1;
      return pauses[std::min(i, pauses.size() - 1)];
    };
    result.kill_pause_p50 = at(0.5);
    result.kill_pause_p99 = at(0.99);
    result.kill_pause_max = pauses.back();
  }
  result.failovers = failovers;
  result.heights = summary.heights;
  result.first_height = summary.first_height;
  result.content_mismatch = summary.mismatch;
  return result;
}
}  // namespace gonka
