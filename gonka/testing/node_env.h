// Node-level test environments shared by node-manager's tests, its chaos experiment and its
// benchmarks: a chain with its event hub (devchain + nats-server + one edge-api emitting the block
// stream), the ML-node file node-manager reads, the flags every node-manager replica takes, and
// its status read back. Test-only.
//
//   testing::ChainHub hub({.devchain_args = {"--block-interval=100ms", "--epoch-length=30"}});
//   ASSERT_TRUE(hub.Start().ok()) << hub.Logs();
//   std::string nodes = testing::WriteMlNodesFile(dir.Join("ml-nodes.json"), {ml0.get()});
//   DaemonProcess::Options m = testing::NodeManagerOptions(hub, "nm-0", nodes);
//   m.args.push_back("--coordination=nats");
//   testing::NodeManagerStatus s = testing::ReadNodeManagerStatus(replica);   // s.leader, s.height
//
//   testing::ChainHub routes({.edge_api_args = {"--start-height=1"}, .genesis_json = g, .grpc =
//   true});
//
// Thread-safety: as ServerFixture (drive from one thread).
#ifndef GONKA_TESTING_NODE_ENV_H_
#define GONKA_TESTING_NODE_ENV_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gonka/testing/dev_ml_node.h"
#include "gonka/testing/servers.h"

namespace gonka {
namespace testing {

struct ChainHubOptions {
  // Flags added to devchain's (bind, port, no drain announce are set): epochs, block interval,
  // genesis, gRPC address...
  std::vector<std::string> devchain_args;
  // Flags added to edge-api's (chain id, RPC URL, NATS URL, --coordination=nats are set).
  std::vector<std::string> edge_api_args;
  std::string chain_id = "gonka-devnet";
  // When set, written to a file in the hub's temporary directory and passed as --genesis.
  std::string genesis_json;
  // Serve devchain's gRPC on a free loopback port and point edge-api's --chain-grpc-address at
  // it (the cache's routes read gRPC first).
  bool grpc = false;
};

class ChainHub {
 public:
  explicit ChainHub(ChainHubOptions options = {});
  // Starts devchain, nats-server and the edge-api hub; errors name the process, with its log.
  absl::Status Start();

  DaemonProcess& devchain() { return *devchain_; }
  NatsServer& nats() { return nats_; }
  DaemonProcess& edge_api() { return *edge_api_; }
  // edge-api's URL + `path`.
  std::string url(const std::string& path) const;
  // The tails of devchain's and edge-api's logs, for failure messages.
  std::string Logs() const;

 private:
  ChainHubOptions options_;
  TempDir dir_;
  std::unique_ptr<DaemonProcess> devchain_;
  NatsServer nats_;
  std::unique_ptr<DaemonProcess> edge_api_;
};

// Writes node-manager's --ml-nodes-file at `path`: `ids_per_node` entries per ML node (ids
// "ml-0", "ml-1", ... in order), all serving `model`. Returns `path`.
std::string WriteMlNodesFile(const std::string& path, const std::vector<DevMlNode*>& nodes,
                             int ids_per_node = 1, const std::string& model = "Qwen/Qwen3-8B");

// A node-manager replica's options for `hub`: bind, port, identity, participant (default a
// fixed test address), --ml-nodes-file (none when `nodes_file` is empty, e.g. for
// --ml-nodes-from-store), chain RPC and NATS URLs, --drain-announce=0s. Add the coordination
// flags and anything else.
DaemonProcess::Options NodeManagerOptions(
    ChainHub& hub, const std::string& identity, const std::string& nodes_file,
    const std::string& participant = "gonka1qyqszqgpqyqszqgpqyqszqgpqyqszqgpjnp7du");

// GET /v1/node-manager/status of one replica; ok = false when it does not answer.
struct NodeManagerStatus {
  struct Node {
    std::string id, intended, actual;
  };
  bool ok = false;
  bool leader = false;
  int64_t token = 0;
  int64_t height = 0;
  std::string phase;
  int64_t rescued_transitions = 0;
  std::vector<Node> nodes;
};
NodeManagerStatus ReadNodeManagerStatus(DaemonProcess& replica);

}  // namespace testing
}  // namespace gonka

#endif  // GONKA_TESTING_NODE_ENV_H_
