// devchain: a development chain speaking CometBFT 0.38 JSON-RPC and WebSocket on one port, with
// blocks on an interval, Gonka-like epoch/phase events, pruning and fault knobs. The embedded
// chain of tools/demo and of the integration tests. See docs/devchain.md.
//
//   devchain --port=26657 --chain-id=gonka-devnet --block-interval=1s --epoch-length=300
#include <optional>
#include <string>

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "gonka/base/log.h"
#include "gonka/crypto/hash.h"
#include "gonka/devchain/chain.h"
#include "gonka/devchain/cosmos_app.h"
#include "gonka/devchain/grpc_server.h"
#include "gonka/devchain/rpc.h"
#include "gonka/drain/daemon.h"

int main(int argc, char** argv) {
  gonka::Daemon daemon({.name = "devchain", .default_port = 26657});
  gonka::devchain::ChainOptions chain_options;
  gonka::Config& config = daemon.config();
  config.AddString("chain-id", &chain_options.chain_id, "gonka-devnet", "chain id (network)");
  config
      .AddDuration("block-interval", &chain_options.block_interval, absl::Seconds(1),
                   "time between blocks")
      .Positive();
  config
      .AddInt("epoch-length", &chain_options.epochs.epoch_length, 0,
              "blocks per epoch; 0 disables epoch/phase events")
      .Range(0, int64_t{1} << 40);
  config
      .AddInt("epoch-shift", &chain_options.epochs.epoch_shift, 0,
              "blocks every PoC start moves earlier (Gonka's epoch_shift; < --epoch-length)")
      .Range(0, int64_t{1} << 40);
  config
      .AddInt("poc-stage-duration", &chain_options.epochs.poc_stage_duration, 60,
              "PoC generation stage length in blocks")
      .Range(1, int64_t{1} << 30);
  config
      .AddInt("poc-validation-duration", &chain_options.epochs.poc_validation_duration, 20,
              "PoC validation stage length in blocks")
      .Range(1, int64_t{1} << 30);
  config
      .AddInt("set-new-validators-delay", &chain_options.epochs.set_new_validators_delay, 120,
              "blocks from the end of PoC validation to SetNewValidators")
      .Range(0, int64_t{1} << 30);
  config
      .AddInt("retain-blocks", &chain_options.retain_blocks, 0,
              "keep only this many recent blocks (0 = all); older heights answer as pruned")
      .Range(0, int64_t{1} << 40);
  config
      .AddInt("synthetic-txs", &chain_options.synthetic_txs_per_block, 0,
              "load mode: synthetic txs added to every block")
      .Range(0, 100000);
  config.AddString("data-dir", &chain_options.data_dir, "",
                   "keep blocks here so a restart continues with the same chain; empty = memory");
  std::string grpc_address;
  config.AddString("grpc-address", &grpc_address, "127.0.0.1:9090",
                   "Cosmos gRPC listen address (auth, bank, tx Service); empty = off");
  std::string validator_seed;
  config.AddString(
      "validator-seed", &validator_seed, "",
      "validator Ed25519 seed, 64 hex digits; empty = SHA-256(devchain-validator-key)");
  std::string genesis_path;
  config.AddString("genesis", &genesis_path, "",
                   "genesis JSON (accounts, balances, min gas price); empty = no accounts");
  if (std::optional<int> exit = daemon.Init(argc, argv)) return *exit;
  if (absl::Status s = gonka::crypto::HexDecode(validator_seed, "--validator-seed",
                                                &chain_options.validator_seed);
      !s.ok()) {
    std::fprintf(stderr, "devchain: config: %s\n", std::string(s.message()).c_str());
    return gonka::Daemon::kExitConfig;
  }
  gonka::devchain::AppOptions app_options;
  if (!genesis_path.empty()) {
    std::ifstream in(genesis_path);
    std::stringstream text;
    text << in.rdbuf();
    if (!in) {
      std::fprintf(stderr, "devchain: config: --genesis: cannot read \"%s\"\n",
                   genesis_path.c_str());
      return gonka::Daemon::kExitConfig;
    }
    absl::StatusOr<gonka::devchain::AppOptions> parsed = gonka::devchain::ParseGenesis(text.str());
    if (!parsed.ok()) {
      std::fprintf(stderr, "devchain: config: --genesis %s: %s\n", genesis_path.c_str(),
                   std::string(parsed.status().message()).c_str());
      return gonka::Daemon::kExitConfig;
    }
    app_options = std::move(*parsed);
    if (app_options.chain_id) chain_options.chain_id = *app_options.chain_id;
    if (app_options.block_interval) chain_options.block_interval = *app_options.block_interval;
    if (app_options.epochs) chain_options.epochs = *app_options.epochs;
    if (absl::Status s = gonka::devchain::Chain::Validate(chain_options); !s.ok()) {
      std::fprintf(stderr, "devchain: config: --genesis %s: %s\n", genesis_path.c_str(),
                   std::string(s.message()).c_str());
      return gonka::Daemon::kExitConfig;
    }
  }
  app_options.inference_schedule = chain_options.epochs;
  absl::StatusOr<std::unique_ptr<gonka::devchain::CosmosApp>> app =
      gonka::devchain::CosmosApp::Create(app_options);
  if (!app.ok()) {
    std::fprintf(stderr, "devchain: config: --genesis %s: %s\n", genesis_path.c_str(),
                 std::string(app.status().message()).c_str());
    return gonka::Daemon::kExitConfig;
  }
  if (absl::Status s = gonka::devchain::Chain::Validate(chain_options); !s.ok()) {
    std::fprintf(stderr, "devchain: config: %s\n", std::string(s.message()).c_str());
    return gonka::Daemon::kExitConfig;
  }

  gonka::devchain::Chain chain(chain_options, app->get());
  if (absl::Status s = chain.Open(); !s.ok()) return daemon.Fail(s);
  gonka::devchain::RpcService rpc(&chain, &daemon.server(), {});
  // The exactly-once oracle: how many times did MsgRecord key K land on chain.
  gonka::devchain::CosmosApp* cosmos = app->get();
  daemon.server().Handle("GET", "/devchain/records", [cosmos](const gonka::net::HttpRequest& r) {
    std::string key = r.QueryParam("key").value_or("");
    if (key.empty()) {
      return gonka::net::HttpResponse::Json(400, "{\"error\":\"key: required\"}");
    }
    return gonka::net::HttpResponse::Json(
        200, absl::StrCat("{\"count\":\"", cosmos->RecordCount(key), "\"}"));
  });
  gonka::devchain::AddPartialUpgradeRoute(&daemon.server(), cosmos);  // for tests
  gonka::devchain::AddUpgradePlanRoute(&daemon.server(), cosmos);     // for tests
  daemon.drain().AddShutdownHook("block production", [&chain] { chain.Stop(); });
  gonka::devchain::CosmosGrpcServer grpc(&chain);
  if (!grpc_address.empty()) {
    if (absl::Status s = grpc.Start(grpc_address); !s.ok()) return daemon.Fail(s);
    GONKA_LOG_INFO("devchain gRPC listening", {"port", grpc.port()});
    daemon.drain().AddShutdownHook("grpc", [&grpc] { grpc.Stop(absl::Now() + absl::Seconds(1)); });
  }
  if (absl::Status s = daemon.Start(); !s.ok()) return daemon.Fail(s);
  chain.Start();
  return daemon.Run();
}
