// bench/nodemanager: node-manager's peak memory with 100 ML nodes configured (the limit:
// 48 MB). devchain with 8 s epochs, nats-server, an edge-api hub and 4 development ML nodes; the
// node-manager is given 100 ML node entries (25 ids on each devmlnode) and runs through
// `--epochs` PoC stages, reconciling all 100 at every stage. Prints VmHWM and the ratio to the
// limit; exit 1 above it.
//
//   bazel run -c opt //bench/nodemanager -- [--epochs=2] [--nodes=100]
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gonka/base/config.h"
#include "gonka/testing/dev_ml_node.h"
#include "gonka/testing/node_env.h"
#include "gonka/testing/proc_stats.h"
#include "gonka/testing/process.h"
#include "gonka/testing/servers.h"

int main(int argc, char** argv) {
  gonka::Config config("bench_nodemanager");
  int64_t epochs = 2, nodes = 100;
  config.AddInt("epochs", &epochs, 2, "PoC stages to run through").Range(1, 1000);
  config.AddInt("nodes", &nodes, 100, "ML node entries configured").Range(1, 10000);
  if (absl::Status s = config.Parse(argc, argv); !s.ok() || config.help_requested()) {
    std::fprintf(stderr, "%s\n%s\n", std::string(s.message()).c_str(), config.Usage().c_str());
    return s.ok() ? 0 : 2;
  }
  auto fail = [](const absl::Status& s) {
    std::fprintf(stderr, "bench setup failed: %s\n", s.ToString().c_str());
    return 2;
  };
  gonka::testing::TempDir dir;
  gonka::testing::ChainHub hub(
      {.devchain_args = {"--block-interval=200ms", "--epoch-length=40", "--poc-stage-duration=20",
                         "--poc-validation-duration=6", "--set-new-validators-delay=3"}});
  if (absl::Status s = hub.Start(); !s.ok()) return fail(s);
  std::vector<std::unique_ptr<gonka::testing::DevMlNode>> ml;
  std::vector<gonka::testing::DevMlNode*> ml_ptrs;
  for (int i = 0; i < 4; ++i) {
    ml.push_back(std::make_unique<gonka::testing::DevMlNode>(
        gonka::testing::DevMlNode::Options{.nonces_per_stage = 0}));
    if (absl::Status s = ml.back()->Start(); !s.ok()) return fail(s);
    ml_ptrs.push_back(ml.back().get());
  }
  const std::string nodes_file = gonka::testing::WriteMlNodesFile(
      dir.Join("ml-nodes.json"), ml_ptrs, static_cast<int>((nodes + 3) / 4));
  gonka::testing::DaemonProcess::Options m =
      gonka::testing::NodeManagerOptions(hub, "nm-0", nodes_file);
  m.args.push_back("--coordination=nats");
  gonka::testing::DaemonProcess manager(m);
  if (absl::Status s = manager.Start(); !s.ok()) return fail(s);
  // Run until the chain has passed `epochs` PoC stages after the start.
  const int64_t until = (1 + epochs) * 40 + 30;
  absl::Status ran = gonka::testing::WaitFor(
      [&] { return gonka::testing::ReadNodeManagerStatus(manager).height >= until; },
      absl::Seconds(120), absl::Milliseconds(500));
  if (!ran.ok()) return fail(ran);
  const int64_t peak_kb = gonka::testing::ProcStatusKb(manager.pid(), "VmHWM");
  const double limit_mb = 48.0;
  const double peak_mb = static_cast<double>(peak_kb) / 1024.0;
  std::printf(
      "bench_nodemanager: %lld ML nodes, %lld PoC stages: peak RSS (VmHWM) %.1f MB = %.2fx the "
      "limit %.0f MB\n",
      static_cast<long long>(nodes), static_cast<long long>(epochs), peak_mb, peak_mb / limit_mb,
      limit_mb);
  std::printf("bench_nodemanager: %s\n", peak_mb <= limit_mb ? "PASS" : "FAIL");
  return peak_mb <= limit_mb ? 0 : 1;
}
