#include "tests/partitions/eventhub_partitions.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gonka/testing/block_checker.h"
#include "gonka/nats/jetstream.h"
#include "gonka/testing/hosts.h"
#include "gonka/testing/process.h"
#include "gonka/testing/servers.h"
#include "gonka/testing/tcp_relay.h"

namespace gonka {
namespace {

// Setup steps that must succeed; the experiment says which one did not.
#define PARTITION_CHECK(expr)             \
  if (absl::Status _s = (expr); !_s.ok()) \
  return absl::InternalError(             \
      absl::StrCat("partition chaos: ", #expr, " failed at line ", __LINE__, ": ", _s.ToString()))

constexpr int kRedisHost = 0;
constexpr int kFirstReplicaHost = 1;  // replicas 0..2 on hosts 1..3
constexpr int kFirstNatsHost = 4;     // NATS nodes 0..2 on hosts 4..6
constexpr int kChainHost = 7;
constexpr int kReplicas = 3;

const std::vector<std::string>& FaultTypes() {
  static const auto* types = new std::vector<std::string>{
      "leader-redis-cut",      // both ways, past the lease
      "leader-redis-one-way",  // only leader -> Redis, or only Redis -> leader
      "leader-nats-majority",  // the leader reaches one NATS node of three
      "nats-node-isolated",    // one NATS node cut from its peers, clients still reach it
      "leader-chain-cut",      // the leader cannot reach devchain
      "leader-link-down",      // the leader's host loses its link
      "leader-redis-latency",  // the leader's Redis path slows past the renew deadline
      "redis-cut+kill-new",    // leader cut from Redis, then kill -9 of the replica taking over
  };
  return *types;
}

bool IsLeader(testing::DaemonProcess& replica) {
  absl::StatusOr<testing::HttpResponse> r =
      testing::HttpGet(replica.host(), replica.port(), "/v1/status", absl::Milliseconds(300));
  return r.ok() && r->status == 200 && r->body.find("\"leader\":true") != std::string::npos;
}

}  // namespace

absl::Duration FaultTypeStats::Quantile(double q) const {
  if (pauses.empty()) return absl::ZeroDuration();
  std::vector<absl::Duration> sorted = pauses;
  std::sort(sorted.begin(), sorted.end());
  size_t i = static_cast<size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  return sorted[std::min(sorted.size() - 1, i == 0 ? 0 : i - 1)];
}

std::string PartitionChaosResult::ToString() const {
  return absl::StrCat("seed=", seed, " faults=", faults, " heights=", heights,
                      " first=", first_height, " gaps=", gaps, " duplicates=", duplicates,
                      " reorders=", reorders, " lingering_two_leaders=", lingering_two_leaders,
                      content_mismatch.empty() ? "" : " mismatch=" + content_mismatch);
}

std::string PartitionChaosResult::PauseTable() const {
  std::string out;
  for (const auto& [type, stats] : per_type) {
    absl::StrAppend(&out, "  ", type, ": n=", stats.injected,
                    " leader_changed=", stats.leader_changed,
                    " pause p50=", absl::FormatDuration(stats.Quantile(0.5)),
                    " p99=", absl::FormatDuration(stats.Quantile(0.99)),
                    " max=", absl::FormatDuration(stats.Quantile(1.0)), "\n");
  }
  return out;
}

absl::StatusOr<PartitionChaosResult> RunEventHubPartitions(const PartitionChaosOptions& options) {
  for (const std::string& type : options.types) {
    if (std::find(FaultTypes().begin(), FaultTypes().end(), type) == FaultTypes().end()) {
      return absl::InvalidArgumentError(absl::StrCat("partition chaos: unknown fault type ", type,
                                                     " (known: ", absl::StrJoin(FaultTypes(), ", "),
                                                     ")"));
    }
  }
  const uint64_t seed = options.seed != 0 ? options.seed : std::random_device()();
  std::printf("eventhub partitions: seed %llu, %d faults (GONKA_CHAOS_SEED=%llu replays)\n",
              static_cast<unsigned long long>(seed), options.faults,
              static_cast<unsigned long long>(seed));
  std::fflush(stdout);
  std::mt19937_64 rng(seed);
  PartitionChaosResult result;
  result.seed = seed;

  absl::StatusOr<std::unique_ptr<testing::Hosts>> made = testing::Hosts::Create({.hosts = 8});
  if (!made.ok()) return made.status();
  testing::Hosts& hosts = **made;

  testing::RedisServer::Options redis_options;
  redis_options.appendonly = true;
  testing::RedisServer redis(redis_options);
  redis.Place(hosts.placement(kRedisHost));
  PARTITION_CHECK(redis.Start());

  testing::NatsCluster::Options nats_options;
  for (int n = 0; n < 3; ++n)
    nats_options.placements.push_back(hosts.placement(kFirstNatsHost + n));
  testing::NatsCluster nats(nats_options);
  PARTITION_CHECK(nats.Start());
  const std::vector<std::string> nats_urls = nats.url_list();

  testing::DaemonProcess::Options chain_options;
  chain_options.binary = "daemons/devchain/devchain";
  chain_options.args = {"--bind={{HOST}}",        "--port={{PORT}}",   "--chain-id=partitions",
                        "--block-interval=100ms", "--synthetic-txs=5", "--drain-announce=0s",
                        "--grpc-address=",        "--log-level=warn"};
  testing::DaemonProcess devchain(chain_options);
  devchain.Place(hosts.placement(kChainHost));
  PARTITION_CHECK(devchain.Start());

  // Each replica reaches Redis through a relay on its own host (the latency fault's knob); a cut
  // between the replica's host and Redis's host cuts the relay's upstream too.
  std::vector<std::unique_ptr<testing::TcpRelay>> relays;
  std::vector<std::unique_ptr<testing::DaemonProcess>> replicas;
  for (int i = 0; i < kReplicas; ++i) {
    const int host = kFirstReplicaHost + i;
    absl::StatusOr<std::unique_ptr<testing::TcpRelay>> relay =
        testing::TcpRelay::Start({.listen_ip = hosts.ip(host),
                                  .target_ip = redis.host(),
                                  .target_port = redis.port(),
                                  .network_namespace = hosts.netns(host)});
    if (!relay.ok()) return relay.status();
    relays.push_back(std::move(*relay));
    testing::DaemonProcess::Options o;
    o.binary = "daemons/edge-api/edge-api";
    o.name = absl::StrCat("edge-api-", i);
    o.args = {"--bind={{HOST}}",
              "--port={{PORT}}",
              "--chain-id=partitions",
              absl::StrCat("--chain-rpc-url=", devchain.url()),
              absl::StrCat("--nats-url=", absl::StrJoin(nats_urls, ",")),
              "--stream-replicas=3",
              absl::StrCat("--redis-url=redis://", relays.back()->address()),
              absl::StrCat("--identity=replica-", i),
              "--start-height=1",
              "--drain-announce=200ms",
              "--shutdown-grace=5s",
              "--log-level=warn"};
    replicas.push_back(std::make_unique<testing::DaemonProcess>(o));
    replicas.back()->Place(hosts.placement(host));
    PARTITION_CHECK(replicas.back()->Start());
  }

  absl::StatusOr<std::unique_ptr<nats::JetStream>> js =
      nats::JetStream::Connect({.urls = nats_urls});
  if (!js.ok()) return js.status();
  PARTITION_CHECK(testing::WaitFor([&] { return (*js)->GetStreamInfo("BLOCKS").ok(); },
                                   absl::Seconds(30), absl::Milliseconds(50), "the BLOCKS stream"));
  testing::BlockChecker checker({.durable = "partition-checker", .rpc_url = devchain.url()},
                                js->get());
  PARTITION_CHECK(checker.Start());

  auto leader = [&]() -> int {
    for (int i = 0; i < kReplicas; ++i) {
      if (replicas[i]->IsRunning() && IsLeader(*replicas[i])) return i;
    }
    return -1;
  };
  auto leaders = [&]() -> int {
    int n = 0;
    for (int i = 0; i < kReplicas; ++i) n += replicas[i]->IsRunning() && IsLeader(*replicas[i]);
    return n;
  };
  auto pause_since = [&](absl::Time since) { return checker.LongestPauseSince(since); };

  std::vector<std::string> schedule;
  while (static_cast<int>(schedule.size()) < options.faults) {
    std::vector<std::string> round = options.types.empty() ? FaultTypes() : options.types;
    std::shuffle(round.begin(), round.end(), rng);
    for (const std::string& t : round) {
      if (static_cast<int>(schedule.size()) < options.faults) schedule.push_back(t);
    }
  }
  auto jitter = [&](absl::Duration base) {
    return base + absl::Milliseconds(static_cast<int64_t>(rng() % 1000));
  };

  for (int f = 0; f < static_cast<int>(schedule.size()); ++f) {
    const std::string& type = schedule[f];
    int l = -1;
    PARTITION_CHECK(testing::WaitFor([&] { return (l = leader()) >= 0; }, absl::Seconds(30),
                                     absl::Milliseconds(50), "a leader among the replicas"));
    absl::SleepFor(absl::Milliseconds(200 + rng() % 500));
    const int leader_host = kFirstReplicaHost + l;
    const int64_t before = checker.last_height();
    const absl::Time t0 = absl::Now();
    std::string detail;
    int killed = -1;
    if (type == "leader-redis-cut") {
      PARTITION_CHECK(hosts.Partition({leader_host}, {kRedisHost}));
      absl::SleepFor(jitter(options.cut));
    } else if (type == "leader-redis-one-way") {
      bool outbound = rng() % 2 == 0;
      detail = outbound ? " (leader->redis dropped)" : " (redis->leader dropped)";
      PARTITION_CHECK(outbound ? hosts.Partition({leader_host}, {kRedisHost}, true)
                               : hosts.Partition({kRedisHost}, {leader_host}, true));
      absl::SleepFor(jitter(options.cut));
    } else if (type == "leader-nats-majority") {
      int keep = static_cast<int>(rng() % 3);
      std::vector<int> cut;
      for (int n = 0; n < 3; ++n) {
        if (n != keep) cut.push_back(kFirstNatsHost + n);
      }
      detail = absl::StrCat(" (keeps n", keep, ")");
      PARTITION_CHECK(hosts.Partition({leader_host}, cut));
      absl::SleepFor(jitter(options.cut));
    } else if (type == "nats-node-isolated") {
      int lonely = static_cast<int>(rng() % 3);
      std::vector<int> peers;
      for (int n = 0; n < 3; ++n) {
        if (n != lonely) peers.push_back(kFirstNatsHost + n);
      }
      detail = absl::StrCat(" (n", lonely, ")");
      PARTITION_CHECK(hosts.Partition({kFirstNatsHost + lonely}, peers));
      absl::SleepFor(jitter(options.cut));
    } else if (type == "leader-chain-cut") {
      PARTITION_CHECK(hosts.Partition({leader_host}, {kChainHost}));
      absl::SleepFor(jitter(options.cut));
    } else if (type == "leader-link-down") {
      PARTITION_CHECK(hosts.LinkDown(leader_host));
      absl::SleepFor(jitter(options.cut));
      PARTITION_CHECK(hosts.LinkUp(leader_host));
    } else if (type == "leader-redis-latency") {
      // Every Redis round trip of the leader now takes >= 2 x 1.2 s: past the 1.5 s renew deadline.
      relays[l]->SetDelay(absl::Milliseconds(1200));
      absl::SleepFor(jitter(options.cut));
      relays[l]->SetDelay(absl::ZeroDuration());
    } else if (type == "redis-cut+kill-new") {
      PARTITION_CHECK(hosts.Partition({leader_host}, {kRedisHost}));
      int next = -1;
      absl::Status moved = testing::WaitFor(
          [&] {
            next = leader();
            return next >= 0 && next != l;
          },
          absl::Seconds(15), absl::Milliseconds(50), "a new leader");
      if (moved.ok()) {
        killed = next;
        detail = absl::StrCat(" (killed replica-", next, ")");
        PARTITION_CHECK(replicas[next]->Kill());
      }
      absl::SleepFor(jitter(options.cut / 2));
    }
    PARTITION_CHECK(hosts.Heal());
    std::printf("fault %d/%d %s%s on replica-%d at height %lld\n", f + 1, options.faults,
                type.c_str(), detail.c_str(), l, static_cast<long long>(before));
    std::fflush(stdout);
    absl::Status resumed = testing::WaitForValue(
        [&] { return checker.last_height(); }, [&](int64_t h) { return h >= before + 10; },
        absl::Seconds(45), absl::Milliseconds(20),
        absl::StrCat("emission to resume after ", type, " (height ", before + 10, ")"));
    if (!resumed.ok()) {
      // Where it is stuck: the stream (is the leader still publishing?), the checker's consumer,
      // and who claims leadership.
      std::string where;
      absl::StatusOr<nats::StreamInfo> info = (*js)->GetStreamInfo("BLOCKS");
      absl::StrAppend(
          &where, "; stream: ",
          info.ok() ? absl::StrCat("last_sequence=", info->last_sequence, " leader=", info->leader)
                    : info.status().ToString());
      absl::StatusOr<nats::ConsumerState> consumer =
          (*js)->GetConsumerState("BLOCKS", "partition-checker");
      absl::StrAppend(&where, "; checker consumer: ",
                      consumer.ok()
                          ? absl::StrCat("delivered=", consumer->delivered_stream_sequence,
                                         " pending=", consumer->num_pending,
                                         " ack_pending=", consumer->num_ack_pending)
                          : consumer.status().ToString());
      absl::StrAppend(&where, "; leaders claimed: ", leaders());
      for (int n = 0; n < 3; ++n) {
        absl::StatusOr<std::string> meta = nats.node(n).MetaLeader();
        absl::StrAppend(&where, "; n", n, " sees meta leader ",
                        meta.ok() ? *meta : meta.status().ToString());
        // The node's own view of the stream (its state and the replicas' lag), from /jsz.
        absl::StatusOr<std::string> jsz = nats.node(n).MonitorGet("/jsz?streams=true");
        size_t at = jsz.ok() ? jsz->find("\"name\": \"BLOCKS\"") : std::string::npos;
        if (at != std::string::npos) {
          std::string view = jsz->substr(at, 900);
          view.erase(std::remove_if(view.begin(), view.end(),
                                    [](char c) { return c == '\n' || c == ' '; }),
                     view.end());
          absl::StrAppend(&where, " [", view, "]");
        }
      }
      return absl::InternalError(absl::StrCat("seed ", seed, " fault ", f + 1, " ", type, detail,
                                              ": ", resumed.ToString(), where));
    }
    FaultTypeStats& stats = result.per_type[type];
    ++stats.injected;
    stats.pauses.push_back(pause_since(t0));
    int now_leader = leader();
    if (now_leader != l) ++stats.leader_changed;
    if (!testing::WaitFor([&] { return leaders() <= 1; }, absl::Seconds(5)).ok()) {
      ++result.lingering_two_leaders;
    }
    if (killed >= 0) PARTITION_CHECK(replicas[killed]->Start());
    ++result.faults;
  }
  checker.Stop();
  testing::BlockChecker::Summary summary = checker.Summarize();
  if (summary.heights == 0) return absl::InternalError("partition chaos: the checker read nothing");
  result.duplicates = summary.duplicates;
  result.gaps = summary.gaps;
  result.reorders = summary.reorders;
  result.heights = summary.heights;
  result.first_height = summary.first_height;
  result.content_mismatch = summary.mismatch;
  return result;
}

}  // namespace gonka
