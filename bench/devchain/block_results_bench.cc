// bench/devchain: how fast devchain serves /block_results of 200-tx blocks over loopback HTTP
// (keep-alive, several client threads) — the denominator of the event hub's catch-up benchmark.
// Prints blocks/s, the ratio to the 2,000 blocks/s target, and the ratio to a raw gonka/net
// server returning the same bytes from memory (measured in the same run).
//
//   bazel run -c opt //bench/devchain:block_results_bench -- --seconds=5 --clients=4
#include <atomic>
#include <cstdio>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gonka/base/config.h"
#include "gonka/devchain/chain.h"
#include "gonka/devchain/rpc.h"
#include "gonka/net/http_server.h"
#include "gonka/testing/http_test_client.h"

namespace {

using gonka::testing::TestClient;

// Fetches random heights for `seconds`; returns responses per second (each one a full block).
double Drive(int port, int clients, double seconds, int64_t max_height, size_t* bytes) {
  std::atomic<uint64_t> done{0}, failed{0}, total_bytes{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      std::mt19937_64 rng(c + 1);
      auto client = std::make_unique<TestClient>(port);
      while (!stop.load()) {
        int64_t h = 1 + static_cast<int64_t>(rng() % max_height);
        auto res = client->Get(absl::StrCat("/block_results?height=", h));
        if (client->error() || res.result_int() != 200) {
          failed++;
          client = std::make_unique<TestClient>(port);
          continue;
        }
        total_bytes += res.body().size();
        done++;
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : threads) t.join();
  if (failed > 0)
    std::fprintf(stderr, "warning: %llu failed requests\n",
                 static_cast<unsigned long long>(failed.load()));
  *bytes = done ? total_bytes / done : 0;
  return done / seconds;
}

}  // namespace

int main(int argc, char** argv) {
  gonka::Config config("block_results_bench");
  double seconds = 5;
  int clients = 4, blocks = 300, txs = 200;
  config.AddDouble("seconds", &seconds, 5, "measurement time per server");
  config.AddInt("clients", &clients, 4, "client threads").Range(1, 256);
  config.AddInt("blocks", &blocks, 300, "blocks to produce").Range(1, 100000);
  config.AddInt("txs", &txs, 200, "synthetic txs per block").Range(0, 100000);
  if (absl::Status s = config.Parse(argc, argv); !s.ok() || config.help_requested()) {
    std::fprintf(stderr, "%s\n%s\n", std::string(s.message()).c_str(), config.Usage().c_str());
    return s.ok() ? 0 : 2;
  }

  gonka::devchain::ChainOptions options;
  options.synthetic_txs_per_block = txs;
  gonka::devchain::Chain chain(options, nullptr);
  for (int i = 0; i < blocks; ++i) chain.ProduceBlock();
  gonka::net::HttpServerOptions server_options;
  server_options.name = "devchain-bench";
  gonka::net::HttpServer server(server_options);
  gonka::devchain::RpcService rpc(&chain, &server, {});
  if (!server.Start().ok()) return 2;

  // Baseline: the same payload size served from memory by a bare handler.
  std::string payload = (*chain.GetBlock(blocks / 2))->block_results_json;
  gonka::net::HttpServerOptions raw_options;
  raw_options.name = "raw-bench";
  gonka::net::HttpServer raw(raw_options);
  raw.Handle("GET", "/block_results", [&payload](const gonka::net::HttpRequest&) {
    return gonka::net::HttpResponse::Json(200, payload);
  });
  if (!raw.Start().ok()) return 2;

  size_t bytes = 0, raw_bytes = 0;
  double devchain_rate = Drive(server.port(), clients, seconds, blocks, &bytes);
  double raw_rate = Drive(raw.port(), clients, seconds, blocks, &raw_bytes);
  std::printf("block_results: %d txs/block, %zu bytes/response, %d clients\n", txs, bytes, clients);
  std::printf("devchain: %.0f blocks/s; raw gonka/net server, same bytes: %.0f responses/s\n",
              devchain_rate, raw_rate);
  std::printf("ratio devchain/target(2000 blocks/s) = %.2f (limit >= 1.00)\n",
              devchain_rate / 2000.0);
  std::printf("ratio devchain/raw server = %.2f\n", devchain_rate / raw_rate);
  return 0;
}
