// bench/eventhub, event-hub catch-up speed (figure P3): event-hub catch-up from height 1 over heavy
// devchain blocks into JetStream, against devchain's own /block_results serving rate measured in
// the same run.
//
// Setup: a devchain with `--txs` synthetic txs per block, pre-produced to `--blocks` heights and
// served by gonka::net::HttpServer + devchain::RpcService; a real nats-server (JetStream, file
// storage) and redis-server from gonka/testing; one Emitter with a RedisLeaderElector, as
// edge-api wires it. Targets: >= 1,000 blocks/s, >= 0.8x devchain's rate, peak RSS <= 100 MB.
//
// The devchain runs in a child process forked from this binary before any thread exists, so the
// peak RSS printed (VmHWM of this process) is the hub's own: the chain keeps every block's JSON
// in memory (~240 MB for 2,000 200-tx blocks), which an edge-api replica never holds.
//
//   bazel build -c opt //bench/eventhub:catchup_bench
//   bazel-out/k8-opt/bin/bench/eventhub/catchup_bench --blocks=2000 --txs=200
#include <fcntl.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gonka/base/config.h"
#include "gonka/devchain/chain.h"
#include "gonka/devchain/rpc.h"
#include "gonka/election/fenced_write.h"
#include "gonka/election/redis_elector.h"
#include "gonka/eventhub/emitter.h"
#include "gonka/net/http_server.h"
#include "gonka/testing/http_test_client.h"
#include "gonka/testing/proc_stats.h"
#include "gonka/testing/servers.h"

namespace {

using gonka::testing::TestClient;

bool WriteAll(int fd, const void* data, size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = write(fd, p, size);
    if (n <= 0) return false;
    p += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

bool ReadAll(int fd, void* data, size_t size) {
  char* p = static_cast<char*>(data);
  while (size > 0) {
    ssize_t n = read(fd, p, size);
    if (n <= 0) return false;
    p += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

// The devchain child: produces the blocks, serves them, reports its port and the production time
// on `report_fd`, and exits when `stop_fd` reaches EOF (the parent closed it or died).
[[noreturn]] void RunDevchain(int blocks, int txs, const std::string& chain_id, int report_fd,
                              int stop_fd) {
  gonka::devchain::ChainOptions options;
  options.chain_id = chain_id;
  options.synthetic_txs_per_block = txs;
  gonka::devchain::Chain chain(options, nullptr);
  absl::Time start = absl::Now();
  for (int i = 0; i < blocks; ++i) chain.ProduceBlock();
  double produce_seconds = absl::ToDoubleSeconds(absl::Now() - start);
  gonka::net::HttpServerOptions server_options;
  server_options.name = "devchain";
  gonka::net::HttpServer server(server_options);
  gonka::devchain::RpcService rpc(&chain, &server, {});
  int32_t port = server.Start().ok() ? server.port() : 0;
  if (!WriteAll(report_fd, &port, sizeof(port)) ||
      !WriteAll(report_fd, &produce_seconds, sizeof(produce_seconds))) {
    _exit(2);
  }
  close(report_fd);
  char c;
  while (read(stop_fd, &c, 1) > 0) {
  }
  server.Stop(absl::Now() + absl::Seconds(1));
  _exit(0);
}

// /block_results of random heights from `clients` keep-alive connections for `seconds`.
double DevchainRate(int port, int clients, double seconds, int64_t max_height, uint64_t seed) {
  std::atomic<uint64_t> done{0}, failed{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      std::mt19937_64 rng(seed + c);
      auto client = std::make_unique<TestClient>(port);
      while (!stop.load()) {
        int64_t h = 1 + static_cast<int64_t>(rng() % max_height);
        auto res = client->Get(absl::StrCat("/block_results?height=", h));
        if (client->error() || res.result_int() != 200) {
          failed++;
          client = std::make_unique<TestClient>(port);
          continue;
        }
        done++;
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : threads) t.join();
  if (failed > 0) {
    std::fprintf(stderr, "warning: %llu failed devchain requests\n",
                 static_cast<unsigned long long>(failed.load()));
  }
  return done / seconds;
}

}  // namespace

int main(int argc, char** argv) {
  gonka::Config config("catchup_bench");
  int blocks = 2000, txs = 200, clients = 4;
  double seconds = 3;
  int64_t seed = 0;
  int fetchers = 4, window = 64, cursor_every = 100, batch = 4, inflight = 16;
  config.AddInt("blocks", &blocks, 2000, "heights to pre-produce and catch up").Range(10, 1000000);
  config.AddInt("txs", &txs, 200, "synthetic txs per block").Range(0, 100000);
  config.AddInt("clients", &clients, 4, "client threads measuring devchain's rate").Range(1, 64);
  config.AddDouble("seconds", &seconds, 3, "time measuring devchain's rate");
  config.AddInt("fetchers", &fetchers, 4, "Emitter fetcher threads").Range(1, 64);
  config.AddInt("window", &window, 64, "Emitter fetch window (heights)").Range(1, 10000);
  config.AddInt("batch", &batch, 4, "Emitter heights per JSON-RPC batch request").Range(1, 1000);
  config.AddInt("inflight", &inflight, 16, "Emitter publishes awaiting their ack").Range(1, 10000);
  config.AddInt("cursor_every", &cursor_every, 100, "Emitter cursor write every N heights")
      .Range(1, 1000000);
  config.AddInt("seed", &seed, 0, "seed of the random heights (0 = from the clock)");
  if (absl::Status s = config.Parse(argc, argv); !s.ok() || config.help_requested()) {
    std::fprintf(stderr, "%s\n%s\n", std::string(s.message()).c_str(), config.Usage().c_str());
    return s.ok() ? 0 : 2;
  }
  if (seed == 0) seed = static_cast<int64_t>(absl::ToUnixNanos(absl::Now()) & 0x7fffffff);
  const std::string chain_id = "catchup-bench";

  // Fork the devchain before this process starts any thread. Close-on-exec, so the servers
  // started below do not inherit the pipe that tells the child to stop.
  int report[2], stop[2];
  if (pipe2(report, O_CLOEXEC) != 0 || pipe2(stop, O_CLOEXEC) != 0) return 2;
  pid_t child = fork();
  if (child < 0) return 2;
  if (child == 0) {
    close(report[0]);
    close(stop[1]);
    RunDevchain(blocks, txs, chain_id, report[1], stop[0]);
  }
  close(report[1]);
  close(stop[0]);
  auto stop_child = [&] {
    if (stop[1] >= 0) close(stop[1]);
    stop[1] = -1;
    int status = 0;
    waitpid(child, &status, 0);
  };
  std::printf("seed %lld; producing %d blocks of %d txs in a devchain child process (pid %d)\n",
              static_cast<long long>(seed), blocks, txs, static_cast<int>(child));
  std::fflush(stdout);

  gonka::testing::RedisServer redis_server;
  gonka::testing::NatsServer nats_server;
  if (absl::Status s = redis_server.Start(); !s.ok()) {
    std::fprintf(stderr, "redis: %s\n", s.ToString().c_str());
    stop_child();
    return 2;
  }
  if (absl::Status s = nats_server.Start(); !s.ok()) {
    std::fprintf(stderr, "nats: %s\n", s.ToString().c_str());
    stop_child();
    return 2;
  }
  int32_t port = 0;
  double produce_seconds = 0;
  if (!ReadAll(report[0], &port, sizeof(port)) ||
      !ReadAll(report[0], &produce_seconds, sizeof(produce_seconds)) || port == 0) {
    std::fprintf(stderr, "devchain child failed\n");
    stop_child();
    return 2;
  }
  std::printf("devchain: %d blocks produced in %.1f s, serving on 127.0.0.1:%d\n", blocks,
              produce_seconds, port);

  // The denominator: as many concurrent clients as bench/devchain uses (the hub's fetchers are as
  // many by default); one sequential client for reference.
  double devchain_rate = DevchainRate(port, clients, seconds, blocks, static_cast<uint64_t>(seed));
  double devchain_rate_1 =
      DevchainRate(port, 1, seconds, blocks, static_cast<uint64_t>(seed) + 1000);
  std::printf(
      "devchain /block_results: %.0f blocks/s with %d keep-alive clients, %.0f with 1 "
      "(random heights)\n",
      devchain_rate, clients, devchain_rate_1);
  int64_t rss_before = gonka::testing::ProcStatusKb(0, "VmRSS");

  gonka::chain::CometClient comet(
      gonka::chain::CometClientOptions{.rpc_url = absl::StrCat("http://127.0.0.1:", port)});
  absl::StatusOr<std::unique_ptr<gonka::nats::JetStream>> js =
      gonka::nats::JetStream::Connect({.urls = {nats_server.url()}});
  if (!js.ok()) {
    std::fprintf(stderr, "nats connect: %s\n", js.status().ToString().c_str());
    stop_child();
    return 2;
  }
  gonka::redis::RedisOptions redis_options;
  redis_options.host = "127.0.0.1";
  redis_options.port = redis_server.port();
  gonka::redis::RedisClient redis(redis_options);
  gonka::election::RedisFence fence(&redis, "hub");
  gonka::election::LeaderElectorOptions elector_options;
  elector_options.identity = "bench-replica";
  absl::StatusOr<std::unique_ptr<gonka::election::LeaderElector>> elector =
      gonka::election::NewRedisLeaderElector(redis_options, "hub", elector_options);
  if (!elector.ok()) {
    std::fprintf(stderr, "elector: %s\n", elector.status().ToString().c_str());
    stop_child();
    return 2;
  }
  gonka::eventhub::EmitterOptions options;
  options.chain_id = chain_id;
  options.start_height = 1;
  options.poll_interval = absl::Milliseconds(100);
  options.fetchers = fetchers;
  options.fetch_window = window;
  options.fetch_batch = batch;
  options.max_inflight = inflight;
  options.cursor_every = cursor_every;
  gonka::eventhub::Emitter emitter(options, &comet, js->get(), &fence, elector->get());

  const pid_t nats_pid = nats_server.pid();
  const double cpu_hub0 = gonka::testing::ProcCpuSeconds(0),
               cpu_chain0 = gonka::testing::ProcCpuSeconds(child),
               cpu_nats0 = gonka::testing::ProcCpuSeconds(nats_pid);
  absl::Time start = absl::Now();
  if (absl::Status s = emitter.Start(); !s.ok()) {
    std::fprintf(stderr, "emitter: %s\n", s.ToString().c_str());
    stop_child();
    return 2;
  }
  if (absl::Status s = (*elector)->Start(); !s.ok()) {
    std::fprintf(stderr, "elector: %s\n", s.ToString().c_str());
    stop_child();
    return 2;
  }
  absl::Time first = absl::InfinitePast();
  absl::Time deadline = start + absl::Seconds(600);
  int64_t last_progress = 0;
  absl::Time last_progress_time = absl::Now();
  while (emitter.last_emitted() < blocks && absl::Now() < deadline) {
    int64_t at = emitter.last_emitted();
    if (at > 0 && first == absl::InfinitePast()) first = absl::Now();
    if (at != last_progress) {
      last_progress = at;
      last_progress_time = absl::Now();
    } else if (absl::Now() - last_progress_time > absl::Seconds(30)) {
      break;  // stuck
    }
    absl::SleepFor(absl::Milliseconds(1));
  }
  absl::Time end = absl::Now();
  const double cpu_hub = gonka::testing::ProcCpuSeconds(0) - cpu_hub0,
               cpu_chain = gonka::testing::ProcCpuSeconds(child) - cpu_chain0,
               cpu_nats = gonka::testing::ProcCpuSeconds(nats_pid) - cpu_nats0;
  int64_t emitted = emitter.last_emitted();
  emitter.Stop();
  (*elector)->Stop();
  int64_t hwm = gonka::testing::ProcStatusKb(0, "VmHWM");

  absl::StatusOr<gonka::nats::StreamInfo> info = (*js)->GetStreamInfo("BLOCKS", "blocks");
  stop_child();
  if (emitted < blocks) {
    std::fprintf(stderr, "catch-up did not finish: emitted up to %lld of %d (health: %s)\n",
                 static_cast<long long>(emitted), blocks, emitter.health().ToString().c_str());
    return 1;
  }
  if (!info.ok() || info->messages != static_cast<uint64_t>(blocks) ||
      info->subject_last_msg_id != absl::StrCat(chain_id, "/", blocks)) {
    std::fprintf(
        stderr, "stream check failed: %s\n",
        info.ok()
            ? absl::StrCat(info->messages, " messages, last id ", info->subject_last_msg_id).c_str()
            : info.status().ToString().c_str());
    return 1;
  }
  double total = absl::ToDoubleSeconds(end - start);
  double steady = first == absl::InfinitePast() ? total : absl::ToDoubleSeconds(end - first);
  double rate = blocks / total;
  std::printf(
      "catch-up: %d blocks in %.2f s from Start() = %.0f blocks/s (%.0f blocks/s from the first "
      "emit); stream holds %llu records (%.1f KB each), last id %s\n",
      blocks, total, rate, (blocks - 1) / steady, static_cast<unsigned long long>(info->messages),
      info->bytes / 1024.0 / std::max<uint64_t>(1, info->messages),
      info->subject_last_msg_id.c_str());
  std::printf(
      "emitter: %d fetchers, window %d heights, %d heights per batch request, %d publishes in "
      "flight, cursor every %d heights or 200 ms\n",
      fetchers, window, batch, inflight, cursor_every);
  std::printf(
      "P3: %.0f blocks/s (limit >= 1000); ratio to devchain's /block_results rate %.2f "
      "(limit >= 0.80; %.2f of its 1-client rate)\n",
      rate, rate / devchain_rate, rate / devchain_rate_1);
  double wall = absl::ToDoubleSeconds(end - start);
  std::printf(
      "cpu during catch-up (%.2f s wall, %ld cores): hub %.2f s (%.0f us/block), devchain %.2f s "
      "(%.0f us/block), nats-server %.2f s (%.0f us/block); machine busy %.0f%%\n",
      wall, sysconf(_SC_NPROCESSORS_ONLN), cpu_hub, 1e6 * cpu_hub / blocks, cpu_chain,
      1e6 * cpu_chain / blocks, cpu_nats, 1e6 * cpu_nats / blocks,
      100 * (cpu_hub + cpu_chain + cpu_nats) / (wall * sysconf(_SC_NPROCESSORS_ONLN)));
  std::printf("memory: peak RSS (VmHWM) %.1f MB (limit <= 100 MB); RSS before catch-up %.1f MB\n",
              hwm / 1024.0, rss_before / 1024.0);
  return 0;
}
