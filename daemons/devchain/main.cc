// devchain: a development chain speaking CometBFT 0.38 JSON-RPC and WebSocket on one port, with
// blocks on an interval, Gonka-like epoch/phase events, pruning and fault knobs. The embedded
// chain of tools/demo and of the integration tests. See docs/devchain.md.
//
//   devchain --port=26657 --chain-id=gonka-devnet --block-interval=1s --epoch-length=300
#include <optional>
#include <string>

#include "gonka/devchain/chain.h"
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
  if (std::optional<int> exit = daemon.Init(argc, argv)) return *exit;
  if (absl::Status s = gonka::devchain::Chain::Validate(chain_options); !s.ok()) {
    std::fprintf(stderr, "devchain: config: %s\n", std::string(s.message()).c_str());
    return gonka::Daemon::kExitConfig;
  }

  gonka::devchain::Chain chain(chain_options, /*executor=*/nullptr);
  gonka::devchain::RpcService rpc(&chain, &daemon.server(), {});
  daemon.drain().AddShutdownHook("block production", [&chain] { chain.Stop(); });
  if (absl::Status s = daemon.Start(); !s.ok()) return daemon.Fail(s);
  chain.Start();
  return daemon.Run();
}
